// The pool's hot path: checking out an idle connection and giving it back, with no I/O.
//
//   pool_acquire_benchmark                                # full run
//   pool_acquire_benchmark --benchmark_min_time=0.05      # what CI runs, so it cannot rot
//
// Upstream: our TLS echo server on loopback with a CA made at start. Every pool is warmed up
// before timing, so each benchmark times only bookkeeping: the pool's lock and clock reads, the
// idle stack, the Lease (two shared_ptr copies) and, where asked for, the liveness probe.
// Targets and figures: docs/BENCHMARKS.md.
#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "run_io_until.hpp"
#include "securechannel/securechannel.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The upstream and the io_context every pool runs on. Benchmarks only borrow it, so the CA,
// the server thread and the pools' connections are set up once, not once per repetition.
struct EchoUpstream {
  demo::CertificateAuthority authority = demo::CertificateAuthority::create("securechannel bench CA");
  demo::IssuedCertificate leaf = authority.issue("upstream");
  demo::TlsEchoServer server{{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file}};
  // Run only by the benchmark thread; the hint lets a post from inside a handler skip the
  // scheduler's shared queue. try_acquire and release never touch the io_context.
  asio::io_context io{1};

  // A pool with `idle` verified connections idle in it, ready for try_acquire().
  std::shared_ptr<SecureChannelPool> warm_pool(std::size_t idle, Milliseconds validate_after_inactivity) {
    auto pool = SecureChannelPool::builder(server.endpoint())
                    .with_system_trust_store(false)
                    .with_ca_file(authority.ca_certificate_file().string())
                    .with_max_connections(idle)
                    .with_min_idle(idle)
                    .with_validate_after_inactivity(validate_after_inactivity)
                    .build(io.get_executor());
    pool->warm_up();
    if (!run_io_until(io, [&] { return pool->stats().idle_connections == idle; }, 30s)) {
      throw std::runtime_error("warm-up did not reach " + std::to_string(idle) + " idle connections: " +
                               pool->last_connect_failure().describe());
    }
    return pool;
  }

  void shut_down(const std::shared_ptr<SecureChannelPool>& pool) {
    bool done = false;
    pool->async_shutdown(0ms, [&](boost::system::error_code) { done = true; });
    run_io_until(io, [&] { return done; }, 10s);
  }
};

// Uncontended: one thread, one idle connection, checked out and returned. With the default
// validate_after_inactivity (1 s) a connection released a moment ago is handed out unprobed.
void try_acquire_release(benchmark::State& state, SecureChannelPool& pool) {
  for (auto _ : state) {
    std::optional<Lease> lease = pool.try_acquire();
    if (!lease) {
      state.SkipWithError("try_acquire found no idle connection in an uncontended pool");
      break;
    }
    benchmark::DoNotOptimize(lease);
  }  // ~Lease gives the connection back: release is inside the timed loop.
}

// Two threads share one pool. The time reported is wall time over the iterations of both
// threads, i.e. the pool's inverse throughput; each thread's own round trip takes twice that.
// `empty` counts checkouts that found every connection out (try_acquire never waits).
void contended_try_acquire_release(benchmark::State& state, SecureChannelPool& pool) {
  std::int64_t empty = 0;
  for (auto _ : state) {
    std::optional<Lease> lease = pool.try_acquire();
    if (!lease) ++empty;
    benchmark::DoNotOptimize(lease);
  }
  state.counters["empty"] = benchmark::Counter(static_cast<double>(empty));
  state.counters["empty_ratio"] = benchmark::Counter(static_cast<double>(empty), benchmark::Counter::kAvgIterations);
}

// The completion-token path: async_acquire on an idle connection never completes inline, so
// this adds the type-erased handler, the post and an io_context turn. Each turn also runs Asio's
// reactor task once (one epoll_wait with a zero timeout, seen with strace), so in a VM where a
// syscall costs about a microsecond (baseline/recv_msg_peek_idle_socket) that dominates.
// Initiated from inside a completion handler, as a server's own code does:
void async_acquire_release_inside_io(benchmark::State& state, SecureChannelPool& pool, asio::io_context& io) {
  struct Loop {
    benchmark::State& state;
    SecureChannelPool& pool;
    void next() {
      if (!state.KeepRunning()) return;
      pool.async_acquire([this](boost::system::error_code error, Lease lease) {
        if (error || !lease) return state.SkipWithError("async_acquire failed on a warm pool");
        lease.release();
        next();  // from inside the handler: never recursion, the completion is always posted
      });
    }
  } loop{state, pool};
  io.restart();
  io.poll();  // leftovers of warm-up (cancelled connect timers) are not part of the loop
  io.restart();
  asio::post(io, [&] { loop.next(); });
  io.run_for(120s);  // returns as soon as the loop stops; the bound is for a broken pool only
}

// The same, initiated from outside the io_context, which then runs until the completion came.
void async_acquire_release_outside_io(benchmark::State& state, SecureChannelPool& pool, asio::io_context& io) {
  // Keeps run_one() waiting for the posted completion instead of returning on "no work".
  auto work = asio::make_work_guard(io);
  io.restart();
  io.poll();
  for (auto _ : state) {
    std::optional<Lease> lease;
    boost::system::error_code error;
    bool completed = false;
    pool.async_acquire([&](boost::system::error_code ec, Lease acquired) {
      error = ec;
      lease.emplace(std::move(acquired));
      completed = true;
    });
    while (!completed && io.run_one_for(1s) != 0) {
    }
    if (!completed || error || !lease) {
      state.SkipWithError("async_acquire did not complete with an idle connection");
      break;
    }
  }
  work.reset();
}

// Reference points measured in the same run, to tell the pool's own cost from the platform's:
// the pool reads its clock on checkout and release, and the probe is one recv(MSG_PEEK).
void steady_clock_now(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}

void recv_peek_on_idle_socket(benchmark::State& state, asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket server = acceptor.accept();
  for (auto _ : state) {
    char byte = 0;
    const ssize_t peeked = ::recv(client.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      state.SkipWithError("the idle loopback socket was not empty");
      break;
    }
  }
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  using namespace securechannel::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    EchoUpstream upstream;
    auto unprobed = upstream.warm_pool(1, 1s);
    auto probed = upstream.warm_pool(1, 0ms);
    auto shared_two = upstream.warm_pool(2, 1s);
    auto shared_one = upstream.warm_pool(1, 1s);

    benchmark::RegisterBenchmark("try_acquire_release/uncontended", try_acquire_release, std::ref(*unprobed));
    benchmark::RegisterBenchmark("try_acquire_release/uncontended_probe_every_time", try_acquire_release,
                                 std::ref(*probed));
    benchmark::RegisterBenchmark("try_acquire_release/contended_2_idle", contended_try_acquire_release,
                                 std::ref(*shared_two))
        ->Threads(2)
        ->UseRealTime();
    // Fewer connections than threads: shows what a checkout that finds the pool empty costs and
    // how often it happens when two threads fight over one connection.
    benchmark::RegisterBenchmark("try_acquire_release/contended_1_idle", contended_try_acquire_release,
                                 std::ref(*shared_one))
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("async_acquire_release/initiated_inside_io", async_acquire_release_inside_io,
                                 std::ref(*unprobed), std::ref(upstream.io));
    benchmark::RegisterBenchmark("async_acquire_release/initiated_outside_io", async_acquire_release_outside_io,
                                 std::ref(*unprobed), std::ref(upstream.io));
    benchmark::RegisterBenchmark("baseline/steady_clock_now", steady_clock_now);
    benchmark::RegisterBenchmark("baseline/recv_msg_peek_idle_socket", recv_peek_on_idle_socket,
                                 std::ref(upstream.io));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    for (const auto& pool : {unprobed, probed, shared_two, shared_one}) upstream.shut_down(pool);
  } catch (const std::exception& failure) {
    std::cerr << "pool_acquire_benchmark: " << failure.what() << "\n";
    return 1;
  }
  return 0;
}

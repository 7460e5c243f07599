#include "demo_command.hpp"

#include "securechannel/run_metrics_task.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/certificate_authority.hpp"
#include "testing/tls_echo_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace scpool {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct BatchResult {
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::vector<double> round_trip_us;
  std::string first_error;
};

double percentile(std::vector<double>& values, double quantile) {
  if (values.empty()) return 0;
  const auto rank = static_cast<std::size_t>(quantile * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

// One caller: acquire, write a message, read the echo, release; `count` times.
asio::awaitable<void> caller(std::shared_ptr<securechannel::SecureChannelPool> pool, std::size_t count,
                             std::size_t message_size, BatchResult& result) {
  std::string message(message_size, 'x');
  std::string reply(message_size, '\0');
  for (std::size_t i = 0; i < count; ++i) {
    try {
      securechannel::Lease lease = co_await pool->async_acquire(asio::use_awaitable);
      const auto started = Clock::now();
      co_await securechannel::async_write_all(lease, asio::buffer(message), asio::use_awaitable);
      co_await securechannel::async_read_exact(lease, asio::buffer(reply), asio::use_awaitable);
      result.round_trip_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
      if (reply == message) {
        ++result.succeeded;
      } else {
        ++result.failed;
        lease.mark_broken();
      }
    } catch (const std::exception& failure) {
      ++result.failed;
      if (result.first_error.empty()) result.first_error = failure.what();
    }
  }
}

void print_report(const securechannel::SecureChannelPool& pool, BatchResult& batch, double seconds) {
  const securechannel::PoolStats stats = pool.stats();
  const double reuse_ratio = stats.acquires ? static_cast<double>(stats.reuses) / static_cast<double>(stats.acquires) : 0;
  fmt::print("exchanges: {} ok, {} failed in {:.2f} s ({:.0f}/s)\n", batch.succeeded, batch.failed, seconds,
             static_cast<double>(batch.succeeded) / seconds);
  fmt::print("connections opened: {} (max {}), reuse ratio: {:.4f}\n", stats.connections_created,
             pool.config().max_connections, reuse_ratio);
  fmt::print("round trip: p50 {:.1f} us, p95 {:.1f} us\n", percentile(batch.round_trip_us, 0.50),
             percentile(batch.round_trip_us, 0.95));
  fmt::print("circuit breaker: {}, errors: {}\n", securechannel::to_string(stats.circuit_state), stats.total_errors);
  if (!batch.first_error.empty()) fmt::print("first error: {}\n", batch.first_error);
}

void print_monitoring_urls(const std::string& base, bool authenticated) {
  fmt::print("monitoring endpoints{}:\n", authenticated ? " (X-Auth-Token required except for probes)" : "");
  for (const char* path : {"/metrics", "/healthz", "/readyz", "/status/connections", "/api/v1/secure-channel/status",
                           "/api/v1/secure-channel/stats", "/api/v1/secure-channel/connections"}) {
    fmt::print("  {}{}\n", base, path);
  }
}

}  // namespace

int run_demo(const DemoOptions& options) {
  try {
    auto authority = securechannel::testing::CertificateAuthority::create("scpool demo CA");
    const auto leaf = authority.issue("demo-upstream");
    securechannel::testing::TlsEchoServerOptions upstream_options;
    upstream_options.certificate_file = leaf.certificate_file;
    upstream_options.key_file = leaf.key_file;
    securechannel::testing::TlsEchoServer upstream(upstream_options);
    fmt::print("embedded TLS echo upstream on {} (CA generated at start-up: {})\n", upstream.endpoint(),
               authority.ca_certificate_file().string());

    asio::io_context io;
    auto pool = securechannel::SecureChannelPool::builder(upstream.endpoint())
                    .with_namespace("scpool_demo")
                    .with_max_connections(options.max_connections)
                    .with_system_trust_store(false)
                    .with_ca_file(authority.ca_certificate_file().string())
                    .with_metrics_host(options.metrics_host)
                    .with_metrics_port(options.metrics_port)
                    .with_metrics_auth_token(options.metrics_token)
                    .build(io.get_executor());
    pool->run_cleanup_task();
    boost::system::error_code metrics_error;
    auto monitoring = securechannel::run_metrics_task(pool, metrics_error);
    if (!monitoring) {
      fmt::print(stderr, "scpool demo: cannot serve monitoring endpoints on {}:{}: {}\n", options.metrics_host,
                 options.metrics_port, metrics_error.message());
      return 1;
    }
    print_monitoring_urls(monitoring->base_url(), !options.metrics_token.empty());

    bool stop_requested = false;
    // SIGINT and SIGTERM stop the demo. SIGHUP reloads the pool's TLS material (the CA file), as
    // the daemon will: new connections use it, connections in use keep theirs.
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code error, int number) {
      if (error) return;
      if (number != SIGHUP) {
        stop_requested = true;
        return;
      }
      std::string problem;
      if (pool->reload_tls(problem)) {
        fmt::print("SIGHUP: TLS material reloaded (tls.ca_file {}); new connections use it\n",
                   pool->config().tls.ca_file);
      } else {
        fmt::print("SIGHUP: TLS reload failed, the previous material stays in use: {}\n", problem);
      }
      std::fflush(stdout);  // seen at once when stdout is a file or a pipe
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    std::size_t failures = 0;
    // Outside the loop: callers still running when a signal stops a batch resume during the
    // shutdown below and must find their results alive.
    BatchResult batch;
    do {
      batch = BatchResult{};
      batch.round_trip_us.reserve(options.exchanges);
      const std::size_t clients = std::min(options.clients, options.exchanges);
      const auto started = Clock::now();
      for (std::size_t c = 0; c < clients; ++c) {
        const std::size_t share = options.exchanges / clients + (c < options.exchanges % clients ? 1 : 0);
        asio::co_spawn(io, caller(pool, share, options.message_size, batch), asio::detached);
      }
      // Runs until every caller is done (the signal wait and cleanup timer are not counted).
      while (batch.succeeded + batch.failed < options.exchanges && !stop_requested) io.run_one();
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      print_report(*pool, batch, seconds);
      std::fflush(stdout);  // each batch's report is seen at once, also through a pipe
      failures += batch.failed;
    } while (options.forever && !stop_requested);

    bool closed = false;
    monitoring->stop();
    pool->async_shutdown(std::chrono::seconds(2), [&](boost::system::error_code) { closed = true; });
    signals.cancel();
    while (!closed && io.run_one()) {
    }
    fmt::print("pool shut down: {} connections closed\n", pool->stats().connections_closed);
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& failure) {
    fmt::print(stderr, "scpool demo: {}\n", failure.what());
    return 1;
  }
}

}  // namespace scpool

// The upstream restarts on the same port in the middle of a load (nginx stopped gracefully and
// started again behind the proxy's port, which refuses connections meanwhile; our TLS echo
// server closed and made again on its own port): every request either succeeds once, with its
// own reply, or fails once with a named error, none waits out its timeout, and the pool serves
// again, under the same load, once the upstream is back.
#include "proxied_fault_test.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::TimedOutcome;

constexpr int kThreads = 4;
constexpr int kRequestsPerThread = 50;
constexpr auto kRequestTimeout = 2s;
// Each caller paces itself and backs off after a failure, so that the load spans the restart
// instead of spending itself on refused connects within a few milliseconds.
constexpr auto kPause = 5ms;
constexpr auto kPauseAfterFailure = 50ms;
// Short, so that the breaker lets a probe through while the load goes on.
constexpr auto kBreakerCooldown = 250ms;

struct RequestOutcome {
  boost::system::error_code error;
  bool own_reply = true;  // meaningful without an error
};

// What a load saw, from the threads that ran it.
class LoadReport {
 public:
  void record(const RequestOutcome& outcome, double seconds, bool after_restart) {
    std::lock_guard lock(mutex_);
    ++outcomes_[outcome.error ? std::string(error_kind(outcome.error)) : "ok"];
    if (!outcome.error && !outcome.own_reply) ++foreign_replies_;
    if (!outcome.error && after_restart) ++ok_after_restart_;
    slowest_seconds_ = std::max(slowest_seconds_, seconds);
    completed_.fetch_add(1);
  }

  int completed() const { return completed_.load(); }

  // Checks what every restart test expects of its load.
  void expect_each_request_completed_once_with_a_named_outcome() const {
    std::lock_guard lock(mutex_);
    int total = 0;
    int failures = 0;
    for (const auto& [kind, count] : outcomes_) {
      total += count;
      if (kind != "ok") failures += count;
      EXPECT_NE(kind, "unknown") << describe();
      EXPECT_NE(kind, "request_timeout") << "a request waited out its timeout: " << describe();
    }
    EXPECT_EQ(total, kThreads * kRequestsPerThread) << describe();
    EXPECT_EQ(foreign_replies_, 0) << "a caller got another's reply";
    EXPECT_LT(slowest_seconds_, std::chrono::duration<double>(kRequestTimeout).count() + 0.5) << describe();
    EXPECT_GT(failures, 0) << "the restart did not touch the load: " << describe();
    EXPECT_GT(ok_after_restart_, 0) << "nothing was served after the restart: " << describe();
  }

  int count(const std::string& kind) const {
    std::lock_guard lock(mutex_);
    const auto found = outcomes_.find(kind);
    return found == outcomes_.end() ? 0 : found->second;
  }

  std::string describe() const {  // with mutex_ held or not needed
    std::ostringstream text;
    for (const auto& [kind, count] : outcomes_) text << kind << ": " << count << "; ";
    text << "slowest " << slowest_seconds_ << " s";
    return text.str();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, int> outcomes_;
  int foreign_replies_ = 0;
  int ok_after_restart_ = 0;
  double slowest_seconds_ = 0;
  std::atomic<int> completed_{0};
};

// Runs the load (`one_request(thread, index)` from kThreads threads, kRequestsPerThread each),
// `stop` once a fifth of it has completed, and `start` once the pool's circuit breaker has
// opened (its threshold of refused connects reached): the load then also meets circuit_open, and
// the pool comes back through the breaker's half-open probe. `report` gets what the load saw.
void run_load_across_a_restart(const std::function<RequestOutcome(int, int)>& one_request,
                               const std::function<void()>& stop, const std::function<void()>& start,
                               const SecureChannelPool& pool, LoadReport& report) {
  std::atomic<bool> restarted{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequestsPerThread; ++i) {
        const bool after_restart = restarted.load();
        const auto began = std::chrono::steady_clock::now();
        const RequestOutcome outcome = one_request(t, i);
        report.record(outcome, std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count(),
                      after_restart);
        std::this_thread::sleep_for(outcome.error ? kPauseAfterFailure : kPause);
      }
    });
  }
  const bool under_way = testing::eventually([&] { return report.completed() >= kThreads * kRequestsPerThread / 5; });
  stop();
  const bool noticed = testing::eventually([&] { return pool.stats().circuit_opened >= 1; });
  start();
  restarted = true;
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(under_way) << "the load never got going: " << report.describe();
  ASSERT_TRUE(noticed) << "the breaker never opened while the upstream was down: " << report.describe();
}

class UpstreamRestartTest : public testing::ProxiedFaultTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UpstreamRestartTest, RequestsAcrossANginxRestartCompleteOnceAndTheClientServesAgain) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy(GetParam())
                  .with_max_connections(8)
                  .with_acquire_timeout(kRequestTimeout)
                  .with_connect_timeout(kRequestTimeout)
                  .with_circuit_breaker_cooldown(kBreakerCooldown)
                  .build(io.executor());
  LoadReport report;
  {
    HttpClient client(pool);
    const auto one_request = [&](int thread, int index) -> RequestOutcome {
      const std::size_t first = static_cast<std::size_t>(thread * kRequestsPerThread + index) * 97 % (kBigFileBytes - 64);
      auto sent = testing::timed_request(client, testing::range_request(first, 64), {.timeout = kRequestTimeout});
      if (sent.wait_for(kRequestTimeout + 3s) != std::future_status::ready) {
        ADD_FAILURE() << "a request outlived its timeout by 3 s";
        return {make_error_code(errc::request_timeout)};
      }
      const TimedOutcome outcome = sent.get();
      return {outcome.error, outcome.response.body() == testing::range_body(first, 64)};
    };
    const auto stop = [&] {
      proxy->refuse_connections(true);  // the port is closed while nginx is down
      nginx.reset();                    // a graceful stop: requests in flight finish, idle connections close
    };
    const auto start = [&] {
      nginx = make_nginx();
      proxy->set_upstream_port(nginx->port());
      proxy->refuse_connections(false);
    };
    run_load_across_a_restart(one_request, stop, start, *pool, report);
    report.expect_each_request_completed_once_with_a_named_outcome();
  
    const HttpClientStats stats = client.stats();
    EXPECT_EQ(stats.requests, static_cast<std::uint64_t>(report.count("ok"))) << report.describe();
    EXPECT_EQ(stats.failed_requests, static_cast<std::uint64_t>(kThreads * kRequestsPerThread - report.count("ok")));
    // Every connection the proxy accepted reached nginx and became one of the pool's.
    EXPECT_EQ(pool->stats().connections_created, proxy->accepted_connections() - proxy->upstream_connect_failures());
  }
  close_pool(pool);
  expect_everything_closed();
}

INSTANTIATE_TEST_SUITE_P(Protocols, UpstreamRestartTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

class RawUpstreamRestartTest : public testing::ProxiedFaultTest {};

TEST_F(RawUpstreamRestartTest, EchoesAcrossAServerRestartOnItsPortCompleteOnceAndThePoolServesAgain) {
  const auto make_echo = [&](std::uint16_t port) {
    return std::make_unique<demo::TlsEchoServer>(
        demo::TlsEchoServerOptions{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .port = port});
  };
  echo = make_echo(0);
  record_descriptor_baseline();
  PoolBuilder builder(echo->endpoint());
  builder.with_system_trust_store(false)
      .with_ca_file(authority.ca_certificate_file().string())
      .with_max_connections(8)
      .with_acquire_timeout(kRequestTimeout)
      .with_connect_timeout(kRequestTimeout)
      .with_circuit_breaker_cooldown(kBreakerCooldown);
  auto pool = builder.build(io.executor());
  LoadReport report;
  std::atomic<std::uint64_t> leases{0};
  const auto one_request = [&](int thread, int index) -> RequestOutcome {
    testing::AcquireOutcome acquired = testing::acquire_outcome(*pool);
    if (acquired.error) return {acquired.error};
    leases.fetch_add(1);
    const std::string message = "thread " + std::to_string(thread) + " echo " + std::to_string(index);
    if (auto error = testing::operation_error(
            [&](auto handler) { async_write_all(acquired.lease, boost::asio::buffer(message), handler); })) {
      return {error};
    }
    std::string reply(message.size(), '\0');
    const auto error = testing::operation_error(
        [&](auto handler) { async_read_exact(acquired.lease, boost::asio::buffer(reply), handler); });
    return {error, reply == message};
  };
  std::uint16_t port = 0;
  const auto stop = [&] {
    port = echo->port();
    echo.reset();  // every connection closed abruptly (FIN without close_notify), the port free
  };
  const auto start = [&] { echo = make_echo(port); };
  run_load_across_a_restart(one_request, stop, start, *pool, report);
  report.expect_each_request_completed_once_with_a_named_outcome();
  EXPECT_EQ(pool->stats().acquires, leases.load()) << report.describe();
  close_pool(pool);
  expect_everything_closed();
}

}  // namespace
}  // namespace securechannel

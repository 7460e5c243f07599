// nginx's worker is killed (SIGKILL) in the middle of a load: every request either succeeds once
// or fails once with a named error (none hangs until its own timeout), nothing leaks, and once
// nginx's master has started a new worker the client serves requests again.
#include "fault_test.hpp"
#include "http_client_exchange.hpp"
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <map>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::HttpOutcome;

class UpstreamKillTest : public testing::FaultTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UpstreamKillTest, KilledWorkerMidLoadFailsRequestsOnceEachAndTheClientRecovers) {
  auto nginx = start_nginx();
  PoolBuilder builder = pool_for(*nginx, GetParam());
  builder.with_max_connections(8)
      .with_acquire_timeout(10s)
      .with_circuit_breaker_failure_threshold(1000);  // this test is about requests, not the breaker
  auto pool = builder.build(io.executor());
  const std::size_t descriptors_before = testing::count_open_file_descriptors();
  {
    HttpClient client(pool);
    ASSERT_FALSE(testing::send_request(client, testing::make_request(http::verb::get, "/")).get().error);

    // 400 requests in waves of 40; the worker dies after the fifth wave has been sent.
    std::map<std::string, int> outcomes;
    std::vector<pid_t> killed;
    for (int wave = 0; wave < 10; ++wave) {
      std::vector<std::future<HttpOutcome>> sent;
      for (int i = 0; i < 40; ++i) {
        sent.push_back(testing::send_request(client, testing::make_request(http::verb::post, "/", "wave"),
                                             {.timeout = 15s, .replay_non_idempotent = false}));
      }
      if (wave == 5) {
        killed = testing::child_processes(nginx->pid());
        ASSERT_FALSE(killed.empty()) << "nginx has no worker to kill";
        for (pid_t worker : killed) ASSERT_EQ(::kill(worker, SIGKILL), 0) << std::strerror(errno);
      }
      for (auto& future : sent) {
        ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "a request hung";
        const HttpOutcome outcome = future.get();
        ++outcomes[outcome.error ? std::string(error_kind(outcome.error)) : "ok"];
      }
    }
    int total = 0;
    for (const auto& [kind, count] : outcomes) {
      total += count;
      EXPECT_NE(kind, "request_timeout") << "a request was noticed only by its own timeout";
      EXPECT_NE(kind, "unknown");
    }
    EXPECT_EQ(total, 400) << "each request completes exactly once";
    EXPECT_GT(outcomes["ok"], 0);

    // nginx's master starts a new worker; the client serves again on new connections.
    ASSERT_TRUE(testing::eventually([&] {
      const std::vector<pid_t> workers = testing::child_processes(nginx->pid());
      return !workers.empty() && std::find(workers.begin(), workers.end(), killed.front()) == workers.end();
    })) << "the killed worker was not replaced";
    ASSERT_TRUE(testing::eventually([&] {
      return !testing::send_request(client, testing::make_request(http::verb::get, "/")).get().error;
    }, 20s));
  }
  testing::shutdown(*pool, 1s);
  EXPECT_TRUE(testing::eventually([&] { return testing::count_open_file_descriptors() <= descriptors_before; }))
      << "descriptors leaked: " << testing::count_open_file_descriptors() << " > " << descriptors_before;
}

INSTANTIATE_TEST_SUITE_P(Protocols, UpstreamKillTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel

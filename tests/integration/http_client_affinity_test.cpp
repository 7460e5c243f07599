// HttpClient requests with affinity keys against nginx, over HTTP/1.1 (a key's connection) and
// HTTP/2 (a key's session): a key's requests keep their connection, concurrent ones included;
// when max_requests_per_connection replaces a connection its keys move, and the response says so.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <string>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

class HttpClientAffinityTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {
 protected:
  HttpRequestOptions with_key(const std::string& key) {
    HttpRequestOptions keyed;
    keyed.affinity.key = key;
    return keyed;
  }
};

TEST_P(HttpClientAffinityTest, AKeyKeepsItsConnectionUntilThatConnectionIsReplaced) {
  start();
  // Each connection carries 40 requests, then closes: every key's connection is replaced at
  // least once over the run.
  HttpClient client(builder({GetParam()}).with_max_connections(4).with_max_requests_per_connection(40).build(io.executor()));
  constexpr int keys = 20;
  constexpr int rounds = 10;
  constexpr int concurrent = 4;
  std::map<std::string, std::uint64_t> home;
  int new_keys = 0;
  int moved = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int first = 0; first < keys; first += concurrent) {
      std::vector<std::pair<std::string, std::future<testing::HttpOutcome>>> sent;
      for (int k = first; k < first + concurrent; ++k) {
        const std::string key = "relay-" + std::to_string(k);
        sent.emplace_back(key, send(client, request(http::verb::get, "/"), with_key(key)));
      }
      for (auto& [key, future] : sent) {
        testing::HttpOutcome outcome = future.get();
        ASSERT_FALSE(outcome.error) << key << ": " << outcome.error.message();
        EXPECT_EQ(outcome.response.result_int(), 200u);
        const HttpExchangeInfo& exchange = outcome.response.exchange;
        switch (exchange.affinity) {
          case AffinityOutcome::new_key:
            EXPECT_FALSE(home.contains(key)) << key << " was new twice";
            ++new_keys;
            break;
          case AffinityOutcome::kept:
            EXPECT_EQ(exchange.connection_id, home[key]) << key << " said kept on another connection";
            break;
          case AffinityOutcome::moved:
            EXPECT_NE(exchange.connection_id, home[key]) << key;
            ++moved;
            break;
          case AffinityOutcome::none: ADD_FAILURE() << key << ": no affinity reported"; break;
        }
        home[key] = exchange.connection_id;
      }
    }
  }
  EXPECT_EQ(new_keys, keys);
  const PoolStats stats = client.pool()->stats();
  EXPECT_GE(stats.closed_max_requests, 4u) << "connections were replaced, and counted for that";
  EXPECT_GT(moved, 0) << "keys of replaced connections moved";
  EXPECT_EQ(stats.affinity_moves, static_cast<std::uint64_t>(moved)) << "every move was told to its caller";
}

TEST_P(HttpClientAffinityTest, AKeyTooLongFailsTheRequestByName) {
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  testing::HttpOutcome outcome =
      send(client, request(http::verb::get, "/"), with_key(std::string(max_affinity_key_bytes + 1, 'k'))).get();
  EXPECT_EQ(outcome.error, errc::affinity_key_too_long);
  EXPECT_EQ(client.pool()->stats().acquires, 0u) << "refused before any connection";
}

// HTTP/2: a key's request waiting for a slot on its own full session holds up nobody behind it.
class HttpClientAffinityHttp2Test : public testing::NginxHttpTest {};

TEST_F(HttpClientAffinityHttp2Test, ARequestWaitingForItsKeysFullSessionDoesNotHoldUpOthers) {
  options.http2_max_concurrent_streams = 1;  // one stream fills a session
  options.generated_file_bytes = 4096;       // /slow: about 4 s at 1 KiB/s
  start();
  HttpClient client(builder({"h2"}).with_max_connections(3).build(io.executor()));
  HttpRequestOptions keyed;
  keyed.affinity.key = "relay-1";
  auto first = send(client, request(http::verb::get, "/"), keyed).get();
  ASSERT_FALSE(first.error) << first.error.message();
  const std::uint64_t home = first.response.exchange.connection_id;

  auto slow = send(client, request(http::verb::get, "/slow"), keyed);  // fills the key's session
  ASSERT_TRUE(testing::eventually([&] {
    const auto connections = client.pool()->connection_snapshots();
    return connections.size() == 1 && connections.front().streams_in_flight == 1;
  }, 10s));
  auto waiting = send(client, request(http::verb::get, "/"), keyed);  // waits for that session
  auto other = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(other.error) << other.error.message();
  EXPECT_NE(other.response.exchange.connection_id, home) << "served by another session";
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout) << "without waiting for the key's session to free up";

  auto slow_outcome = slow.get();
  ASSERT_FALSE(slow_outcome.error) << slow_outcome.error.message();
  auto waited = waiting.get();
  ASSERT_FALSE(waited.error) << waited.error.message();
  EXPECT_EQ(waited.response.exchange.connection_id, home);
  EXPECT_EQ(waited.response.exchange.affinity, AffinityOutcome::kept);
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientAffinityTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel

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

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientAffinityTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel

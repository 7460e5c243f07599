// An HTTP/2 server may send its SETTINGS as soon as a connection is up (nginx does over TLS;
// over h2c it waits for ours): the pool's warm idle connections then hold the server's preface.
// The idle probes (the cleanup pass and checkout) leave it for the session instead of taking it
// for a stray reply and discarding the connection.
#include "nginx_http_test.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

class WarmHttp2ConnectionsTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool plain() const { return GetParam(); }
  PoolBuilder http2_builder() {
    if (!plain()) return builder({"h2"});
    PoolBuilder b(nginx->endpoint());
    b.without_tls(/*http2_prior_knowledge=*/true);
    return b;
  }
};

TEST_P(WarmHttp2ConnectionsTest, KeepTheServersPrefaceAndCarryTheFirstRequests) {
  options.http2 = true;
  options.plain = plain();
  start();
  // Every checkout probes (validate_after_inactivity 0), and the cleanup pass, which also keeps
  // min_idle warm, probes every idle connection ten times a second.
  auto pool = http2_builder()
                  .with_min_idle(2)
                  .with_max_connections(2)
                  .with_validate_after_inactivity(0ms)
                  .with_cleanup_interval(100ms)
                  .build(io.executor());
  pool->run_cleanup_task();
  ASSERT_TRUE(testing::eventually([&] { return pool->stats().idle_connections == 2; }));
  std::this_thread::sleep_for(500ms);  // nginx's SETTINGS are in, and several passes have run
  EXPECT_EQ(pool->stats().stale_discarded, 0u) << "a warm connection was taken for a stale one";
  EXPECT_EQ(pool->stats().connections_created, 2u);

  {
    HttpClient client(pool);
    std::vector<std::future<testing::HttpOutcome>> sent;
    for (int i = 0; i < 20; ++i) sent.push_back(send(client, request(http::verb::get, "/")));
    for (auto& future : sent) {
      testing::HttpOutcome outcome = future.get();
      ASSERT_FALSE(outcome.error) << outcome.error.message();
      EXPECT_EQ(outcome.response.body(), "hello\n");
      EXPECT_EQ(outcome.response.exchange.protocol, HttpProtocol::http2);
    }
    EXPECT_EQ(client.stats().retries, 0u);
  }
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.stale_discarded, 0u);
  EXPECT_EQ(stats.connections_created, 2u) << "the requests went over the warm connections";
  testing::shutdown(*pool, 1s);
}

INSTANTIATE_TEST_SUITE_P(Transports, WarmHttp2ConnectionsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& transport) { return transport.param ? "H2c" : "Tls"; });

}  // namespace
}  // namespace securechannel

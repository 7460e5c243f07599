// An HTTP/2 server may send its SETTINGS as soon as a connection is up (nginx does over TLS;
// over h2c it waits for ours): the pool's warm idle connections then hold the server's preface.
// The idle probes (the cleanup pass and checkout) leave it for the session instead of taking it
// for a stray reply and discarding the connection.
#include "nginx_http_test.hpp"

#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <thread>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::string_view client_preface_and_empty_settings{
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", 33};

class WarmHttp2ConnectionsTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool plain() const { return GetParam(); }
  PoolBuilder http2_builder() {
    if (!plain()) return builder({"h2"});
    PoolBuilder b(nginx->endpoint());
    b.without_tls(/*http2_prior_knowledge=*/true);
    return b;
  }

  // Starts nginx and a pool of `count` warm connections that probes at every checkout
  // (validate_after_inactivity 0) and on every cleanup pass; returns once nginx's preface (over
  // TLS) has had time to arrive.
  std::shared_ptr<SecureChannelPool> warm_pool(std::size_t count, Milliseconds cleanup_interval = 60s) {
    options.http2 = true;
    options.plain = plain();
    start();
    auto pool = http2_builder()
                    .with_min_idle(count)
                    .with_max_connections(count)
                    .with_validate_after_inactivity(0ms)
                    .with_cleanup_interval(cleanup_interval)
                    .build(io.executor());
    pool->run_cleanup_task();  // warms up now, then every cleanup_interval
    EXPECT_TRUE(testing::eventually([&] { return pool->stats().idle_connections == count; }));
    std::this_thread::sleep_for(200ms);
    return pool;
  }
};

TEST_P(WarmHttp2ConnectionsTest, KeepTheServersPrefaceAndCarryTheFirstRequests) {
  auto pool = warm_pool(2, /*cleanup_interval=*/100ms);
  std::this_thread::sleep_for(300ms);  // several cleanup passes have probed both
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
    // While the client lives: once it goes, its session's connection closes (a session's
    // connection is never reused) and the cleanup pass opens another to keep min_idle warm.
    const PoolStats stats = pool->stats();
    EXPECT_EQ(stats.stale_discarded, 0u);
    EXPECT_EQ(stats.connections_created, 2u) << "the requests went over the warm connections";
  }
  testing::shutdown(*pool, 1s);
}

// The preface must not hide what comes after it: nginx shutting down gracefully (as for a
// restart) ends its idle HTTP/2 connections with a GOAWAY and a close, and the probe then
// discards them.
TEST_P(WarmHttp2ConnectionsTest, AreDiscardedOnceTheServerClosedThem) {
  auto pool = warm_pool(2);
  pool->run_cleanup_once();
  EXPECT_EQ(pool->stats().stale_discarded, 0u) << "nginx has not closed them yet";
  nginx.reset();  // a graceful stop (SIGQUIT): nginx closes its idle connections and exits
  pool->run_cleanup_once();
  EXPECT_EQ(pool->stats().stale_discarded, 2u) << "both connections nginx closed are discarded";
  EXPECT_FALSE(pool->try_acquire()) << "no connection to a stopped server is handed out";
  testing::shutdown(*pool, 1s);
}

// A lease given back unused keeps its warm connection; one that wrote on it does not get the
// preface's benefit: what the server sends then is an answer nobody will read.
TEST_P(WarmHttp2ConnectionsTest, AnUnusedLeaseKeepsItAndAWrittenOneDoesNot) {
  auto pool = warm_pool(1);
  for (int i = 0; i < 3; ++i) {
    std::optional<Lease> lease = pool->try_acquire();
    ASSERT_TRUE(lease);
  }
  EXPECT_EQ(pool->stats().connections_created, 1u);
  EXPECT_EQ(pool->stats().closed_broken + pool->stats().stale_discarded, 0u);

  std::uint64_t written_on = 0;
  {
    Lease lease = testing::acquire(*pool);
    written_on = lease.connection_id();
    // The client's preface and an empty SETTINGS: nginx answers with its own and an ACK.
    ASSERT_FALSE(testing::operation_error(
        [&](auto handler) { async_write_all(lease, boost::asio::buffer(client_preface_and_empty_settings), handler); }));
    // One byte of the answer read (the exchange is not left pending), the rest left unread.
    char first = 0;
    ASSERT_FALSE(testing::operation_error([&](auto handler) { lease.async_read_some(boost::asio::buffer(&first, 1), handler); }));
    std::this_thread::sleep_for(100ms);
  }
  std::optional<Lease> next = pool->try_acquire();  // a replacement, if the pool made one meanwhile
  if (next) {
    EXPECT_NE(next->connection_id(), written_on) << "the connection with an unread answer was handed out again";
  }
  EXPECT_EQ(pool->stats().closed_broken + pool->stats().stale_discarded, 1u);
  next.reset();
  testing::shutdown(*pool, 1s);
}

INSTANTIATE_TEST_SUITE_P(Transports, WarmHttp2ConnectionsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& transport) { return transport.param ? "H2c" : "Tls"; });

}  // namespace
}  // namespace securechannel

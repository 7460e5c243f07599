// Plain HTTP upstreams (tls = false) against nginx on a plain port: HTTP/1.1 keep-alive and
// HTTP/2 with prior knowledge (h2c) over the same pool machinery as TLS, the scheme in status and
// metrics, h2c's :scheme, and the refusals that keep a plain pool from being mistaken for a
// verified one.
#include "http2_server_frames.hpp"
#include "monitor/status_json.hpp"
#include "nginx_http_test.hpp"
#include "securechannel/pool_metrics.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

// The server side of a plain connection for the HTTP/2 server script of the hostile tests
// (http2_server_frames.hpp), so that a test can read the h2c requests our client sends. Blocking
// system calls on the accepted socket, each bounded by SO_RCVTIMEO / SO_SNDTIMEO.
class PlainScriptConnection final : public testing::HostileConnection {
 public:
  explicit PlainScriptConnection(tcp::socket socket) : socket_(std::move(socket)) {
    const timeval limit{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  }

  std::string read_some() override {
    char buffer[16 * 1024];
    const ssize_t got = ::recv(socket_.native_handle(), buffer, sizeof buffer, 0);
    return got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : std::string();
  }
  bool write(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      written_ += static_cast<std::size_t>(sent);
    }
    return true;
  }
  bool peer_closes_within(std::chrono::milliseconds limit) override {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char discarded[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd readable{socket_.native_handle(), POLLIN, 0};
      if (::poll(&readable, 1, 50) <= 0) continue;
      if (::recv(socket_.native_handle(), discarded, sizeof discarded, 0) <= 0) return true;
    }
    return false;
  }
  bool stopping() const override { return false; }
  std::string alpn() const override { return ""; }
  std::size_t bytes_written() const override { return written_; }

 private:
  tcp::socket socket_;
  std::size_t written_ = 0;
};

class PlainHttpTest : public testing::NginxHttpTest {
 protected:
  void start_plain(bool http2) {
    options.plain = true;
    options.http2 = http2;
    options.generated_file_bytes = 256 * 1024;
    start();
  }
  // A plain pool of at most one connection, opened on demand, to a test's own listener.
  std::shared_ptr<SecureChannelPool> one_plain_connection_to(const tcp::acceptor& acceptor,
                                                             bool http2_prior_knowledge = false) {
    return PoolBuilder("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()))
        .without_tls(http2_prior_knowledge)
        .with_min_idle(0)
        .with_max_connections(1)
        .build(io.executor());
  }
  PoolBuilder plain_builder(bool http2_prior_knowledge = false) {
    PoolBuilder b(nginx->endpoint());
    b.without_tls(http2_prior_knowledge);
    return b;
  }
};

TEST_F(PlainHttpTest, Http11KeepAliveOverAPlainPool) {
  start_plain(false);
  HttpClient client(plain_builder().with_max_connections(2).build(io.executor()));
  for (int i = 0; i < 20; ++i) {
    testing::HttpOutcome outcome = send(client, request(http::verb::get, "/")).get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200u);
    EXPECT_EQ(outcome.response.body(), "hello\n");
    EXPECT_EQ(outcome.response.exchange.protocol, HttpProtocol::http1_1);
    EXPECT_EQ(outcome.response.exchange.reused, i > 0) << "request " << i;
  }
  testing::HttpOutcome big = send(client, request(http::verb::get, "/big")).get();
  ASSERT_FALSE(big.error) << big.error.message();
  ASSERT_EQ(big.response.body().size(), options.generated_file_bytes);
  for (std::size_t i = 0; i < big.response.body().size(); i += 4099) {
    ASSERT_EQ(big.response.body()[i], demo::generated_file_byte(i)) << "byte " << i;
  }
  testing::HttpOutcome upload = send(client, request(http::verb::put, "/upload/plain.txt", std::string(100'000, 'p'))).get();
  ASSERT_FALSE(upload.error) << upload.error.message();
  EXPECT_EQ(upload.response.result_int(), 201u);

  const PoolStats stats = client.pool()->stats();
  EXPECT_EQ(stats.connections_created, 1u) << "one connection carried every request";
  EXPECT_EQ(stats.tls_resumed, 0u);
  const std::vector<ConnectionSnapshot> connections = client.pool()->connection_snapshots();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections.front().alpn, "");
  EXPECT_EQ(connections.front().tls_version, "");
}

TEST_F(PlainHttpTest, Http2WithPriorKnowledgeMultiplexesOnOneConnection) {
  start_plain(true);
  HttpClient client(plain_builder(true).with_max_connections(1).build(io.executor()));
  std::vector<std::future<testing::HttpOutcome>> sent;
  for (int i = 0; i < 50; ++i) sent.push_back(send(client, request(http::verb::get, i % 5 == 0 ? "/big" : "/")));
  for (auto& future : sent) {
    testing::HttpOutcome outcome = future.get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200u);
    EXPECT_EQ(outcome.response.exchange.protocol, HttpProtocol::http2);
  }
  EXPECT_EQ(client.stats().protocol, HttpProtocol::http2);
  EXPECT_EQ(client.pool()->stats().connections_created, 1u) << "every stream on one h2c connection";
  // Nothing was negotiated: the status names the protocol as RFC 9113 does, never as TLS's "h2".
  const std::vector<ConnectionSnapshot> connections = client.pool()->connection_snapshots();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections.front().alpn, "h2c");
  EXPECT_EQ(connections.front().tls_version, "");
}

// A plain read receives straight into the caller's buffer: what a peer sent before resetting is
// read, then the reset fails the next read by name and the pool drops the connection.
TEST_F(PlainHttpTest, AResetAfterSomeBytesFailsTheNextReadByNameAndDropsTheConnection) {
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::promise<void> first_bytes_read;
  std::thread server([&acceptor, &server_io, first_read = first_bytes_read.get_future()] {
    tcp::socket peer(server_io);
    acceptor.accept(peer);
    asio::write(peer, asio::buffer(std::string_view("abc")));
    first_read.wait();
    peer.set_option(asio::socket_base::linger(true, 0));  // close() sends a reset
    peer.close();
  });
  auto pool = one_plain_connection_to(acceptor);
  {
    Lease lease = testing::acquire(*pool);
    std::string reply(16, '\0');
    const auto [first_error, first_bytes] =
        testing::complete([&](auto handler) { lease.async_read_some(asio::buffer(reply), handler); });
    ASSERT_FALSE(first_error) << first_error.message();
    EXPECT_EQ(reply.substr(0, first_bytes), "abc");
    first_bytes_read.set_value();
    server.join();
    const auto [error, bytes] =
        testing::complete([&](auto handler) { lease.async_read_some(asio::buffer(reply), handler); });
    EXPECT_EQ(error, asio::error::connection_reset) << error.message();
    EXPECT_EQ(bytes, 0u);
    const SecureChannel& channel = detail::LeaseInternals::channel(lease);
    EXPECT_FALSE(channel.usable()) << "a reset connection is never lent again";
    EXPECT_NE(channel.tls_failure().reason.find("reset"), std::string::npos) << channel.tls_failure().reason;
  }
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().closed_broken == 1; }))
      << "closed_broken " << pool->stats().closed_broken;
  testing::shutdown(*pool, 1s);
}

// abort() shuts the socket down, which a pending plain read would see as an end of stream: it
// must end with the channel's error instead, so that no body read until close looks complete.
TEST_F(PlainHttpTest, AnAbortWakesAPendingReadWithAnErrorNotAnEndOfStream) {
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::promise<void> test_done;
  std::thread server([&acceptor, &server_io, done = test_done.get_future()] {
    tcp::socket peer(server_io);
    acceptor.accept(peer);
    done.wait();  // says nothing until the test is over
  });
  auto pool = one_plain_connection_to(acceptor);
  {
    Lease lease = testing::acquire(*pool);
    std::string reply(16, '\0');
    std::promise<std::pair<boost::system::error_code, std::size_t>> read;
    auto outcome = read.get_future();
    lease.async_read_some(asio::buffer(reply), [&read](boost::system::error_code error, std::size_t bytes) {
      read.set_value({error, bytes});
    });
    EXPECT_EQ(outcome.wait_for(100ms), std::future_status::timeout) << "nothing was sent: the read waits";
    lease.abort();
    ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
    const auto [error, bytes] = outcome.get();
    EXPECT_EQ(error, asio::error::not_connected) << error.message();
    EXPECT_EQ(bytes, 0u);
  }
  test_done.set_value();
  server.join();
  testing::shutdown(*pool, 1s);
}

// Over h2c a request's :scheme is "http" (RFC 9113 8.3.1: the target URI's scheme), never
// "https": a server or proxy that checks it sees what the connection is. nginx ignores :scheme,
// so an HTTP/2 server script of the tests' own reads it.
TEST_F(PlainHttpTest, H2cRequestsCarryTheHttpScheme) {
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto pool = one_plain_connection_to(acceptor, /*http2_prior_knowledge=*/true);
  std::promise<testing::h2::Request> seen;
  auto seen_request = seen.get_future();
  // Every step of the script is bounded (the accept too), and the thread is joined however the
  // test ends.
  std::jthread server([&acceptor, &server_io, &seen] {
    tcp::socket peer(server_io);
    pollfd pending{acceptor.native_handle(), POLLIN, 0};
    boost::system::error_code error;
    if (::poll(&pending, 1, 10'000) == 1) acceptor.accept(peer, error);
    if (!peer.is_open() || error) {
      seen.set_value({});
      return;
    }
    PlainScriptConnection connection(std::move(peer));
    testing::h2::Http2ServerConnection h2(connection);
    std::optional<testing::h2::Request> request;
    if (h2.start()) request = h2.next_request();
    if (request) h2.respond(request->stream, "ok\n");
    seen.set_value(request.value_or(testing::h2::Request{}));
    connection.peer_closes_within(5s);
  });
  {
    HttpClient client(pool);
    testing::HttpOutcome outcome = send(client, request(http::verb::get, "/scheme")).get();
    EXPECT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.body(), "ok\n");
    EXPECT_EQ(outcome.response.exchange.protocol, HttpProtocol::http2);
  }
  ASSERT_EQ(seen_request.wait_for(20s), std::future_status::ready);
  const testing::h2::Request request = seen_request.get();
  EXPECT_EQ(request.path, "/scheme");
  EXPECT_EQ(request.scheme, "http");
  testing::shutdown(*pool, 1s);
}

TEST_F(PlainHttpTest, StatusAndMetricsShowTheScheme) {
  start_plain(false);
  HttpClient client(plain_builder().with_namespace("plain").build(io.executor()));
  ASSERT_FALSE(send(client, request(http::verb::get, "/")).get().error);
  const nlohmann::json status = monitor::pool_status_json(*client.pool(), std::chrono::system_clock::now());
  EXPECT_EQ(status.at("scheme"), "http");
  EXPECT_EQ(monitor::pool_stats_json(*client.pool(), std::chrono::system_clock::now()).at("scheme"), "http");
  EXPECT_EQ(monitor::pool_health_json(*client.pool(), std::chrono::system_clock::now()).at("scheme"), "http");
  MetricFamilies families;
  collect_pool_metrics(*client.pool(), families);
  const std::string text = families.render();
  EXPECT_NE(text.find("plain_upstream_info{endpoint=\"" + nginx->endpoint() + "\",scheme=\"http\"} 1\n"),
            std::string::npos)
      << text;
}

TEST_F(PlainHttpTest, ATlsPoolAgainstAPlainServerFailsByNameNeverInTheClear) {
  start_plain(false);
  PoolBuilder tls_builder(nginx->endpoint());
  tls_builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
  HttpClient client(tls_builder.with_connect_timeout(5s).build(io.executor()));
  testing::HttpOutcome outcome = send(client, request(http::verb::get, "/")).get();
  EXPECT_EQ(outcome.error, errc::tls_handshake_failed) << outcome.error.message();
}

TEST(PlainHttpConfigTest, APlainPoolRefusesWhatOnlyTlsDoesAndPriorKnowledgeNeedsAPlainPool) {
  const auto problem = [](PoolConfig config) {
    config.endpoint = "127.0.0.1:8080";
    const auto error = validate(config);
    return error ? std::string(error->what()) : std::string();
  };
  PoolConfig pinned;
  pinned.tls.enabled = false;
  pinned.tls.pins = {"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="};
  EXPECT_EQ(problem(pinned), "tls.pins: needs TLS, and this pool has tls = false (plain TCP): remove one of them");
  PoolConfig client_certificate;
  client_certificate.tls.enabled = false;
  client_certificate.tls.client_certificate_file = "client.pem";
  EXPECT_EQ(problem(client_certificate).substr(0, 31), "tls.client_certificate_file: ne");
  PoolConfig prior_knowledge_over_tls;
  prior_knowledge_over_tls.tls.http2_prior_knowledge = true;
  EXPECT_EQ(problem(prior_knowledge_over_tls),
            "http2_prior_knowledge: is for plain connections (tls = false); over TLS, ALPN chooses");
  PoolConfig plain;
  plain.tls.enabled = false;
  plain.tls.http2_prior_knowledge = true;
  EXPECT_EQ(problem(plain), "");
  EXPECT_EQ(scheme_of(plain), "http");
  EXPECT_EQ(scheme_of(PoolConfig{}), "https");
}

std::vector<PoolConfig> parse(std::string_view text) { return parse_pool_config(text, "pools.toml", "/tmp"); }

TEST(PlainHttpConfigTest, APoolFileSaysTlsFalseInSoManyWords) {
  std::vector<PoolConfig> pools = parse(
      "[[pool]]\nendpoint = \"127.0.0.1:8080\"\ntls = false\nhttp2_prior_knowledge = true\n");
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_FALSE(pools[0].tls.enabled);
  EXPECT_TRUE(pools[0].tls.http2_prior_knowledge);
  EXPECT_TRUE(parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\n")[0].tls.enabled)
      << "TLS unless said otherwise";
  try {
    parse("[[pool]]\nendpoint = \"127.0.0.1:8080\"\ntls = \"off\"\n");
    ADD_FAILURE() << "tls = \"off\" accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("pool[0].tls: must be false (plain TCP) or a table of TLS settings, not a string"), std::string::npos) << error.what();
  }
  try {
    parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\nhttp2_prior_knowledge = true\n");
    ADD_FAILURE() << "prior knowledge over TLS accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("pool[0].http2_prior_knowledge: is for plain connections"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace securechannel

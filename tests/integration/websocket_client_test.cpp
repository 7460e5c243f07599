// WebSocketClient against a real WebSocket echo server over TLS (Beast's server on asio::ssl,
// src/testing/websocket_echo_server.hpp), through a pool that trusts only the test's CA.
#include "securechannel/pool_builder.hpp"
#include "securechannel/websocket_client.hpp"

#include "demo/certificate_authority.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "testing/websocket_echo_server.hpp"

#include <boost/beast/websocket/error.hpp>
#include <gtest/gtest.h>

#include <thread>

#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace securechannel::testing {
namespace {

using boost::system::error_code;
using namespace std::chrono_literals;

struct WebSocketUpstream {
  explicit WebSocketUpstream(std::chrono::milliseconds server_idle_timeout = 0ms)
      : server({.certificate_file = leaf.certificate_file,
                .key_file = leaf.key_file,
                .idle_timeout = server_idle_timeout}) {}

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  WebSocketEchoServer server;
};

class WebSocketClientTest : public ::testing::Test {
 protected:
  void start(std::chrono::milliseconds server_idle_timeout = 0ms) {
    upstream = std::make_unique<WebSocketUpstream>(server_idle_timeout);
    pool = PoolBuilder(upstream->server.endpoint())
               .with_system_trust_store(false)
               .with_ca_file(upstream->authority.ca_certificate_file().string())
               .build(io.executor());
  }

  // Deterministic reconnects: every backoff delay is `fraction` of its ceiling.
  WebSocketClientOptions options(double fraction = 0.0) {
    WebSocketClientOptions result;
    result.reconnect_backoff_base = 40ms;
    result.reconnect_backoff_max = 1s;
    result.random = std::make_shared<SequenceRandomSource>(std::initializer_list<double>{fraction});
    return result;
  }

  void TearDown() override {
    if (pool) shutdown(*pool, 1s);  // every connection closed before the io thread stops
  }

  IoThread io;
  std::unique_ptr<WebSocketUpstream> upstream;
  std::shared_ptr<SecureChannelPool> pool;
};

// Each helper waits through a plain callback and a promise (see pool_exchange.hpp for why not
// use_future).
error_code connect(WebSocketClient& client, std::string target) {
  auto done = std::make_shared<std::promise<error_code>>();
  auto result = done->get_future();
  client.async_connect(std::move(target), [done](error_code error) { done->set_value(error); });
  return result.get();
}

std::future<std::pair<error_code, std::size_t>> start_send(WebSocketClient& client, const std::string& payload,
                                                           WebSocketMessageType type) {
  auto done = std::make_shared<std::promise<std::pair<error_code, std::size_t>>>();
  auto result = done->get_future();
  client.async_send(payload, type, [done](error_code error, std::size_t bytes) { done->set_value({error, bytes}); });
  return result;
}

error_code send(WebSocketClient& client, const std::string& payload, WebSocketMessageType type) {
  return start_send(client, payload, type).get().first;
}

std::future<std::pair<error_code, WebSocketMessage>> start_receive(WebSocketClient& client) {
  auto done = std::make_shared<std::promise<std::pair<error_code, WebSocketMessage>>>();
  auto result = done->get_future();
  client.async_receive([done](error_code error, WebSocketMessage message) {
    done->set_value({error, std::move(message)});
  });
  return result;
}

std::pair<error_code, WebSocketMessage> receive(WebSocketClient& client) { return start_receive(client).get(); }

error_code close(WebSocketClient& client) {
  auto done = std::make_shared<std::promise<error_code>>();
  auto result = done->get_future();
  client.async_close([done](error_code error) { done->set_value(error); });
  return result.get();
}

std::string echo(WebSocketClient& client, const std::string& payload) {
  throw_if(send(client, payload, WebSocketMessageType::text), "send");
  auto [error, reply] = receive(client);
  throw_if(error, "receive");
  return reply.payload;
}

TEST_F(WebSocketClientTest, ThousandTextAndBinaryMessagesRoundTripInOrder) {
  start();
  WebSocketClient client(pool, options());
  ASSERT_FALSE(connect(client, "/echo"));

  constexpr int kMessages = 1000;
  std::vector<std::string> payloads;
  std::size_t total_bytes = 0;
  for (int i = 0; i < kMessages; ++i) {
    std::string payload = i % 2 == 0 ? "text message " + std::to_string(i)
                                     : std::string("\x00\xff\x01binary ", 10) + std::to_string(i);
    payload.append(static_cast<std::size_t>(i % 7) * 100, 'x');  // some span several TLS records
    total_bytes += payload.size();
    payloads.push_back(std::move(payload));
  }
  // All sends are started at once: they must go out one at a time, in call order.
  std::vector<std::future<std::pair<error_code, std::size_t>>> sends;
  for (int i = 0; i < kMessages; ++i) {
    sends.push_back(start_send(client, payloads[i], i % 2 == 0 ? WebSocketMessageType::text : WebSocketMessageType::binary));
  }
  for (int i = 0; i < kMessages; ++i) {
    auto [error, reply] = receive(client);
    ASSERT_FALSE(error) << "message " << i << ": " << error.message();
    EXPECT_EQ(reply.type, i % 2 == 0 ? WebSocketMessageType::text : WebSocketMessageType::binary) << i;
    ASSERT_EQ(reply.payload, payloads[i]) << i;
  }
  for (int i = 0; i < kMessages; ++i) {
    auto [error, bytes] = sends[i].get();
    EXPECT_FALSE(error) << i;
    EXPECT_EQ(bytes, payloads[i].size()) << i;
  }

  const WebSocketStats stats = client.stats();
  EXPECT_EQ(stats.messages_sent, static_cast<std::uint64_t>(kMessages));
  EXPECT_EQ(stats.messages_received, static_cast<std::uint64_t>(kMessages));
  EXPECT_EQ(stats.bytes_sent, total_bytes);
  EXPECT_EQ(stats.bytes_received, total_bytes);
  EXPECT_EQ(stats.reconnects, 0u);
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(upstream->server.messages_echoed(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(upstream->server.bytes_echoed(), total_bytes);
  EXPECT_EQ(upstream->server.upgrades(), 1u);
  EXPECT_FALSE(close(client));
}

TEST_F(WebSocketClientTest, AFullInboxStopsReadingByBytesUntilTheApplicationReceives) {
  start();
  WebSocketClientOptions bounded = options();
  bounded.max_queued_bytes = 1024 * 1024;  // two of the 512 KiB echoes below
  WebSocketClient client(pool, bounded);
  ASSERT_FALSE(connect(client, "/echo"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_FALSE(send(client, std::string(512 * 1024, static_cast<char>('a' + i)), WebSocketMessageType::binary));
  }
  // The reader holds two echoes (1 MiB) and stops: the other four wait in TCP, not in our memory.
  ASSERT_TRUE(eventually([&] { return client.stats().messages_received == 2; }));
  std::this_thread::sleep_for(200ms);  // a window in which an unbounded reader would read on
  EXPECT_EQ(client.stats().messages_received, 2u);
  for (int i = 0; i < 6; ++i) {
    auto [error, message] = receive(client);
    ASSERT_FALSE(error) << error.message();
    ASSERT_EQ(message.payload.size(), 512u * 1024u);
    EXPECT_EQ(message.payload.front(), static_cast<char>('a' + i)) << "in order";
  }
  EXPECT_FALSE(close(client));
}

TEST_F(WebSocketClientTest, KeepAlivePingsOutliveTheServersIdleTimeout) {
  start(300ms);  // the server drops a WebSocket that is silent for 300 ms
  auto client_options = options();
  client_options.idle_timeout = 200ms;  // a ping after 100 ms of silence
  WebSocketClient client(pool, client_options);
  ASSERT_FALSE(connect(client, "/echo"));

  // Eight answered pings span at least 800 ms of silence from the application: well past the
  // server's idle timeout, which only the pings keep resetting.
  ASSERT_TRUE(eventually([&] { return client.stats().pongs_received >= 8; }));
  EXPECT_GE(upstream->server.pings_received(), 8u);
  EXPECT_EQ(upstream->server.idle_timeouts(), 0u);
  EXPECT_EQ(upstream->server.accepted_connections(), 1u);
  EXPECT_EQ(client.stats().connections_lost, 0u);
  EXPECT_EQ(echo(client, "still here"), "still here");
  EXPECT_FALSE(close(client));
}

TEST_F(WebSocketClientTest, WithoutKeepAliveTheServersIdleTimeoutDropsTheConnection) {
  // The control for the test above: the server's idle timeout is real.
  start(300ms);
  auto client_options = options();
  client_options.idle_timeout = 0ms;
  WebSocketClient client(pool, client_options);
  ASSERT_FALSE(connect(client, "/echo"));
  ASSERT_TRUE(eventually([&] { return upstream->server.idle_timeouts() >= 1 && client.stats().reconnects >= 1; }));
  EXPECT_EQ(client.stats().pongs_received, 0u);
  EXPECT_FALSE(close(client));
}

TEST_F(WebSocketClientTest, ServerDropFailsThePendingReceiveThenTheClientReconnects) {
  start();
  WebSocketClient client(pool, options(0.5));
  ASSERT_FALSE(connect(client, "/echo"));
  ASSERT_EQ(echo(client, "before"), "before");

  auto pending = start_receive(client);
  // The client's operations run in call order on its strand, so once this (rejected) connect
  // has completed the receive above is registered: the drop below cannot overtake it.
  ASSERT_EQ(connect(client, "/echo"), error_code(boost::asio::error::already_connected));
  upstream->server.close_all_connections();

  auto [receive_error, nothing] = pending.get();
  EXPECT_TRUE(receive_error);
  EXPECT_NE(receive_error, error_code(boost::asio::error::operation_aborted));
  EXPECT_TRUE(nothing.payload.empty());

  // Sent while the client is still backing off: it waits for the new connection.
  EXPECT_EQ(echo(client, "after"), "after");
  const WebSocketStats stats = client.stats();
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(stats.connections_lost, 1u);
  EXPECT_EQ(stats.reconnect_failures, 0u);
  // Full jitter with the injected randomness: half of the first ceiling (40 ms).
  EXPECT_EQ(stats.last_reconnect_delay, 20ms);
  EXPECT_EQ(upstream->server.upgrades(), 2u);
  EXPECT_FALSE(close(client));
}

TEST_F(WebSocketClientTest, CloseHandshakeCompletesAndTheConnectionIsNotPooled) {
  start();
  WebSocketClient client(pool, options());
  ASSERT_FALSE(connect(client, "/echo"));
  ASSERT_EQ(echo(client, "hello"), "hello");

  EXPECT_FALSE(close(client));
  EXPECT_TRUE(eventually([&] { return upstream->server.clean_closes() == 1; }));
  EXPECT_FALSE(client.stats().connected);

  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.idle_connections, 0u);
  EXPECT_EQ(stats.leased_connections, 0u);
  EXPECT_TRUE(eventually([&] { return pool->stats().total_connections == 0; }));
  EXPECT_EQ(pool->stats().closed_broken, 1u);

  EXPECT_EQ(send(client, "late", WebSocketMessageType::text), error_code(boost::asio::error::not_connected));
  EXPECT_FALSE(close(client));  // closing a closed client succeeds
}

TEST_F(WebSocketClientTest, UpgradeRejectedWithAnErrorNamingTheHttpStatus) {
  start();
  WebSocketClient client(pool, options());
  const error_code error = connect(client, "/not-a-websocket");

  ASSERT_TRUE(error);
  EXPECT_EQ(&error.category(), &websocket_upgrade_category());
  EXPECT_EQ(error.value(), 404);
  EXPECT_EQ(error.message(), "WebSocket upgrade rejected: HTTP 404 Not Found");
  EXPECT_EQ(error, boost::beast::websocket::condition::handshake_failed);
  EXPECT_EQ(upstream->server.rejected_upgrades(), 1u);
  EXPECT_FALSE(client.stats().connected);
  EXPECT_EQ(pool->stats().idle_connections, 0u);
  // A failed first connect is not retried in the background.
  EXPECT_EQ(client.stats().reconnects + client.stats().reconnect_failures, 0u);
  EXPECT_EQ(upstream->server.accepted_connections(), 1u);
}

TEST_F(WebSocketClientTest, OperationsBeforeConnectFailAndDestructionAbortsPendingOnes) {
  start();
  std::future<std::pair<error_code, WebSocketMessage>> pending;
  {
    WebSocketClient client(pool, options());
    EXPECT_EQ(send(client, "x", WebSocketMessageType::text), error_code(boost::asio::error::not_connected));
    EXPECT_EQ(receive(client).first, error_code(boost::asio::error::not_connected));
    ASSERT_FALSE(connect(client, "/echo"));
    pending = start_receive(client);
  }
  EXPECT_EQ(pending.get().first, error_code(boost::asio::error::operation_aborted));
  EXPECT_TRUE(eventually([&] { return pool->stats().total_connections == 0; }));
}

}  // namespace
}  // namespace securechannel::testing

// WebSocket servers that attack the client after a proper upgrade: a frame claiming 2^62
// bytes, a message fragmented without end, text that is not UTF-8, a frame masked as only a
// client may. The pending receive fails with Beast's error naming the violation, the inbox never
// holds more than max_message_size of it, and the client reconnects and receives from the next
// connection.
#include "hostile_server_test.hpp"
#include "securechannel/websocket_client.hpp"

#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <boost/beast/websocket/error.hpp>

#include <functional>
#include <future>
#include <string>
#include <utility>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;
using testing::HostileConnection;
namespace websocket = boost::beast::websocket;

// RFC 6455 4.2.2: base64(SHA-1(key + GUID)).
std::string accept_key(const std::string& key) {
  const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  unsigned char encoded[64];
  const int encoded_length = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(encoded_length));
}

// Reads the upgrade request and accepts it. False when the client left first.
bool accept_upgrade(HostileConnection& connection) {
  const std::string head = connection.read_until("\r\n\r\n");
  const std::string name = "Sec-WebSocket-Key: ";
  const std::size_t at = head.find(name);
  if (at == std::string::npos) return false;
  const std::size_t start = at + name.size();
  const std::string key = head.substr(start, head.find("\r\n", start) - start);
  return connection.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n\r\n");
}

// An unmasked server frame: FIN/opcode byte, then the length in its shortest form.
std::string server_frame(unsigned char first_byte, std::string_view payload) {
  std::string frame(1, static_cast<char>(first_byte));
  if (payload.size() < 126) {
    frame += static_cast<char>(payload.size());
  } else if (payload.size() <= 0xffff) {
    frame += static_cast<char>(126);
    frame += static_cast<char>(payload.size() >> 8);
    frame += static_cast<char>(payload.size() & 0xff);
  } else {
    frame += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((payload.size() >> shift) & 0xff);
  }
  return frame + std::string(payload);
}

constexpr unsigned char fin_text = 0x81;
constexpr unsigned char fin_binary = 0x82;

class HostileWebSocketServerTest : public testing::HostileServerTest {
 protected:
  // The first connection waits for the client's first message, then attacks; later ones send
  // "hello" and hold the connection open.
  void serve_attack(std::function<void(HostileConnection&)> attack) {
    serve({}, [this, attack = std::move(attack)](HostileConnection& connection) {
      if (!accept_upgrade(connection)) return;
      if (connections++ == 0) {
        if (connection.read_some().empty()) return;  // the client's "go"
        attack(connection);
        written_by_attack = connection.bytes_written();
      } else {
        connection.write(server_frame(fin_text, "hello"));
      }
      connection.peer_closes_within(10s);
    });
  }

  // Connects, arms a receive, says "go": the receive's outcome is the attack's. Then the client
  // must be back, on a new connection, receiving "hello".
  void expect_attack_fails_with(error_code expected) {
    WebSocketClientOptions options;
    options.max_message_size = 1 << 20;
    options.reconnect_backoff_base = 10ms;
    options.reconnect_backoff_max = 50ms;
    WebSocketClient client(builder({}).build(io.executor()), options);
    std::promise<error_code> connected;
    client.async_connect("/stream", [&](error_code error) { connected.set_value(error); });
    ASSERT_FALSE(connected.get_future().get());

    const auto attacked = receive(client);
    client.async_send(boost::asio::buffer(std::string_view("go")), WebSocketMessageType::text, [](error_code, std::size_t) {});
    ASSERT_EQ(attacked.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(attacked.get().first, expected) << attacked.get().first.message();

    auto next = receive(client);
    ASSERT_EQ(next.wait_for(20s), std::future_status::ready) << "the client did not come back";
    const auto [error, message] = next.get();
    ASSERT_FALSE(error) << error.message();
    EXPECT_EQ(message.payload, "hello");
    EXPECT_EQ(client.stats().reconnects, 1u);
  }

  static std::shared_future<std::pair<error_code, WebSocketMessage>> receive(WebSocketClient& client) {
    auto done = std::make_shared<std::promise<std::pair<error_code, WebSocketMessage>>>();
    std::shared_future<std::pair<error_code, WebSocketMessage>> result = done->get_future().share();
    client.async_receive([done](error_code error, WebSocketMessage message) { done->set_value({error, std::move(message)}); });
    return result;
  }

  std::atomic<int> connections{0};
  std::atomic<std::size_t> written_by_attack{0};
};

TEST_F(HostileWebSocketServerTest, FrameClaimingExabytesFailsAtOnce) {
  serve_attack([](HostileConnection& connection) {
    std::string header = {static_cast<char>(fin_binary), static_cast<char>(127)};
    for (int shift = 56; shift >= 0; shift -= 8) header += static_cast<char>((std::uint64_t{1} << 62 >> shift) & 0xff);
    connection.write(header);
    while (!connection.stopping() && connection.write(std::string(64 * 1024, 'x'))) {
    }
  });
  expect_attack_fails_with(websocket::error::message_too_big);
  EXPECT_LT(written_by_attack.load(), 32u << 20);
}

TEST_F(HostileWebSocketServerTest, EndlessFragmentsFailAtTheMessageLimit) {
  serve_attack([](HostileConnection& connection) {
    const std::string piece(1000, 'f');
    connection.write(server_frame(0x02, piece));  // binary, not final
    while (!connection.stopping() && connection.write(server_frame(0x00, piece))) {
    }
  });
  expect_attack_fails_with(websocket::error::message_too_big);
  EXPECT_LT(written_by_attack.load(), 32u << 20);
}

TEST_F(HostileWebSocketServerTest, TextThatIsNotUtf8IsRefused) {
  serve_attack([](HostileConnection& connection) { connection.write(server_frame(fin_text, "ok \xff\xfe")); });
  expect_attack_fails_with(websocket::error::bad_frame_payload);
}

// Beast 1.81 checks that a text message ends on a whole code point only when its last frame
// carries bytes; the session checks it when the last frame is empty (found by
// tests/fuzz/websocket_frames_fuzzer.cpp).
TEST_F(HostileWebSocketServerTest, TextCutInsideACodePointByAnEmptyLastFrameIsRefused) {
  serve_attack([](HostileConnection& connection) {
    connection.write(server_frame(0x01, "ok \xe2\x82") + server_frame(0x80, ""));  // text, then FIN continuation
  });
  expect_attack_fails_with(websocket::error::bad_frame_payload);
}

TEST_F(HostileWebSocketServerTest, MaskedServerFrameIsRefused) {
  // RFC 6455 5.1: a client closes the connection when a server's frame is masked.
  serve_attack([](HostileConnection& connection) {
    std::string frame = {static_cast<char>(fin_text), static_cast<char>(0x80 | 5), 1, 2, 3, 4};
    const std::string payload = "hello";
    for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ (1 + i % 4));
    connection.write(frame);
  });
  expect_attack_fails_with(websocket::error::bad_masked_frame);
}

}  // namespace
}  // namespace securechannel

// HTTP/2 servers that attack the client with frames no server library would send: CONTINUATION
// floods, HPACK bombs and table-size games, SETTINGS and PING floods, refused and reset
// streams, flow-control window overflow, replies on streams that are closed or never opened.
// Each ends with a named error for the attacked request (never a hang or a crash), in bounded
// memory, and the next request is served.
#include "hostile_server_test.hpp"
#include "http2_server_frames.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::HostileConnection;
using testing::HttpOutcome;
namespace h2 = testing::h2;
using h2::FrameType;

class HostileHttp2ServerTest : public testing::HostileServerTest {
 protected:
  using Attack = std::function<void(HostileConnection&, h2::Http2ServerConnection&, std::uint32_t stream)>;

  // Every connection answers "/ok" and meets any other request with `attack`, then goes on
  // serving if the client still talks to it.
  void serve_attack(Attack attack) {
    serve({"h2"}, [this, attack = std::move(attack)](HostileConnection& connection) {
      h2::Http2ServerConnection server_side(connection);
      if (!server_side.start()) return;
      while (std::optional<h2::Request> request = server_side.next_attack()) {
        ++attacks;
        attack(connection, server_side, request->stream);
      }
      written_by_attacks += connection.bytes_written();
    });
  }

  HttpOutcome attacked(HttpRequestOptions options = {}) {
    client = std::make_unique<HttpClient>(builder({"h2"}).build(io.executor()));
    return outcome_of(*client, "/attack", std::move(options));
  }

  // The server's threads count into this fixture's members: they stop before the members go
  // (the base fixture would stop them only after, from its own destructor).
  void TearDown() override { server.reset(); }

  std::unique_ptr<HttpClient> client;
  std::atomic<int> attacks{0};
  std::atomic<std::size_t> written_by_attacks{0};
};

// Writes `piece` until the client stops reading or leaves.
void flood(HostileConnection& connection, const std::string& piece) {
  while (!connection.stopping() && connection.write(piece)) {
  }
}

TEST_F(HostileHttp2ServerTest, ContinuationFloodEndsTheConnection) {
  // A header block that never ends: each CONTINUATION adds a field and none sets END_HEADERS.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t stream) {
    connection.write(h2::frame(FrameType::headers, 0, stream, h2::status_200()));
    flood(connection, h2::frame(FrameType::continuation, 0, stream, h2::literal("x-more", std::string(1000, 'c'))));
  });
  const HttpOutcome outcome = attacked({.timeout = 20s});
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  EXPECT_LT(written_by_attacks.load(), 32u << 20);
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, HpackBombFailsWithHeadersTooLarge) {
  // 3,000 one-byte references to one 4,000-byte table entry: 12 MB of header from 3 KB.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t stream) {
    std::string block = h2::status_200() + h2::literal_indexed("x-bomb", std::string(4000, 'b'));
    for (int i = 0; i < 3000; ++i) block += h2::indexed(62);
    connection.write(h2::frame(FrameType::headers, h2::end_headers, stream, block) +
                     h2::frame(FrameType::data, h2::end_stream, stream, "boom\n"));
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::response_headers_too_large)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, TableSizeBeyondTheSettingIsRefused) {
  // RFC 7541 4.2: a table size update above SETTINGS_HEADER_TABLE_SIZE (4,096 by default) is a
  // decoding error, which ends the connection.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t stream) {
    connection.write(h2::frame(FrameType::headers, h2::end_headers | h2::end_stream, stream,
                               h2::table_size_update(1 << 30) + h2::status_200()));
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

// Frames the client must acknowledge, sent faster than anyone acknowledges them, while the
// server reads nothing: the acknowledgements the client owes would queue up without bound.
TEST_F(HostileHttp2ServerTest, SettingsFloodEndsTheConnection) {
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    std::string frames;
    for (int i = 0; i < 20'000; ++i) frames += h2::frame(FrameType::settings, 0, 0, "");
    connection.write(frames);
  });
  const HttpOutcome outcome = attacked({.timeout = 10s});
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, PingFloodEndsTheConnection) {
  // Without end: a client that keeps up fills its socket with acknowledgements first.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    std::string frames;
    for (int i = 0; i < 1000; ++i) frames += h2::frame(FrameType::ping, 0, 0, "12345678");
    flood(connection, frames);
  });
  const HttpOutcome outcome = attacked({.timeout = 10s});
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, SettingsFrameWithTooManyEntriesEndsTheConnection) {
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    std::string entries;  // 1,000 times SETTINGS_ENABLE_PUSH = 0
    for (int i = 0; i < 1000; ++i) entries += h2::big_endian(0x2, 2) + h2::big_endian(0, 4);
    connection.write(h2::frame(FrameType::settings, 0, 0, entries));
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, EveryStreamRefusedEndsAfterBoundedRetries) {
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t stream) {
    connection.write(h2::frame(FrameType::rst_stream, 0, stream, h2::big_endian(NGHTTP2_REFUSED_STREAM, 4)));
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::stream_refused)) << outcome.error.message();
  EXPECT_LE(attacks.load(), 16) << "a refused request is sent again a bounded number of times";
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, ResetFloodOnIdleStreamsEndsTheConnection) {
  // RST_STREAM on streams the client never opened is a connection error (RFC 9113 6.4).
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    std::string frames;
    for (std::uint32_t id = 1001; id < 1001 + 2 * 5000; id += 2) {
      frames += h2::frame(FrameType::rst_stream, 0, id, h2::big_endian(NGHTTP2_CANCEL, 4));
    }
    connection.write(frames);
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, WindowUpdateOverflowEndsTheConnection) {
  // Two increments of 2^31-1 take the connection's send window past 2^31-1 (RFC 9113 6.9.1).
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    const std::string increment = h2::frame(FrameType::window_update, 0, 0, h2::big_endian(0x7fffffff, 4));
    connection.write(increment + increment);
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, GoawayOnEveryConnectionIsNotAReconnectStorm) {
  // Every connection is refused at once: GOAWAY with last stream id 0 as the request arrives.
  // The first retry is immediate (a graceful GOAWAY), later ones back off with jitter, at most
  // 16 sends in all.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t) {
    connection.write(h2::frame(FrameType::goaway, 0, 0, h2::big_endian(0, 4) + h2::big_endian(NGHTTP2_NO_ERROR, 4)));
  });
  const auto start = std::chrono::steady_clock::now();
  const HttpOutcome outcome = attacked({.timeout = 30s});
  EXPECT_EQ(outcome.error, make_error_code(errc::stream_refused)) << outcome.error.message();
  EXPECT_EQ(attacks.load(), 16);
  // Ceilings 25 ms, 50 ms, ... 1 s: about 4.7 s of waits expected, 9.4 s at most. Without the
  // backoff the 16 sends take a few milliseconds.
  EXPECT_GT(seconds_since(start), 1.0) << "no backoff between refusals";
  EXPECT_EQ(client->stats().retries, 15u);
}

TEST_F(HostileHttp2ServerTest, ReplyOnAClosedStreamIsNeverDelivered) {
  // The request gets its reply; a second reply on the same, now closed, stream must not reach
  // the next request, whichever stream that one gets.
  serve_attack([](HostileConnection&, h2::Http2ServerConnection& server_side, std::uint32_t stream) {
    server_side.respond(stream, "mine\n");
    server_side.respond(stream, "smuggled\n");
  });
  const HttpOutcome outcome = attacked();
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.body(), "mine\n");
  for (int i = 0; i < 3; ++i) expect_next_request_served(*client);
}

TEST_F(HostileHttp2ServerTest, HeadersOnAStreamNeverOpenedEndTheConnection) {
  // Even stream ids are the server's, for pushes, which the client disabled.
  serve_attack([](HostileConnection& connection, h2::Http2ServerConnection&, std::uint32_t stream) {
    connection.write(h2::frame(FrameType::headers, h2::end_headers | h2::end_stream, stream + 1, h2::status_200()) +
                     h2::frame(FrameType::headers, h2::end_headers, stream, h2::status_200()) +
                     h2::frame(FrameType::data, h2::end_stream, stream, "late\n"));
  });
  const HttpOutcome outcome = attacked();
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  expect_next_request_served(*client);
}

}  // namespace
}  // namespace securechannel

// HTTP/1.1 servers that attack the client: endless or huge headers, responses framed two ways at
// once (the stuff of response smuggling), a status line dribbled out a byte at a time, chunk
// sizes that are not numbers or overflow. Each attack fails its request with a named error,
// bounded in bytes and time; the client closes that connection (a connection whose framing is
// in doubt is never reused) and serves the next request on another.
#include "heap_in_use.hpp"
#include "hostile_server_test.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::HostileConnection;
using testing::HttpOutcome;

constexpr std::string_view ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

class HostileHttp1ServerTest : public testing::HostileServerTest {
 protected:
  // Every connection answers "/ok" properly and any other request with `attack`; after an
  // attack it records whether the client closes the connection within 5 s.
  void serve_attack(std::function<void(HostileConnection&)> attack) {
    serve({"http/1.1"}, [this, attack = std::move(attack)](HostileConnection& connection) {
      while (true) {
        const std::string head = connection.read_until("\r\n\r\n");
        if (head.empty()) return;
        if (head.starts_with("GET /ok ")) {
          if (!connection.write(ok_response)) return;
          continue;
        }
        attack(connection);
        written_by_attack += connection.bytes_written();
        if (connection.peer_closes_within(5s)) ++attacks_left_by_client;
        return;
      }
    });
  }

  // The attack's request fails with `expected`, the client leaves that connection, and the
  // next request is served.
  void expect_attack_fails_with(errc expected, HttpRequestOptions options = {}) {
    HttpClient client = http_client({"http/1.1"});
    const HttpOutcome attacked = outcome_of(client, "/attack", std::move(options));
    EXPECT_EQ(attacked.error, make_error_code(expected)) << attacked.error.message();
    expect_next_request_served(client);
    EXPECT_TRUE(testing::eventually([&] { return attacks_left_by_client.load() == 1; }, 10s))
        << "the client kept the connection the attack came on";
  }

  std::atomic<std::size_t> written_by_attack{0};
};

// Writes `line` until the client stops reading or leaves.
void flood(HostileConnection& connection, std::string_view line) {
  while (!connection.stopping() && connection.write(line)) {
  }
}

TEST_F(HostileHttp1ServerTest, MegabyteHeaderFieldFailsWithHeadersTooLarge) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\nContent-Length: 0\r\n\r\n");
  });
  expect_attack_fails_with(errc::response_headers_too_large);
}

TEST_F(HostileHttp1ServerTest, EndlessHeaderLinesStopAtTheLimitNotAtTheTimeout) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\n");
    flood(connection, "X-Again: and again and again and again\r\n");
  });
  const auto start = std::chrono::steady_clock::now();
  expect_attack_fails_with(errc::response_headers_too_large, {.timeout = 20s});
  EXPECT_LT(seconds_since(start), 10.0);
  // The client read about 64 KiB of header; the rest is what socket buffers held when it left.
  // Without a limit it would have read until the request's timeout, gigabytes on loopback.
  EXPECT_LT(written_by_attack.load(), 32u << 20);
}

TEST_F(HostileHttp1ServerTest, ContentLengthWithChunkedIsRefused) {
  // RFC 9112 6.3: a message with both may be an attempt to smuggle a second response in after
  // the first; a client must not trust its framing, and must not reuse the connection.
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n0\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled\n");
  });
  expect_attack_fails_with(errc::http_protocol_error);
}

TEST_F(HostileHttp1ServerTest, TwoDifferentContentLengthsAreRefused) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 12\r\n\r\nok\nsmuggled\n");
  });
  expect_attack_fails_with(errc::http_protocol_error);
}

TEST_F(HostileHttp1ServerTest, ChunkSizeThatIsNotHexIsRefused) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
  });
  expect_attack_fails_with(errc::http_protocol_error);
}

TEST_F(HostileHttp1ServerTest, ChunkSizeThatOverflowsIsRefused) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n");
  });
  expect_attack_fails_with(errc::http_protocol_error);
}

TEST_F(HostileHttp1ServerTest, ChunkLargerThanTheBodyLimitFailsBeforeItArrives) {
  serve_attack([](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n");
    flood(connection, std::string(16 * 1024, 'x'));
  });
  expect_attack_fails_with(errc::response_too_large, {.max_response_body = 1 << 20});
  EXPECT_LT(written_by_attack.load(), 32u << 20);
}

// A reply followed by a second, unrequested one: the next request on that connection must not
// take it for its own (response queue poisoning). The parameter is the pause before the extra
// reply: 0 puts it in the same TLS record, 100 ms lets it arrive while the connection is idle.
class UnrequestedReplyTest : public HostileHttp1ServerTest, public ::testing::WithParamInterface<int> {};

TEST_P(UnrequestedReplyTest, IsNeverTakenForTheNextRequestsReply) {
  std::atomic<int> smuggled_sent{0};
  const auto pause = std::chrono::milliseconds(GetParam());
  serve({"http/1.1"}, [&](HostileConnection& connection) {
    while (true) {
      const std::string head = connection.read_until("\r\n\r\n");
      if (head.empty()) return;
      if (!head.starts_with("GET /first ")) {
        if (!connection.write(ok_response)) return;
        continue;
      }
      const std::string smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled\n";
      if (pause.count() == 0) {
        connection.write(std::string(ok_response) + smuggled);
      } else {
        connection.write(ok_response);
        std::this_thread::sleep_for(pause);
        connection.write(smuggled);
      }
      ++smuggled_sent;
    }
  });
  HttpClient client = http_client({"http/1.1"});
  for (int round = 0; round < 3; ++round) {
    const HttpOutcome first = outcome_of(client, "/first");
    ASSERT_FALSE(first.error) << first.error.message();
    EXPECT_EQ(first.response.body(), "ok\n");
    ASSERT_TRUE(testing::eventually([&] { return smuggled_sent.load() > round; }, 5s));
    const HttpOutcome next = outcome_of(client, "/ok");
    ASSERT_FALSE(next.error) << next.error.message();
    EXPECT_EQ(next.response.body(), "ok\n") << "a reply nobody asked for was delivered";
  }
}

INSTANTIATE_TEST_SUITE_P(Pauses, UnrequestedReplyTest, ::testing::Values(0, 100),
                         [](const ::testing::TestParamInfo<int>& pause) {
                           return pause.param == 0 ? std::string("InTheSameRecord") : std::string("WhileIdle");
                         });

// The server takes the request on a kept-alive connection and closes without a byte of reply,
// as one does when its keep-alive timeout fires as the request arrives. Nothing came back, so
// a GET is sent once more on a new connection; a POST may have been acted on, so it is not.
TEST_F(HostileHttp1ServerTest, ClosedOnArrivalRetriesGetButNotPost) {
  std::atomic<int> requests_seen{0};
  serve({"http/1.1"}, [&](HostileConnection& connection) {
    for (int served = 0;; ++served) {
      const std::string head = connection.read_until("\r\n\r\n");
      if (head.empty()) return;
      ++requests_seen;
      if (served == 1) return;  // the second request on each connection: close unanswered
      if (!connection.write(ok_response)) return;
    }
  });
  HttpClient client = http_client({"http/1.1"});
  ASSERT_FALSE(outcome_of(client, "/ok").error);
  const HttpOutcome get = outcome_of(client, "/ok");
  ASSERT_FALSE(get.error) << get.error.message();
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(requests_seen.load(), 3);

  // The new connection has served one request: the POST is its second.
  const HttpOutcome post = testing::send_request(client, testing::make_request(boost::beast::http::verb::post, "/order", "1"))
                               .get();
  EXPECT_EQ(post.error, make_error_code(errc::request_not_replayed)) << post.error.message();
  EXPECT_EQ(client.stats().retries, 1u) << "the POST was sent again";
  EXPECT_EQ(requests_seen.load(), 4);
}

TEST_F(HostileHttp1ServerTest, ClaimedContentLengthIsNotReservedUpFront) {
#ifdef SC_HEAP_REPLACED_BY_SANITIZER
  GTEST_SKIP() << "measures glibc's heap, which the sanitizer replaces";
#endif
  // 60 MB claimed (within max_response_body), 5 bytes sent, then nothing: what it costs us is
  // what arrived plus a bounded reserve, not the claim.
  std::atomic<bool> head_sent{false};
  serve_attack([&](HostileConnection& connection) {
    connection.write("HTTP/1.1 200 OK\r\nContent-Length: 60000000\r\n\r\nhello");
    head_sent = true;
    connection.peer_closes_within(5s);
  });
  HttpClient client = http_client({"http/1.1"});
  ASSERT_FALSE(outcome_of(client, "/ok").error);  // the connection and its buffers exist
  const std::size_t before = testing::heap_in_use();
  auto claimed = send(client, "/claim", {.timeout = 3s});
  ASSERT_TRUE(testing::eventually([&] { return head_sent.load(); }, 5s));
  std::this_thread::sleep_for(200ms);  // the head and the 5 bytes are parsed
  const std::size_t during = testing::heap_in_use();
  EXPECT_LT(during - std::min(during, before), 4u << 20) << "the claimed length was reserved";
  EXPECT_EQ(claimed.get().error, make_error_code(errc::request_timeout));
}

TEST_F(HostileHttp1ServerTest, SlowlorisResponseEndsAtTheRequestTimeout) {
  // A byte every 100 ms: each read makes progress, so only the request's own deadline ends it.
  serve_attack([](HostileConnection& connection) {
    for (const char byte : std::string("HTTP/1.1 200 OK\r\nX-Slow: ") + std::string(1000, 's')) {
      if (connection.stopping() || !connection.write(std::string_view(&byte, 1))) return;
      std::this_thread::sleep_for(100ms);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  expect_attack_fails_with(errc::request_timeout, {.timeout = 1500ms});
  EXPECT_GT(seconds_since(start), 1.4);
}

}  // namespace
}  // namespace securechannel

// Http2Session against a real nginx (TLS 1.3, h2 by ALPN) started by the fixture: multiplexing,
// flow control both ways, GOAWAY, per-stream deadlines and limits, connection loss.
#include "demo/certificate_authority.hpp"
#include "demo/nginx_server.hpp"
#include "heap_in_use.hpp"
#include "http/http2_headers.hpp"
#include "http/http2_session.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using detail::Http2Session;
using testing::eventually;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kLargeBody = 8u << 20;

struct Outcome {
  boost::system::error_code error;
  HttpResponse response;
};

HttpRequest request(http::verb method, const std::string& target) {
  HttpRequest request{method, target, 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "securechannel-test");
  return request;
}

std::string pattern(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = demo::generated_file_byte(i);
  return text;
}

// Index of the first byte that differs from the pattern, or npos.
std::size_t first_mismatch(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != demo::generated_file_byte(i)) return i;
  }
  return std::string::npos;
}

// Submits on a reserved slot; the outcome arrives through a plain callback (see pool_exchange.hpp).
std::future<Outcome> submit(Http2Session& session, HttpRequest message, HttpRequestOptions options = {},
                            Clock::time_point deadline = Clock::now() + 60s) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto result = promise->get_future();
  session.submit(std::move(message), options, deadline,
                 [promise](boost::system::error_code error, HttpResponse response, bool) {
                   promise->set_value({error, std::move(response)});
                 });
  return result;
}

Outcome wait(std::future<Outcome>& pending) {
  if (pending.wait_for(60s) != std::future_status::ready) {
    ADD_FAILURE() << "no completion within 60 s";
    return {make_error_code(errc::request_timeout), {}};
  }
  return pending.get();
}

class Http2SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
  }

  void start_nginx() {
    nginx = std::make_unique<demo::NginxServer>(options);
    pool = PoolBuilder(nginx->endpoint())
               .with_system_trust_store(false)
               .with_ca_file(authority.ca_certificate_file().string())
               .with_alpn({"h2"})
               .build(io.executor());
  }

  // Closes the test's session before the io thread stops, so no handler outlives it.
  void TearDown() override {
    if (!opened) return;
    opened->close();
    EXPECT_TRUE(eventually([&] { return opened->is_closed(); }));
  }

  std::shared_ptr<Http2Session> open_session(detail::Http2SessionOptions session_options = {}) {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(lease.channel().negotiated_alpn(), "h2");
    opened = Http2Session::start(std::move(lease), session_options);
    return opened;
  }

  Outcome exchange(Http2Session& session, HttpRequest message, HttpRequestOptions request_options = {}) {
    EXPECT_TRUE(session.try_reserve_stream());
    auto pending = submit(session, std::move(message), request_options);
    return wait(pending);
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("nginx");
  demo::NginxOptions options;
  std::unique_ptr<demo::NginxServer> nginx;
  testing::IoThread io;
  // After io: the pool and the session (their timers) go before the io_context does.
  std::shared_ptr<SecureChannelPool> pool;
  std::shared_ptr<Http2Session> opened;
};

TEST_F(Http2SessionTest, OneGet) {
  start_nginx();
  auto session = open_session();
  HttpRequest message = request(http::verb::get, "/");
  // Connection-specific fields must not reach an HTTP/2 server (nginx rejects some of them).
  message.set(http::field::connection, "keep-alive");
  message.set("Keep-Alive", "timeout=5");
  const Outcome outcome = exchange(*session, std::move(message));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 200);
  EXPECT_EQ(outcome.response.body(), "hello\n");
  EXPECT_EQ(outcome.response.version(), 20);
  EXPECT_EQ(outcome.response[http::field::content_type], "text/plain");
  EXPECT_EQ(session->streams_started(), 1u);
  EXPECT_TRUE(eventually([&] { return session->streams_in_flight() == 0; }));
  EXPECT_TRUE(session->accepts_new_streams());
}

TEST_F(Http2SessionTest, HundredConcurrentStreamsShareOneConnection) {
  start_nginx();
  auto session = open_session();
  std::vector<std::future<Outcome>> pending;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(session->try_reserve_stream()) << "stream " << i;
    pending.push_back(submit(*session, request(http::verb::get, "/?n=" + std::to_string(i))));
  }
  for (auto& one : pending) {
    const Outcome outcome = wait(one);
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200);
    EXPECT_EQ(outcome.response.body(), "hello\n");
  }
  EXPECT_EQ(session->streams_started(), 100u);
  EXPECT_EQ(pool->stats().connections_created, 1u);
  EXPECT_TRUE(eventually([&] { return session->streams_in_flight() == 0; }));
}

TEST_F(Http2SessionTest, StreamsSubmittedTogetherLeaveInOneWrite) {
  start_nginx();
  auto session = open_session();
  ASSERT_FALSE(exchange(*session, request(http::verb::get, "/")).error);  // preface and SETTINGS are done
  const std::uint64_t writes_before = session->writes();
  // Submitted from one handler, as a batch of completions submits the next requests.
  constexpr int streams = 32;
  std::vector<std::future<Outcome>> pending(streams);
  std::promise<void> submitted;
  asio::post(io.executor(), [&] {
    for (auto& one : pending) {
      EXPECT_TRUE(session->try_reserve_stream());
      one = submit(*session, request(http::verb::get, "/"));
    }
    submitted.set_value();
  });
  submitted.get_future().wait();
  for (auto& one : pending) {
    const Outcome outcome = wait(one);
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200);
  }
  // One write carries the 32 HEADERS frames; a second may carry a WINDOW_UPDATE or a SETTINGS ACK.
  // Writing as each stream was submitted took 32.
  EXPECT_LE(session->writes() - writes_before, 2u);
}

TEST_F(Http2SessionTest, ReservationsStopAtThePeersConcurrentStreamLimit) {
  options.http2_max_concurrent_streams = 4;
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(eventually([&] { return session->peer_max_concurrent_streams() == 4; }))
      << session->peer_max_concurrent_streams();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(session->try_reserve_stream()) << i;
  EXPECT_FALSE(session->try_reserve_stream());
  session->release_reservation();
  EXPECT_TRUE(session->try_reserve_stream());
  EXPECT_FALSE(session->try_reserve_stream());
  // A completed stream frees its slot.
  auto pending = submit(*session, request(http::verb::get, "/"));
  EXPECT_FALSE(wait(pending).error);
  EXPECT_TRUE(eventually([&] { return session->try_reserve_stream(); }));
  for (int i = 0; i < 4; ++i) session->release_reservation();
}

TEST_F(Http2SessionTest, LargeDownloadArrivesIntact) {
  options.generated_file_bytes = kLargeBody;
  start_nginx();
  // Windows smaller than the body: the download needs nghttp2's WINDOW_UPDATEs to finish.
  auto session = open_session({.stream_window = 256u << 10, .connection_window = 1u << 20});
  const Outcome outcome = exchange(*session, request(http::verb::get, "/big"));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 200);
  ASSERT_EQ(outcome.response.body().size(), kLargeBody);
  EXPECT_EQ(first_mismatch(outcome.response.body()), std::string::npos);
}

TEST_F(Http2SessionTest, LargeUploadRespectsThePeersFlowControl) {
  start_nginx();
  auto session = open_session();
  // nginx's stream window is 64 KiB (http2_body_preread_size): the body goes out in windows.
  HttpRequest message = request(http::verb::put, "/upload/blob");
  message.body() = pattern(kLargeBody);
  const Outcome outcome = exchange(*session, std::move(message));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 201);  // the DAV module stored the whole body
  std::ifstream stored(nginx->document_root() / "upload" / "blob", std::ios::binary);
  const std::string content{std::istreambuf_iterator<char>(stored), std::istreambuf_iterator<char>()};
  ASSERT_EQ(content.size(), kLargeBody);
  EXPECT_EQ(first_mismatch(content), std::string::npos);
}

TEST_F(Http2SessionTest, GoawayRefusesTheStreamsBeyondItsLastStreamId) {
  options.max_requests_per_connection = 5;  // nginx sends GOAWAY with the 5th stream
  start_nginx();
  auto session = open_session();
  // Every stream is reserved before the first is sent: nginx's GOAWAY, once it has come, refuses
  // further reservations, and on a slow machine it may come before a loop of both had finished.
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(session->try_reserve_stream()) << i;
  std::vector<std::future<Outcome>> pending;
  for (int i = 0; i < 12; ++i) pending.push_back(submit(*session, request(http::verb::get, "/")));
  int succeeded = 0;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Outcome outcome = wait(pending[i]);
    if (i < 5) {
      EXPECT_FALSE(outcome.error) << "stream " << i << ": " << outcome.error.message();
      EXPECT_EQ(outcome.response.body(), "hello\n");
      succeeded += !outcome.error;
    } else {
      EXPECT_EQ(outcome.error, make_error_code(errc::stream_refused)) << "stream " << i;
    }
  }
  EXPECT_EQ(succeeded, 5);
  EXPECT_EQ(session->goaways_received(), 1u);
  EXPECT_FALSE(session->accepts_new_streams());
  EXPECT_FALSE(session->try_reserve_stream());
  // The last stream ended: the session closes the connection by itself.
  EXPECT_TRUE(eventually([&] { return session->is_closed(); }));
  EXPECT_EQ(session->streams_in_flight(), 0u);
  EXPECT_TRUE(eventually([&] { return pool->stats().total_connections == 0; }));
}

TEST_F(Http2SessionTest, DeadlineResetsOnlyItsStream) {
  options.generated_file_bytes = 1u << 20;  // /slow sends it at 1 KiB/s: never done in time
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(session->try_reserve_stream());
  auto slow = submit(*session, request(http::verb::get, "/slow"), {}, Clock::now() + 300ms);
  const Outcome timed_out = wait(slow);
  EXPECT_EQ(timed_out.error, make_error_code(errc::request_timeout)) << timed_out.error.message();
  // The connection is fine: only the stream was reset (CANCEL).
  const Outcome next = exchange(*session, request(http::verb::get, "/"));
  EXPECT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.response.body(), "hello\n");
  EXPECT_TRUE(session->accepts_new_streams());
}

TEST_F(Http2SessionTest, DeadlineAlreadyPassedTimesOut) {
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(session->try_reserve_stream());
  auto late = submit(*session, request(http::verb::get, "/"), {}, Clock::now() - 1s);
  EXPECT_EQ(wait(late).error, make_error_code(errc::request_timeout));
  EXPECT_EQ(session->streams_started(), 0u) << "an expired request is not sent at all";
  EXPECT_TRUE(eventually([&] { return session->streams_in_flight() == 0; }));
}

TEST_F(Http2SessionTest, ResponseAboveTheLimitIsRefusedAndTheSessionGoesOn) {
  options.generated_file_bytes = 1u << 20;
  start_nginx();
  auto session = open_session();
  const Outcome too_large = exchange(*session, request(http::verb::get, "/big"), {.max_response_body = 1000});
  EXPECT_EQ(too_large.error, make_error_code(errc::response_too_large)) << too_large.error.message();
  const Outcome next = exchange(*session, request(http::verb::get, "/"));
  EXPECT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.response.body(), "hello\n");
  const Outcome exact = exchange(*session, request(http::verb::get, "/big"), {.max_response_body = 1u << 20});
  EXPECT_FALSE(exact.error) << exact.error.message();
}

TEST_F(Http2SessionTest, ConnectionLossFailsPendingStreams) {
  options.generated_file_bytes = 1u << 20;
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(session->try_reserve_stream());
  // Stopped only once the response has begun: before nginx has read the stream, its GOAWAY would
  // rightly refuse it (seen under ThreadSanitizer's slowness), which is another test's case.
  auto body_started = std::make_shared<std::atomic<bool>>(false);
  HttpRequestOptions watched{.body_sink = [body_started](std::string_view) {
    body_started->store(true);
    return true;
  }};
  auto slow = submit(*session, request(http::verb::get, "/slow"), std::move(watched));
  ASSERT_TRUE(eventually([&] { return body_started->load(); }));
  nginx.reset();  // graceful stop: GOAWAY, then nginx closes the connection under the stream
  const Outcome lost = wait(slow);
  EXPECT_TRUE(lost.error);
  std::cout << "connection loss reported as: " << lost.error.message() << '\n';
  EXPECT_NE(lost.error, make_error_code(errc::stream_refused)) << "the stream was sent and processed";
  EXPECT_NE(lost.error, make_error_code(errc::request_timeout));
  EXPECT_TRUE(eventually([&] { return session->is_closed(); }));
  EXPECT_FALSE(session->try_reserve_stream());
}

TEST_F(Http2SessionTest, ShutdownLetsStreamsFinishThenCloses) {
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(session->try_reserve_stream());
  auto pending = submit(*session, request(http::verb::get, "/"));
  session->shutdown();
  const Outcome outcome = wait(pending);
  EXPECT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_TRUE(eventually([&] { return session->is_closed(); }));
  EXPECT_FALSE(session->accepts_new_streams());
  session->shutdown();  // idempotent
  session->close();
}

TEST_F(Http2SessionTest, CloseAbortsStreamsAndRefusesLaterOnes) {
  options.generated_file_bytes = 1u << 20;
  start_nginx();
  auto session = open_session();
  ASSERT_TRUE(session->try_reserve_stream());
  ASSERT_TRUE(session->try_reserve_stream());
  auto slow = submit(*session, request(http::verb::get, "/slow"));
  session->close();
  EXPECT_EQ(wait(slow).error, boost::asio::error::operation_aborted);
  ASSERT_TRUE(eventually([&] { return session->is_closed(); }));
  auto late = submit(*session, request(http::verb::get, "/"));  // on the second reservation
  EXPECT_EQ(wait(late).error, make_error_code(errc::stream_refused));
  session->close();  // idempotent
  EXPECT_EQ(session->streams_in_flight(), 0u);
}

TEST_F(Http2SessionTest, IdlePingsAreAnsweredAndKeepTheSessionOpen) {
  start_nginx();
  auto session = open_session({.idle_ping_after = 20ms, .ping_timeout = 5s});
  ASSERT_FALSE(exchange(*session, request(http::verb::get, "/")).error);
  const auto received = [&] { return pool->connection_snapshots().at(0).bytes_received; };
  const std::uint64_t before = received();
  // A PING ACK is a 17-byte frame in a TLS record of 39 bytes: wait for a few of them.
  EXPECT_TRUE(eventually([&] { return received() >= before + 3 * 39; })) << received() - before;
  EXPECT_FALSE(session->is_closed());
  EXPECT_FALSE(exchange(*session, request(http::verb::get, "/")).error);
}

TEST_F(Http2SessionTest, UnansweredPingClosesTheSession) {
  start_nginx();
  auto session = open_session({.idle_ping_after = 50ms, .ping_timeout = 300ms});
  ASSERT_FALSE(exchange(*session, request(http::verb::get, "/")).error);
  // Frozen, nginx still has its socket (the kernel keeps the connection up) but answers nothing.
  ASSERT_EQ(::kill(-nginx->pid(), SIGSTOP), 0);
  struct Thaw {
    pid_t group;
    ~Thaw() { ::kill(-group, SIGCONT); }
  } thaw{nginx->pid()};
  ASSERT_TRUE(session->try_reserve_stream());
  auto unanswered = submit(*session, request(http::verb::get, "/"));
  EXPECT_EQ(wait(unanswered).error, make_error_code(errc::connection_closed));
  EXPECT_TRUE(eventually([&] { return session->is_closed(); }));
}

// An idle session gives its connection's TLS record buffers back after cool_after, as the
// pool's cold idle connections do; its next stream takes them again and is served as usual.
TEST_F(Http2SessionTest, IdleSessionGivesItsBuffersBackAndTheNextStreamTakesThem) {
  start_nginx();
#ifndef SC_HEAP_REPLACED_BY_SANITIZER
  // The baseline: the same pool with the connection the session will take idle in it.
  testing::acquire(*pool).release();
  const std::size_t idle_pool_heap = testing::heap_in_use();
#endif
  auto session = open_session({.cool_after = 1s});
  ASSERT_FALSE(exchange(*session, request(http::verb::get, "/")).error);
  EXPECT_TRUE(session->warm()) << "cooled before cool_after";
#ifndef SC_HEAP_REPLACED_BY_SANITIZER
  const std::size_t warm_heap = testing::heap_in_use();
#endif
  ASSERT_TRUE(eventually([&] { return !session->warm(); })) << "still warm long after its last stream";
#ifndef SC_HEAP_REPLACED_BY_SANITIZER
  // OpenSSL's read and write record buffers (about 16.7 KB each), the session's 32 KB read
  // buffer and the 16.6 KB receive block: once the read pending since the last stream has
  // ended (the session's PING is answered), a cooled session waits for readability holding none.
  const auto freed = [&] { return warm_heap - std::min(warm_heap, testing::heap_in_use()); };
  EXPECT_TRUE(eventually([&] { return freed() >= 64u * 1024; })) << "the buffers were not freed: " << freed();
  const std::size_t cooled_heap = testing::heap_in_use();
  std::printf("heap in use above the idle pool: warm session %.1f KB, cooled %.1f KB\n",
              (static_cast<double>(warm_heap) - static_cast<double>(idle_pool_heap)) / 1024,
              (static_cast<double>(cooled_heap) - static_cast<double>(idle_pool_heap)) / 1024);
#endif
  const Outcome again = exchange(*session, request(http::verb::get, "/"));
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_EQ(again.response.body(), "hello\n");
  EXPECT_TRUE(session->warm()) << "its stream warmed the connection again";
  EXPECT_FALSE(session->is_closed());
}

TEST(Http2RequestHeadersTest, PseudoHeadersFirstAndConnectionFieldsDropped) {
  HttpRequest message = request(http::verb::post, "/v1/orders?x=1");
  message.set(http::field::connection, "keep-alive");
  message.set(http::field::transfer_encoding, "chunked");
  message.set(http::field::te, "trailers");
  message.set(http::field::authorization, "Bearer secret");
  message.set("X-Trace-ID", "abc");
  message.body() = "{}";
  const detail::Http2RequestHeaders headers(message, "https");
  std::vector<std::pair<std::string, std::string>> fields;
  bool authorization_not_indexed = false;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const nghttp2_nv& nv = headers.data()[i];
    fields.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                        std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    if (fields.back().first == "authorization") authorization_not_indexed = (nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0;
  }
  const std::vector<std::pair<std::string, std::string>> expected{
      {":method", "POST"},       {":scheme", "https"},          {":path", "/v1/orders?x=1"},
      {":authority", "localhost"}, {"user-agent", "securechannel-test"}, {"te", "trailers"},
      {"authorization", "Bearer secret"}, {"x-trace-id", "abc"}, {"content-length", "2"}};
  EXPECT_EQ(fields, expected);
  EXPECT_TRUE(authorization_not_indexed);
}

}  // namespace
}  // namespace securechannel

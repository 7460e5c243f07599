// HttpForwardListener against a real nginx (TLS, h2 and http/1.1 by ALPN): requests forwarded
// with their bodies, keep-alive, many local clients on few upstream HTTP/2 connections, the
// listener's own limits (408, 413, 431, 501), pipelining refused, upstream failures as JSON
// 502/503, drain, hop-by-hop headers, metrics, no descriptor left behind, and a plain pool's
// refusal of an https:// target.
#include "captured_log.hpp"
#include "daemon/forwarded_message.hpp"
#include "daemon/http_forward_listener.hpp"
#include "daemon/http_forward_metrics.hpp"
#include "daemon/upstream_error_response.hpp"
#include "demo/loopback_port.hpp"
#include "http_test_client.hpp"
#include "nginx_http_test.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using daemon::HttpForwardListener;
using daemon::HttpForwardOptions;
using testing::eventually;
using testing::HttpTestConnection;
using testing::HttpTestReply;

std::string error_name_of(const HttpTestReply& reply) {
  const auto body = nlohmann::json::parse(reply.body(), nullptr, false);
  return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "<no JSON error>";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

class HttpForwardListenerTest : public testing::NginxHttpTest {
 protected:
  // A pool over nginx (or `pool` when given), an HttpClient on it, and a started listener.
  void open(HttpForwardOptions listener_options = {}, std::vector<std::string> alpn = {"h2", "http/1.1"},
            std::size_t max_connections = 4) {
    if (!pool) pool = builder(std::move(alpn)).with_max_connections(max_connections).build(io.executor());
    client = std::make_shared<HttpClient>(pool);
    boost::system::error_code error;
    listener = HttpForwardListener::create(listener_threads.executor(), std::move(listener_options), client, error);
    ASSERT_TRUE(listener) << error.message();
    listener->start();
  }

  std::uint16_t port() const { return listener->local_endpoint().port(); }

  void TearDown() override {
    if (listener) {
      std::promise<void> drained;
      listener->async_drain(1s, [&] { drained.set_value(); });
      EXPECT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
    }
    // The pool's thread may still be unwinding a handler that delivered a response to a local
    // connection's strand (it holds that strand's executor until it returns). listener_threads,
    // declared here, goes before the base class's `io`: let that handler finish first.
    EXPECT_TRUE(io.finish_queued_handlers());
  }

  // The local connections run on two threads of their own, so that their strands matter; the
  // pool and the HttpClient on the fixture's `io`, as in the daemon they share one io_context.
  testing::IoThread listener_threads{2};
  std::shared_ptr<SecureChannelPool> pool;
  std::shared_ptr<HttpClient> client;
  std::shared_ptr<HttpForwardListener> listener;
};

TEST_F(HttpForwardListenerTest, ForwardsGetAndBodiesBothWays) {
  start();
  open();
  HttpTestConnection local(port());
  HttpTestReply hello = local.get("/");
  EXPECT_EQ(hello.result_int(), 200);
  EXPECT_EQ(hello.body(), "hello\n");

  const std::string document(100'000, 'd');
  local.send("PUT /upload/document HTTP/1.1\r\nHost: app\r\nContent-Length: " + std::to_string(document.size()) +
             "\r\n\r\n" + document);
  EXPECT_EQ(local.read_reply().result_int(), 201);
  EXPECT_EQ(read_file(nginx->document_root() / "upload" / "document"), document);
  HttpTestReply fetched = local.get("/upload/document");
  EXPECT_EQ(fetched.result_int(), 200);
  EXPECT_EQ(fetched.body(), document);

  // A chunked local body goes upstream whole, with a Content-Length.
  local.send("PUT /upload/chunked HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(local.read_reply().result_int(), 201);
  EXPECT_EQ(read_file(nginx->document_root() / "upload" / "chunked"), "hello world");

  // A client that waits for 100 Continue before its body gets it.
  local.send("PUT /upload/expected HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n");
  EXPECT_EQ(local.read_reply().result_int(), 100);
  local.send("expected");
  EXPECT_EQ(local.read_reply().result_int(), 201);
  EXPECT_EQ(read_file(nginx->document_root() / "upload" / "expected"), "expected");

  local.send("POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\n\r\nping");
  HttpTestReply posted = local.read_reply();
  EXPECT_EQ(posted.result_int(), 200);
  EXPECT_EQ(posted.body(), "hello\n");
  EXPECT_EQ(client->stats().protocol, HttpProtocol::http2);
}

TEST_F(HttpForwardListenerTest, KeepsOneLocalConnectionAliveAcrossRequests) {
  start();
  open();
  HttpTestConnection local(port());
  for (int i = 0; i < 5; ++i) {
    HttpTestReply reply = local.get("/");
    ASSERT_EQ(reply.result_int(), 200);
    EXPECT_TRUE(reply.keep_alive());
  }
  HttpTestReply head = local.request("HEAD", "/");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], "6");  // GET's length, no body
  EXPECT_TRUE(eventually([&] { return listener->stats().responses_2xx == 6; }));
  const daemon::HttpForwardStats stats = listener->stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.active_connections, 1u);
  EXPECT_EQ(stats.requests, 6u);
}

// Over HTTP/1.1, where a key's connection is its own: each key stays on one upstream connection
// and the response says so; a key too long is answered 400 by name, before anything goes out.
TEST_F(HttpForwardListenerTest, RequestsWithTheAffinityHeaderKeepAConnectionPerKey) {
  start();
  HttpForwardOptions keyed;
  keyed.affinity_header = "X-Relay-Session";
  open(std::move(keyed), {"http/1.1"});
  HttpTestConnection local(port());
  for (int round = 0; round < 3; ++round) {
    for (const char* key : {"alpha", "beta", "gamma"}) {
      HttpTestReply reply = local.get("/", {{"X-Relay-Session", key}});
      ASSERT_EQ(reply.result_int(), 200);
      EXPECT_EQ(reply[daemon::affinity_response_header], round == 0 ? "new_key" : "kept") << key;
    }
  }
  HttpTestReply plain = local.get("/");
  EXPECT_EQ(plain.result_int(), 200);
  EXPECT_EQ(plain.count(daemon::affinity_response_header), 0u) << "no key, no affinity";
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.affinity_keys, 3u);
  EXPECT_EQ(stats.affinity_moves, 0u);

  HttpTestConnection hostile(port());
  HttpTestReply refused = hostile.get("/", {{"X-Relay-Session", std::string(max_affinity_key_bytes + 1, 'k')}});
  EXPECT_EQ(refused.result_int(), 400);
  EXPECT_NE(refused.body().find("X-Relay-Session is an affinity key, at most 256 bytes"), std::string::npos)
      << refused.body();
  EXPECT_EQ(pool->stats().affinity_keys, 3u);
}

// A plain pool (tls = false) behind the listener: an absolute-form https:// target asks for TLS
// the pool does not have, so it is answered 400 by name and nothing goes upstream for it; an
// http:// target is forwarded.
TEST_F(HttpForwardListenerTest, APlainPoolAnswersAnHttpsTarget400AndForwardsAnHttpOne) {
  options.plain = true;
  options.http2 = false;  // plain HTTP/1.1 (with it, nginx's plain port speaks only h2c)
  start();
  pool = PoolBuilder(nginx->endpoint()).without_tls().with_max_connections(2).build(io.executor());
  open();
  HttpTestConnection asks_for_tls(port());
  HttpTestReply refused = asks_for_tls.get("https://app.example/");
  EXPECT_EQ(refused.result_int(), 400);
  EXPECT_EQ(error_name_of(refused), "bad_request");
  EXPECT_NE(refused.body().find("an https:// target, and this listener's pool is plain TCP (tls = false)"),
            std::string::npos)
      << refused.body();
  EXPECT_EQ(pool->stats().connections_created, 0u) << "nothing went upstream";

  HttpTestConnection local(port());
  HttpTestReply forwarded = local.get("http://app.example/");
  EXPECT_EQ(forwarded.result_int(), 200);
  EXPECT_EQ(forwarded.body(), "hello\n");
  EXPECT_EQ(pool->stats().connections_created, 1u);
}

TEST_F(HttpForwardListenerTest, PausesAcceptingAtMaxConnections) {
  start();
  HttpForwardOptions listener_options;
  listener_options.limits.max_connections = 2;
  open(listener_options);
  auto first = std::make_unique<HttpTestConnection>(port());
  HttpTestConnection second(port());
  ASSERT_EQ(first->get("/").result_int(), 200);
  ASSERT_EQ(second.get("/").result_int(), 200);
  // The third waits in the kernel's backlog until a slot frees, then is served.
  HttpTestConnection third(port());
  third.send(testing::http_request("GET", "/"));
  EXPECT_EQ(listener->stats().connections_accepted, 2u);
  first.reset();
  EXPECT_EQ(third.read_reply().result_int(), 200);
  EXPECT_EQ(listener->stats().connections_accepted, 3u);
}

// A reload: the new cap applies at once (the client waiting in the backlog is served), the body
// limit to connections accepted after it; the connection open before keeps its own limits.
TEST_F(HttpForwardListenerTest, UpdateRaisesTheCapAtOnceAndLimitsNewConnections) {
  start();
  HttpForwardOptions listener_options;
  listener_options.limits.max_connections = 1;
  open(listener_options);
  HttpTestConnection before(port());
  ASSERT_EQ(before.get("/").result_int(), 200);
  HttpTestConnection waiting(port());
  waiting.send(testing::http_request("GET", "/"));
  EXPECT_EQ(listener->stats().connections_accepted, 1u);

  HttpForwardOptions next = listener_options;
  next.limits.max_connections = 3;
  next.limits.max_body_bytes = 10;
  std::string problem;
  ASSERT_TRUE(listener->update(next, problem)) << problem;
  EXPECT_EQ(waiting.read_reply().result_int(), 200);

  const std::string twenty_bytes = "PUT /upload/twenty HTTP/1.1\r\nHost: app\r\nContent-Length: 20\r\n\r\n" +
                                   std::string(20, 't');
  HttpTestConnection after(port());
  after.send(twenty_bytes);
  EXPECT_EQ(after.read_reply().result_int(), 413);
  before.send(twenty_bytes);
  EXPECT_EQ(before.read_reply().result_int(), 201);  // nginx's answer to a new file

  // What a running listener cannot change: refused, nothing changed.
  HttpForwardOptions moved = next;
  moved.port = static_cast<std::uint16_t>(port() + 1);
  EXPECT_FALSE(listener->update(moved, problem));
  EXPECT_NE(problem.find("cannot change while it runs"), std::string::npos) << problem;
  HttpForwardOptions zero = next;
  zero.limits.max_connections = 0;
  EXPECT_FALSE(listener->update(zero, problem));
  HttpTestConnection last(port());
  last.send(twenty_bytes);
  EXPECT_EQ(last.read_reply().result_int(), 413);
}

// Each local client: connect, then `requests` GETs on the one connection, every step bounded.
asio::awaitable<bool> keep_alive_client(asio::ip::tcp::endpoint server, int requests) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(20s);
  co_await stream.async_connect(server, asio::use_awaitable);
  beast::flat_buffer buffer;
  for (int i = 0; i < requests; ++i) {
    http::request<http::empty_body> request{http::verb::get, "/", 11};
    request.set(http::field::host, "app");
    stream.expires_after(20s);
    co_await http::async_write(stream, request, asio::use_awaitable);
    http::response<http::string_body> response;
    co_await http::async_read(stream, buffer, response, asio::use_awaitable);
    if (response.result_int() != 200 || response.body() != "hello\n") co_return false;
  }
  co_return true;
}

TEST_F(HttpForwardListenerTest, ThousandLocalClientsShareFourHttp2Connections) {
  testing::raise_file_descriptor_limit();
  start();
  HttpForwardOptions listener_options;
  listener_options.limits.max_connections = 2000;
  open(listener_options, {"h2", "http/1.1"}, 4);
  constexpr int clients = 1000;
  constexpr int requests_each = 3;
  testing::IoThread client_threads(2);
  std::atomic<int> succeeded{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < clients; ++i) {
    asio::co_spawn(client_threads.executor(), keep_alive_client(listener->local_endpoint(), requests_each),
                   [&](std::exception_ptr failure, bool ok) {
                     if (!failure && ok) succeeded.fetch_add(1);
                     finished.fetch_add(1);
                   });
  }
  ASSERT_TRUE(eventually([&] { return finished.load() == clients; }, 30s)) << finished.load() << " finished";
  EXPECT_EQ(succeeded.load(), clients);
  const HttpClientStats stats = client->stats();
  EXPECT_EQ(stats.protocol, HttpProtocol::http2);
  EXPECT_LE(stats.http2_connections.size(), 4u);
  EXPECT_LE(pool->stats().connections_created, 4u);
  EXPECT_GE(stats.requests, std::uint64_t{clients * requests_each});
  EXPECT_EQ(listener->stats().connections_accepted, std::uint64_t{clients});
  // Counted once the write has completed, which the client may see first.
  EXPECT_TRUE(eventually([&] { return listener->stats().responses_2xx == std::uint64_t{clients * requests_each}; }))
      << listener->stats().responses_2xx;
}

TEST_F(HttpForwardListenerTest, AnswersOversizedAndSlowRequestsItself) {
  start();
  HttpForwardOptions listener_options;
  listener_options.limits.max_header_bytes = 1024;
  listener_options.limits.max_body_bytes = 1024;
  listener_options.limits.header_timeout = 300ms;
  open(listener_options);
  {
    HttpTestConnection local(port());
    HttpTestReply reply = local.get("/", {{"X-Big", std::string(4000, 'x')}});
    EXPECT_EQ(reply.result_int(), 431);
    EXPECT_EQ(error_name_of(reply), "request_header_fields_too_large");
    EXPECT_TRUE(local.closed_by_server());
  }
  {
    HttpTestConnection local(port());
    local.send("PUT /upload/big HTTP/1.1\r\nHost: app\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'b'));
    HttpTestReply reply = local.read_reply();
    EXPECT_EQ(reply.result_int(), 413);
    EXPECT_EQ(error_name_of(reply), "content_too_large");
  }
  {
    // Chunked: the size is known only as the body arrives.
    HttpTestConnection local(port());
    local.send("PUT /upload/big HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n" "400\r\n" +
               std::string(1024, 'b') + "\r\n400\r\n" + std::string(1024, 'b') + "\r\n0\r\n\r\n");
    EXPECT_EQ(local.read_reply().result_int(), 413);
  }
  {
    HttpTestConnection local(port());
    local.send("GET / HTTP/1.1\r\nHost: app\r\n");  // the header never ends
    HttpTestReply reply = local.read_reply();
    EXPECT_EQ(reply.result_int(), 408);
    EXPECT_EQ(error_name_of(reply), "request_timeout");
  }
  {
    HttpTestConnection local(port());
    HttpTestReply reply = local.get("/chat", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
    EXPECT_EQ(reply.result_int(), 501);
    EXPECT_EQ(error_name_of(reply), "not_implemented");
  }
  {
    HttpTestConnection local(port());
    local.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    EXPECT_EQ(local.read_reply().result_int(), 501);
  }
  EXPECT_TRUE(eventually([&] { return listener->stats().rejected == 6; }));
  EXPECT_FALSE(std::filesystem::exists(nginx->document_root() / "upload" / "big"));
}

// Documented behaviour: the first response is written with Connection: close, the pipelined
// request is not answered, and the connection closes.
TEST_F(HttpForwardListenerTest, RefusesPipeliningAfterTheFirstResponse) {
  start();
  open();
  HttpTestConnection local(port());
  local.send(testing::http_request("GET", "/") + testing::http_request("GET", "/second"));
  HttpTestReply first = local.read_reply();
  EXPECT_EQ(first.result_int(), 200);
  EXPECT_FALSE(first.keep_alive());
  EXPECT_TRUE(local.closed_by_server());
  EXPECT_EQ(listener->stats().requests, 1u);
}

TEST_F(HttpForwardListenerTest, AnswersUpstreamFailuresWithJsonNamingTheError) {
  // No nginx: the pool points at a port nobody listens on.
  pool = PoolBuilder("127.0.0.1:" + std::to_string(demo::pick_free_tcp_port()))
             .with_system_trust_store(false)
             .with_ca_file(authority.ca_certificate_file().string())
             .with_alpn({"h2", "http/1.1"})
             .with_circuit_breaker_failure_threshold(2)
             .with_reconnect_backoff(1ms, 10ms)
             .build(io.executor());
  open();
  testing::CapturedLog log;
  std::set<std::string> seen;
  for (int i = 0; i < 20 && !seen.contains("circuit_open"); ++i) {
    HttpTestConnection local(port());
    HttpTestReply reply = local.get("/");
    const std::string name = error_name_of(reply);
    seen.insert(name);
    EXPECT_EQ(reply[http::field::content_type], "application/json");
    if (name == "connect_refused") {
      EXPECT_EQ(reply.result_int(), 502);
    }
    if (name == "circuit_open") {
      EXPECT_EQ(reply.result_int(), 503);
    }
  }
  EXPECT_TRUE(seen.contains("connect_refused"));
  EXPECT_TRUE(seen.contains("circuit_open"));
  EXPECT_GE(listener->stats().upstream_errors, 2u);
  // A warning naming the error, and not one per failure (at most one a second).
  const std::string text = log.text();
  EXPECT_NE(text.find("upstream error connect_refused"), std::string::npos) << text;
  std::size_t lines = 0;
  for (auto at = text.find("http listener:"); at != std::string::npos; at = text.find("http listener:", at + 1)) ++lines;
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 2u) << text;
}

TEST_F(HttpForwardListenerTest, AnswersAnUntrustedUpstreamWith502) {
  start();
  // The pool trusts another CA than the one that issued nginx's certificate.
  const auto stranger = demo::CertificateAuthority::create();
  pool = PoolBuilder(nginx->endpoint())
             .with_system_trust_store(false)
             .with_ca_file(stranger.ca_certificate_file().string())
             .with_alpn({"h2"})
             .build(io.executor());
  open();
  HttpTestConnection local(port());
  HttpTestReply reply = local.get("/");
  EXPECT_EQ(reply.result_int(), 502);
  EXPECT_EQ(error_name_of(reply), "certificate_verify_failed");
  EXPECT_TRUE(reply.keep_alive());  // an upstream failure is an answer like any other
}

TEST_F(HttpForwardListenerTest, AnswersAnUpstreamTooSlowWith504) {
  options.generated_file_bytes = 100'000;  // /slow: far longer than the request timeout
  start();
  HttpForwardOptions listener_options;
  listener_options.request_timeout = 300ms;
  open(listener_options);
  HttpTestConnection local(port());
  HttpTestReply reply = local.get("/slow");
  EXPECT_EQ(reply.result_int(), 504);
  EXPECT_EQ(error_name_of(reply), "request_timeout");
  EXPECT_EQ(local.get("/").result_int(), 200);  // the connection carries on
}

TEST(HttpForwardErrors, MapsEachUpstreamErrorToItsStatus) {
  using daemon::upstream_error_status;
  EXPECT_EQ(upstream_error_status(errc::circuit_open), 503u);
  EXPECT_EQ(upstream_error_status(errc::acquire_timeout), 503u);
  EXPECT_EQ(upstream_error_status(errc::pool_exhausted), 503u);
  EXPECT_EQ(upstream_error_status(errc::request_timeout), 504u);
  EXPECT_EQ(upstream_error_status(errc::certificate_verify_failed), 502u);
  EXPECT_EQ(upstream_error_status(errc::tls_handshake_failed), 502u);
  EXPECT_EQ(upstream_error_status(errc::connection_closed), 502u);
  EXPECT_EQ(upstream_error_status(make_error_code(boost::system::errc::connection_reset)), 502u);
  const HttpResponse answer = daemon::upstream_error_response(errc::certificate_verify_failed);
  EXPECT_EQ(nlohmann::json::parse(answer.body())["error"], "certificate_verify_failed");
}

TEST_F(HttpForwardListenerTest, DrainFinishesTheResponseInFlightAndClosesIdleConnections) {
  constexpr std::size_t size = 2000;  // /slow sends 1 KiB/s: about a second in flight
  options.generated_file_bytes = size;
  start();
  open();
  HttpTestConnection idle(port());
  ASSERT_EQ(idle.get("/").result_int(), 200);
  HttpTestConnection busy(port());
  busy.send(testing::http_request("GET", "/slow"));
  ASSERT_TRUE(eventually([&] { return client->stats().requests_in_flight == 1; }));

  std::promise<void> drained;
  listener->async_drain(10s, [&] { drained.set_value(); });
  EXPECT_TRUE(idle.closed_by_server());
  HttpTestReply slow = busy.read_reply();
  EXPECT_EQ(slow.result_int(), 200);
  ASSERT_EQ(slow.body().size(), size);
  for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(slow.body()[i], demo::generated_file_byte(i)) << i;
  EXPECT_FALSE(slow.keep_alive());
  busy.socket().close();  // the listener lingers until its client has closed (or 2 s passed)
  EXPECT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(listener->stats().active_connections, 0u);
  EXPECT_THROW(HttpTestConnection refused(port(), 2s), std::exception);
}

TEST_F(HttpForwardListenerTest, StripsHopByHopHeadersFromAChunkedUpstreamResponse) {
  options.generated_file_bytes = 10'000;
  start();
  open({}, {"http/1.1"});
  HttpTestConnection local(port());
  // nginx answers /gzip chunked with a trailer on HTTP/1.1; the local client gets a length.
  HttpTestReply reply = local.get("/gzip", {{"Accept-Encoding", "gzip"}, {"Connection", "X-Private"}, {"X-Private", "1"}});
  EXPECT_EQ(reply.result_int(), 200);
  EXPECT_EQ(reply.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(reply.count(http::field::trailer), 0u);
  EXPECT_EQ(reply[http::field::content_length], std::to_string(reply.body().size()));
  EXPECT_EQ(reply[http::field::content_encoding], "gzip");
}

TEST(HttpForwardHeaders, RemovesHopByHopFieldsAndSetsTheUpstreamHost) {
  HttpRequest local{http::verb::get, "http://app.local:8080/path?q=1", 11};
  local.set(http::field::host, "app.local:8080");
  local.set(http::field::connection, "keep-alive, X-Session");
  local.set("X-Session", "secret");
  local.set(http::field::keep_alive, "timeout=5");
  local.set("Proxy-Connection", "keep-alive");
  local.set(http::field::te, "trailers");
  local.set(http::field::trailer, "X-Checksum");
  local.set(http::field::upgrade, "h2c");
  local.set(http::field::expect, "100-continue");
  local.set("X-Forwarded-For", "10.0.0.1");
  local.set("X-Kept", "yes");
  HttpRequest upstream = daemon::make_upstream_request(
      std::move(local), {.authority = "api.example.com", .add_forwarded_headers = true, .client_address = "127.0.0.1"});
  for (const char* gone : {"Connection", "X-Session", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade",
                           "Expect"}) {
    EXPECT_EQ(upstream.count(gone), 0u) << gone;
  }
  EXPECT_EQ(upstream["X-Kept"], "yes");
  EXPECT_EQ(upstream[http::field::host], "api.example.com");
  EXPECT_EQ(upstream.target(), "/path?q=1");
  EXPECT_EQ(upstream["X-Forwarded-For"], "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(upstream["X-Forwarded-Proto"], "http");
  EXPECT_EQ(upstream["X-Forwarded-Host"], "app.local:8080");

  HttpRequest plain{http::verb::get, "/", 11};
  plain.set(http::field::host, "app");
  HttpRequest without = daemon::make_upstream_request(std::move(plain), {.authority = "api.example.com"});
  EXPECT_EQ(without.count("X-Forwarded-For"), 0u);
  EXPECT_EQ(without.count("X-Forwarded-Host"), 0u);

  HttpResponse response{http::status::ok, 11};
  response.set(http::field::connection, "X-Hop");
  response.set("X-Hop", "1");
  response.set(http::field::transfer_encoding, "chunked");
  response.set("X-End", "kept");
  response.body() = "abc";
  HttpResponse back = daemon::make_local_response(std::move(response), false, true);
  EXPECT_EQ(back.count("X-Hop"), 0u);
  EXPECT_EQ(back.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(back["X-End"], "kept");
  EXPECT_EQ(back[http::field::content_length], "3");
}

TEST_F(HttpForwardListenerTest, ExportsItsMetrics) {
  start();
  open();
  HttpTestConnection local(port());
  ASSERT_EQ(local.get("/").result_int(), 200);
  EXPECT_TRUE(eventually([&] { return listener->stats().responses_2xx == 1; }));
  MetricFamilies families;
  daemon::collect_http_forward_metrics(*listener, "relay", "127.0.0.1:8080", families);
  const std::string text = families.render();
  EXPECT_NE(text.find("relay_listener_connections_accepted_total{listener=\"127.0.0.1:8080\",mode=\"http\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("relay_listener_connections_active{listener=\"127.0.0.1:8080\",mode=\"http\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("relay_listener_requests_total{listener=\"127.0.0.1:8080\",mode=\"http\",code=\"2xx\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("relay_listener_upstream_errors_total{listener=\"127.0.0.1:8080\",mode=\"http\"} 0"),
            std::string::npos) << text;
}

// The descriptors of /proc/self/fd with what they point to, for a failure message.
std::string open_descriptors() {
  std::string list;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ignored;
    list += entry.path().filename().string() + " -> " + std::filesystem::read_symlink(entry.path(), ignored).string() + "\n";
  }
  return list;
}

TEST_F(HttpForwardListenerTest, LeavesNoDescriptorOpen) {
  start();
  // Counted from the end of a first whole cycle: the io_context opens its reactor's descriptors
  // (epoll, eventfd, timerfd) with its first socket and keeps them; they are not the listener's.
  const auto cycle = [this] {
    open();
    {
      HttpTestConnection first(port());
      HttpTestConnection second(port());
      ASSERT_EQ(first.get("/").result_int(), 200);
      ASSERT_EQ(second.get("/").result_int(), 200);
    }
    std::promise<void> drained;
    listener->async_drain(1s, [&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
    std::promise<void> shut_down;
    pool->async_shutdown(1s, [&](boost::system::error_code) { shut_down.set_value(); });
    ASSERT_EQ(shut_down.get_future().wait_for(10s), std::future_status::ready);
    listener.reset();
    client.reset();
    pool.reset();
  };
  cycle();
  const std::size_t before = testing::count_open_file_descriptors();
  const std::string before_list = open_descriptors();
  cycle();
  EXPECT_TRUE(eventually([&] { return testing::count_open_file_descriptors() <= before; }, 5s))
      << "before:\n" << before_list << "after:\n" << open_descriptors();
}

}  // namespace
}  // namespace securechannel

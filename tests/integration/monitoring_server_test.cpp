// MonitoringServer over real loopback sockets: keep-alive, HEAD, authentication, limits,
// timeouts, handler failures, slow clients, stop() and bind errors.
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "monitoring_servers.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/secure_buffer.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::eventually;
using testing::HttpTestConnection;
using testing::HttpTestReply;

constexpr std::string_view token = "s3cret-monitoring-token";

// Answers every GET/HEAD with a small JSON body naming the target; 405 otherwise; throws on
// "/throw". Called on the server's threads, read by the test's: hence the lock and the atomic.
class RecordingHandler {
 public:
  MonitoringResponse operator()(const MonitoringRequest& request) {
    calls_.fetch_add(1);
    {
      std::lock_guard lock(mutex_);
      last_method_ = request.method;
      last_target_ = request.target;
    }
    if (request.target.starts_with("/throw")) throw std::runtime_error("handler exploded");
    MonitoringResponse response;
    if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.body = R"({"error":"method_not_allowed","message":"GET or HEAD"})";
      response.headers.emplace_back("Allow", "GET, HEAD");
      return response;
    }
    response.body = nlohmann::json{{"target", request.target}}.dump();
    return response;
  }

  int calls() const { return calls_.load(); }
  std::pair<std::string, std::string> last_request() const {
    std::lock_guard lock(mutex_);
    return {last_method_, last_target_};
  }

 private:
  std::atomic<int> calls_{0};
  mutable std::mutex mutex_;
  std::string last_method_;
  std::string last_target_;
};

// Collects what is logged, to prove the token never is.
class CapturingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    text_.append(message.payload.data(), message.payload.size()).append("\n");
  }
  void flush_() override {}

 private:
  std::string text_;
};

nlohmann::json json_body(const HttpTestReply& reply) { return nlohmann::json::parse(reply.body()); }

// The shape of every error the server answers itself.
void expect_json_error(const HttpTestReply& reply, unsigned status, const std::string& error) {
  EXPECT_EQ(reply.result_int(), status);
  EXPECT_EQ(reply[http::field::content_type], "application/json");
  EXPECT_EQ(reply[http::field::cache_control], "no-store");
  const auto body = json_body(reply);
  EXPECT_EQ(body.at("error"), error);
  EXPECT_TRUE(body.at("message").is_string());
}

class MonitoringServerTest : public ::testing::Test {
 protected:
  std::shared_ptr<MonitoringServer> create_server(MonitoringServerOptions options = {}) {
    return servers.create(std::move(options));
  }
  std::shared_ptr<MonitoringServer> start_server(MonitoringServerOptions options = {}) {
    return servers.start(std::move(options));
  }
  static MonitoringServerOptions with_token() { return testing::MonitoringServers::with_token(token); }

  RecordingHandler handler;
  testing::IoThread io;
  testing::MonitoringServers servers{io, [this](const MonitoringRequest& request) { return handler(request); }};
};

TEST_F(MonitoringServerTest, PassesMethodAndTargetToHandlerAndSetsRequiredHeaders) {
  auto server = start_server();
  EXPECT_EQ(server->base_url(), "http://127.0.0.1:" + std::to_string(server->port()));
  HttpTestConnection connection(server->port());
  const HttpTestReply reply = connection.get("/api/v1/secure-channel/status?pool=primary");
  EXPECT_EQ(reply.result_int(), 200);
  EXPECT_EQ(reply[http::field::content_type], "application/json");
  EXPECT_EQ(reply[http::field::cache_control], "no-store");
  EXPECT_EQ(reply[http::field::content_length], std::to_string(reply.body().size()));
  EXPECT_EQ(json_body(reply).at("target"), "/api/v1/secure-channel/status?pool=primary");
  EXPECT_EQ(handler.last_request(), std::make_pair(std::string("GET"), std::string("/api/v1/secure-channel/status?pool=primary")));
  EXPECT_EQ(server->stats().requests_served, 1u);
}

TEST_F(MonitoringServerTest, Http11KeepsTheConnectionForFurtherRequests) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  for (int i = 0; i < 5; ++i) {
    const HttpTestReply reply = connection.get("/metrics");
    EXPECT_EQ(reply.result_int(), 200);
    EXPECT_TRUE(reply.keep_alive());
  }
  EXPECT_EQ(server->open_connections(), 1u);
  EXPECT_EQ(handler.calls(), 5);
}

TEST_F(MonitoringServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  connection.send(testing::http_request("GET", "/first") + testing::http_request("GET", "/second"));
  EXPECT_EQ(json_body(connection.read_reply()).at("target"), "/first");
  EXPECT_EQ(json_body(connection.read_reply()).at("target"), "/second");
}

TEST_F(MonitoringServerTest, Http10IsAnsweredThenClosed) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  connection.send(testing::http_request("GET", "/metrics", {{"Connection", "keep-alive"}}, "HTTP/1.0"));
  const HttpTestReply reply = connection.read_reply();
  EXPECT_EQ(reply.result_int(), 200);
  EXPECT_FALSE(reply.keep_alive());
  EXPECT_TRUE(connection.closed_by_server());
}

TEST_F(MonitoringServerTest, ConnectionCloseIsHonoured) {
  auto server = start_server();
  {
    HttpTestConnection connection(server->port());
    const HttpTestReply reply = connection.get("/metrics", {{"Connection", "close"}});
    EXPECT_EQ(reply.result_int(), 200);
    EXPECT_FALSE(reply.keep_alive());
    EXPECT_TRUE(connection.closed_by_server());
  }
  // The server reads until the client has closed too (see linger in monitoring_session.cpp).
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
}

TEST_F(MonitoringServerTest, HeadGetsTheHeadersOfGetWithoutBody) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  const HttpTestReply get = connection.get("/metrics");
  const HttpTestReply head = connection.request("HEAD", "/metrics");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], get[http::field::content_length]);
  EXPECT_EQ(head[http::field::content_type], get[http::field::content_type]);
  EXPECT_EQ(head[http::field::cache_control], "no-store");
  EXPECT_TRUE(head.body().empty());
  // Had a body been sent after the HEAD response, it would now be read as a malformed response.
  EXPECT_EQ(connection.get("/after-head").result_int(), 200);
}

TEST_F(MonitoringServerTest, OtherMethodsReachTheHandlerWhichAnswers405) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  const HttpTestReply reply = connection.request("DELETE", "/metrics");
  EXPECT_EQ(reply.result_int(), 405);
  EXPECT_EQ(reply[http::field::allow], "GET, HEAD");
  EXPECT_EQ(handler.last_request().first, "DELETE");
  EXPECT_TRUE(connection.closed_by_server()) << "a probe of methods pays a connection per try";
}

TEST_F(MonitoringServerTest, GetWithContentLengthBodyIs400AndClosed) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  connection.send(testing::http_request("GET", "/metrics", {{"Content-Length", "5"}}) + "hello");
  expect_json_error(connection.read_reply(), 400, "bad_request");
  EXPECT_TRUE(connection.closed_by_server());
  EXPECT_EQ(handler.calls(), 0);
}

TEST_F(MonitoringServerTest, HeadWithChunkedBodyIs400) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  connection.send(testing::http_request("HEAD", "/metrics", {{"Transfer-Encoding", "chunked"}}) + "5\r\nhello\r\n0\r\n\r\n");
  const HttpTestReply reply = connection.read_reply(/*head_request=*/true);
  EXPECT_EQ(reply.result_int(), 400);
  EXPECT_EQ(handler.calls(), 0);
}

TEST_F(MonitoringServerTest, GetWithEmptyContentLengthIsServed) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  EXPECT_EQ(connection.get("/metrics", {{"Content-Length", "0"}}).result_int(), 200);
  EXPECT_EQ(connection.get("/metrics").result_int(), 200);
}

TEST_F(MonitoringServerTest, MalformedRequestIs400AndClosed) {
  auto server = start_server();
  HttpTestConnection connection(server->port());
  connection.send("GET /metrics HTTP/9\r\n\r\n");
  expect_json_error(connection.read_reply(), 400, "bad_request");
  EXPECT_TRUE(connection.closed_by_server());

  HttpTestConnection bad_header(server->port());
  bad_header.send("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n");
  expect_json_error(bad_header.read_reply(), 400, "bad_request");
  EXPECT_EQ(server->stats().bad_requests, 2u);
  EXPECT_EQ(handler.calls(), 0);
}

TEST_F(MonitoringServerTest, HeaderOverTheLimitIs431AndClosed) {
  MonitoringServerOptions options;
  options.max_header_bytes = 1024;
  auto server = start_server(options);
  HttpTestConnection connection(server->port());
  connection.send(testing::http_request("GET", "/metrics", {{"X-Padding", std::string(2000, 'a')}}));
  expect_json_error(connection.read_reply(), 431, "request_header_fields_too_large");
  EXPECT_TRUE(connection.closed_by_server());

  // A request line alone that never ends is cut off at the limit too, not buffered forever.
  HttpTestConnection endless(server->port());
  endless.send("GET /" + std::string(4000, 'a'));
  expect_json_error(endless.read_reply(), 431, "request_header_fields_too_large");
}

TEST_F(MonitoringServerTest, IncompleteHeaderIs408AfterReadTimeout) {
  MonitoringServerOptions options;
  options.read_timeout = 200ms;
  auto server = start_server(options);
  HttpTestConnection connection(server->port());
  connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  expect_json_error(connection.read_reply(), 408, "request_timeout");
  EXPECT_TRUE(connection.closed_by_server());
  EXPECT_EQ(server->stats().timed_out, 1u);

  HttpTestConnection silent(server->port());
  expect_json_error(silent.read_reply(), 408, "request_timeout");
}

TEST_F(MonitoringServerTest, IdleKeepAliveConnectionIsClosedWithoutResponse) {
  MonitoringServerOptions options;
  options.idle_timeout = 200ms;
  auto server = start_server(options);
  HttpTestConnection connection(server->port());
  EXPECT_EQ(connection.get("/metrics").result_int(), 200);
  EXPECT_TRUE(connection.closed_by_server());  // end of stream, no 408 in front of it
  EXPECT_EQ(server->stats().timed_out, 0u);
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
}

TEST_F(MonitoringServerTest, TokenIsRequiredExceptOnProbePaths) {
  auto server = start_server(with_token());
  const std::string same_length_wrong(token.size(), 'x');
  const std::string prefix(token.substr(0, token.size() - 1));
  const std::string longer = std::string(token) + "x";
  for (const testing::HttpTestHeaders& headers :
       {testing::HttpTestHeaders{}, testing::HttpTestHeaders{{"X-Auth-Token", same_length_wrong}},
        testing::HttpTestHeaders{{"X-Auth-Token", prefix}}, testing::HttpTestHeaders{{"X-Auth-Token", longer}},
        testing::HttpTestHeaders{{"X-Auth-Token", ""}}, testing::HttpTestHeaders{{"Authorization", std::string(token)}}}) {
    HttpTestConnection guess(server->port());
    const HttpTestReply reply = guess.get("/metrics", headers);
    expect_json_error(reply, 401, "unauthorized");
    EXPECT_EQ(json_body(reply).at("message"), "missing or invalid X-Auth-Token");
    EXPECT_EQ(reply.body().find(token), std::string::npos);
    EXPECT_TRUE(guess.closed_by_server()) << "a wrong token ends the connection";
  }
  EXPECT_EQ(handler.calls(), 0);
  EXPECT_EQ(server->stats().rejected_unauthorized, 6u);

  HttpTestConnection connection(server->port());
  EXPECT_EQ(connection.get("/metrics", {{"X-Auth-Token", std::string(token)}}).result_int(), 200);
  EXPECT_EQ(connection.get("/healthz").result_int(), 200);
  EXPECT_EQ(connection.get("/readyz?pool=primary").result_int(), 200);
  EXPECT_EQ(connection.get("/healthz/").result_int(), 401);  // exact match only
  EXPECT_EQ(HttpTestConnection(server->port()).request("HEAD", "/metrics").result_int(), 401);
  EXPECT_EQ(handler.calls(), 3);
}

TEST_F(MonitoringServerTest, TheTokenIsHeldInASecureBufferWhileTheServerLives) {
  const std::size_t buffers_before = memory_protection_status().buffers;
  {
    MonitoringServerOptions options = with_token();
    options.port = 0;
    boost::system::error_code error;
    auto server = MonitoringServer::create(
        io.executor(), std::move(options), [this](const MonitoringRequest& request) { return handler(request); },
        error);
    ASSERT_TRUE(server) << error.message();
    const MemoryProtectionStatus status = memory_protection_status();
    EXPECT_EQ(status.buffers, buffers_before + 1);
    EXPECT_TRUE(status.enabled) << "the token's page is locked";
    EXPECT_TRUE(status.self_check);
    server->start();
    HttpTestConnection connection(server->port());
    EXPECT_EQ(connection.get("/metrics", {{"X-Auth-Token", std::string(token)}}).result_int(), 200);
    EXPECT_EQ(connection.get("/metrics", {{"X-Auth-Token", std::string(token) + "x"}}).result_int(), 401);
    server->stop();
  }
  EXPECT_TRUE(eventually([&] { return memory_protection_status().buffers == buffers_before; }))
      << "the buffer goes (wiped) with the server";
  create_server();  // no token, no buffer
  EXPECT_EQ(memory_protection_status().buffers, buffers_before);
}

TEST_F(MonitoringServerTest, HandlerExceptionIs500AndLoggedWithoutToken) {
  auto sink = std::make_shared<CapturingSink>();
  const auto previous_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  auto server = start_server(with_token());
  HttpTestConnection connection(server->port());
  const testing::HttpTestHeaders authorized{{"X-Auth-Token", std::string(token)}};
  expect_json_error(connection.get("/throw?detail=1", authorized), 500, "internal_error");
  EXPECT_EQ(connection.get("/metrics", authorized).result_int(), 200);  // the connection survives
  // Through the handler's lock: the server thread's logging happens-before the logger swap
  // (ThreadSanitizer does not see the ordering the socket gives).
  EXPECT_EQ(handler.last_request().second, "/metrics");
  spdlog::set_default_logger(previous_logger);

  const std::string logged = sink->text();
  EXPECT_NE(logged.find("handler exploded"), std::string::npos) << logged;
  EXPECT_NE(logged.find("/throw"), std::string::npos) << logged;
  EXPECT_EQ(logged.find(token), std::string::npos) << logged;
  EXPECT_EQ(server->stats().handler_failures, 1u);
}

TEST_F(MonitoringServerTest, IdleAndSlowClientsDoNotBlockOthers) {
  testing::raise_file_descriptor_limit();
  MonitoringServerOptions options;
  options.max_connections = 150;
  auto server = start_server(options);
  std::vector<std::unique_ptr<HttpTestConnection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<HttpTestConnection>(server->port()));
    if (i % 2 == 1) idle.back()->send("GET /met");  // half a request line
  }
  ASSERT_TRUE(eventually([&] { return server->open_connections() == 100; }));
  HttpTestConnection fresh(server->port(), 2s);
  EXPECT_EQ(fresh.get("/metrics").result_int(), 200);
  EXPECT_EQ(server->open_connections(), 101u);
}

TEST_F(MonitoringServerTest, AtTheCapAcceptingPausesAndTheNextClientWaitsInTheBacklog) {
  auto server = start_server();  // max_connections = 64
  std::vector<std::unique_ptr<HttpTestConnection>> admitted;
  for (int i = 0; i < 64; ++i) {
    admitted.push_back(std::make_unique<HttpTestConnection>(server->port()));
    ASSERT_EQ(admitted.back()->get("/metrics").result_int(), 200);  // proves it holds a slot
  }
  EXPECT_EQ(server->open_connections(), 64u);
  EXPECT_EQ(server->stats().accept_pauses, 1u);

  // The kernel completes the 65th connection from the backlog; the server does not take it.
  HttpTestConnection waiting(server->port());
  waiting.send(testing::http_request("GET", "/waited"));
  std::this_thread::sleep_for(200ms);  // a window in which an eager server would have answered
  EXPECT_EQ(server->open_connections(), 64u);
  EXPECT_EQ(handler.calls(), 64);
  for (auto& connection : admitted) EXPECT_EQ(connection->get("/metrics").result_int(), 200);

  admitted.pop_back();  // frees a slot once the server sees the close: accepting resumes
  EXPECT_EQ(waiting.read_reply().result_int(), 200);
  EXPECT_EQ(handler.last_request().second, "/waited");
  EXPECT_EQ(server->open_connections(), 64u);
}

TEST_F(MonitoringServerTest, NothingIsAcceptedBeforeStart) {
  auto server = create_server();
  HttpTestConnection early(server->port());  // the kernel completes the handshake from the backlog
  early.send(testing::http_request("GET", "/metrics"));
  std::this_thread::sleep_for(100ms);  // a window in which an eager server would have answered
  EXPECT_EQ(handler.calls(), 0);
  EXPECT_EQ(server->open_connections(), 0u);
  server->start();
  EXPECT_EQ(early.read_reply().result_int(), 200);
}

TEST_F(MonitoringServerTest, StopClosesTheAcceptorAndEveryConnection) {
  {
    // The io_context opens its reactor's descriptors with its first I/O object: before counting.
    asio::ip::tcp::socket warm_up(io.io());
  }
  const std::size_t descriptors_before = testing::count_open_file_descriptors();

  auto server = start_server();
  const std::uint16_t port = server->port();
  {
    HttpTestConnection keep_alive(port);
    EXPECT_EQ(keep_alive.get("/metrics").result_int(), 200);
    HttpTestConnection mid_request(port);
    mid_request.send("GET /metrics HTTP/1.1\r\n");
    HttpTestConnection silent(port);
    ASSERT_TRUE(eventually([&] { return server->open_connections() == 3; }));

    server->stop();
    server->stop();  // idempotent
    EXPECT_TRUE(keep_alive.closed_by_server());
    EXPECT_TRUE(mid_request.closed_by_server());
    EXPECT_TRUE(silent.closed_by_server());
  }
  // Each connection closes its socket, then frees its slot: wait for the count, then the descriptors.
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
  EXPECT_TRUE(eventually([&] { return testing::count_open_file_descriptors() == descriptors_before; }))
      << testing::count_open_file_descriptors() << " descriptors open, " << descriptors_before << " before";

  boost::system::error_code error;
  asio::io_context client_io;
  asio::ip::tcp::socket probe(client_io);
  probe.connect({asio::ip::make_address_v4("127.0.0.1"), port}, error);
  EXPECT_EQ(error, asio::error::connection_refused);
}

TEST_F(MonitoringServerTest, BindFailureIsReportedAsErrorCode) {
  auto first = start_server();
  MonitoringServerOptions options;
  options.port = first->port();
  boost::system::error_code error;
  auto second = MonitoringServer::create(io.executor(), options, [this](const MonitoringRequest& r) { return handler(r); },
                                         error);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(error, asio::error::address_in_use);

  options.host = "not-an-address";
  EXPECT_EQ(MonitoringServer::create(io.executor(), options, [this](const MonitoringRequest& r) { return handler(r); },
                                     error),
            nullptr);
  EXPECT_TRUE(error);
  EXPECT_EQ(MonitoringServer::create(io.executor(), {}, MonitoringHandler{}, error), nullptr);
  EXPECT_EQ(error, boost::system::errc::invalid_argument);
}

TEST_F(MonitoringServerTest, ServesFromAMultiThreadedIoContext) {
  asio::io_context pool_io;
  auto work = asio::make_work_guard(pool_io);
  std::vector<std::thread> io_threads;
  for (int i = 0; i < 4; ++i) io_threads.emplace_back([&] { pool_io.run(); });

  boost::system::error_code error;
  MonitoringServerOptions options = with_token();
  options.port = 0;
  auto server = MonitoringServer::create(pool_io.get_executor(), options,
                                         [this](const MonitoringRequest& r) { return handler(r); }, error);
  ASSERT_TRUE(server) << error.message();
  server->start();

  std::atomic<int> successes{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      HttpTestConnection connection(server->port());
      for (int i = 0; i < 20; ++i) {
        const bool probe = (c + i) % 3 == 0;
        const auto reply = probe ? connection.get("/healthz")
                                 : connection.get("/metrics", {{"X-Auth-Token", std::string(token)}});
        if (reply.result_int() == 200) successes.fetch_add(1);
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(successes.load(), 160);
  server->stop();
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
  work.reset();
  for (auto& thread : io_threads) thread.join();
}

}  // namespace
}  // namespace securechannel

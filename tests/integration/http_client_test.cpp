// HttpClient against a real nginx (TLS 1.3; HTTP/1.1 keep-alive or HTTP/2 by ALPN): reuse,
// multiplexing, keep-alive connections the server closed (never written on), GOAWAY under load,
// 8 MiB bodies both ways, and the errors a caller sees.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/monitored_pools.hpp"

#include <boost/beast/http/field.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

using Outcome = testing::HttpOutcome;

class HttpClientTest : public testing::NginxHttpTest {};

TEST_F(HttpClientTest, Http11RequestsReuseKeepAliveConnections) {
  start();
  HttpClient client(builder({"http/1.1"}).with_max_connections(10).build(io.executor()));
  for (int i = 0; i < 100; ++i) {
    Outcome outcome = send(client, request(http::verb::get, "/")).get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200u);
    EXPECT_EQ(outcome.response.body(), "hello\n");
  }
  const HttpClientStats stats = client.stats();
  EXPECT_EQ(stats.protocol, HttpProtocol::http1_1);
  EXPECT_EQ(stats.requests, 100u);
  EXPECT_GE(stats.requests_on_reused_connections, 99u);
  EXPECT_EQ(client.pool()->stats().connections_created, 1u);
}

// One client used from several threads at once: an io_context run by four threads, callers on
// two more, and deadlines that fire while responses arrive. An HTTP/1.1 request starts on its
// caller's thread and completes on whichever io thread read its response, with no strand in
// between, so this is where ThreadSanitizer watches that path. Each request completes once.
TEST_F(HttpClientTest, OneClientServesManyThreadsWhileDeadlinesRaceResponses) {
  options.generated_file_bytes = 64 * 1024;  // /slow sends it at 1 KiB/s: far beyond 50 ms
  start();
  testing::IoThread threads(4);
  // 400 requests queue for 8 connections, 40 of which are cut and re-made: under
  // ThreadSanitizer on a loaded machine the queue's tail may wait longer than the default 5 s
  // acquire timeout, which is not what this test is about.
  auto pool =
      builder({"http/1.1"}).with_max_connections(8).with_acquire_timeout(std::chrono::seconds(60)).build(threads.executor());
  {
    HttpClient client(pool);
    ASSERT_FALSE(send(client, request(http::verb::get, "/")).get().error) << "the protocol is learned first";
    std::atomic<int> answered{0};
    std::atomic<int> timed_out{0};
    std::atomic<int> unexpected{0};
    const auto send_from_this_thread = [&](int count) {
      std::vector<std::future<Outcome>> outcomes;
      for (int i = 0; i < count; ++i) {
        const bool slow = i % 10 == 0;
        HttpRequestOptions request_options{.timeout = slow ? 50ms : 20'000ms};
        outcomes.push_back(send(client, request(http::verb::get, slow ? "/slow" : "/"), std::move(request_options)));
      }
      for (auto& future : outcomes) {
        const Outcome outcome = future.get();
        if (!outcome.error && outcome.response.body() == "hello\n") {
          ++answered;
        } else if (outcome.error == errc::request_timeout) {
          ++timed_out;
        } else {
          ++unexpected;
          ADD_FAILURE() << "unexpected outcome: " << outcome.error.message() << ", status "
                        << outcome.response.result_int();
        }
      }
    };
    std::thread first(send_from_this_thread, 200);
    std::thread second(send_from_this_thread, 200);
    first.join();
    second.join();
    EXPECT_EQ(answered.load(), 360);
    EXPECT_EQ(timed_out.load(), 40);
    EXPECT_EQ(unexpected.load(), 0);
    const HttpClientStats stats = client.stats();
    EXPECT_EQ(stats.requests, 361u);
    EXPECT_EQ(stats.failed_requests, 40u);
    EXPECT_EQ(stats.requests_in_flight, 0u);
  }
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().leased_connections == 0; }))
      << "every connection came back, the aborted ones included";
}

TEST_F(HttpClientTest, Http2MultiplexesConcurrentRequestsOnOneConnection) {
  start();
  HttpClient client(builder({"h2", "http/1.1"}).with_max_connections(1).build(io.executor()));
  std::vector<std::future<Outcome>> outcomes;
  for (int i = 0; i < 100; ++i) outcomes.push_back(send(client, request(http::verb::get, "/")));
  for (auto& future : outcomes) {
    Outcome outcome = future.get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.body(), "hello\n");
  }
  const HttpClientStats stats = client.stats();
  EXPECT_EQ(stats.protocol, HttpProtocol::http2);
  EXPECT_EQ(stats.requests, 100u);
  ASSERT_EQ(stats.http2_connections.size(), 1u);
  EXPECT_EQ(stats.http2_connections[0].streams_started, 100u);
  EXPECT_EQ(client.pool()->stats().connections_created, 1u);
}

TEST_F(HttpClientTest, KeepAliveConnectionClosedByTheServerIsNotWrittenOn) {
  options.keepalive_timeout_seconds = 1;
  start();
  // No probe at checkout by the pool: the client's own look before writing finds the closure,
  // so even a POST goes out on a new connection, once, with no retry. (A server that closes as
  // the request arrives: HostileHttp1ServerTest.ClosedOnArrival...)
  auto pool = builder({"http/1.1"}).with_validate_after_inactivity(3600s).build(io.executor());
  HttpClient client(pool);
  ASSERT_FALSE(send(client, request(http::verb::get, "/")).get().error);
  wait_until_server_closed_the_idle_connection(*pool);

  Outcome get = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(get.error) << get.error.message();
  EXPECT_EQ(get.response.body(), "hello\n");

  wait_until_server_closed_the_idle_connection(*pool);
  Outcome post = send(client, request(http::verb::post, "/upload/x", "order=1")).get();
  ASSERT_FALSE(post.error) << post.error.message();
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(pool->stats().connections_created, 3u);
}

TEST_F(HttpClientTest, GoawayUnderLoadLosesNoRequest) {
  options.max_requests_per_connection = 25;  // nginx sends GOAWAY after 25 streams on a connection
  start();
  HttpClient client(builder({"h2"}).with_max_connections(2).build(io.executor()));
  std::vector<std::future<Outcome>> outcomes;
  for (int i = 0; i < 200; ++i) outcomes.push_back(send(client, request(http::verb::get, "/")));
  for (auto& future : outcomes) {
    Outcome outcome = future.get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200u);
  }
  const HttpClientStats stats = client.stats();
  EXPECT_EQ(stats.requests, 200u);
  EXPECT_GE(stats.goaways, 7u) << "every connection but the last is told to go away after 25 streams";
  EXPECT_GE(client.pool()->stats().connections_created, 8u)
      << "200 streams at 25 per connection take at least 8 connections";
}

class HttpClientBodiesTest : public HttpClientTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(HttpClientBodiesTest, EightMebibytesDownAndUp) {
  constexpr std::size_t size = 8 * 1024 * 1024;
  options.generated_file_bytes = size;
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  Outcome download = send(client, request(http::verb::get, "/big")).get();
  ASSERT_FALSE(download.error) << download.error.message();
  ASSERT_EQ(download.response.body().size(), size);
  for (std::size_t i = 0; i < size; i += 4093) ASSERT_EQ(download.response.body()[i], demo::generated_file_byte(i)) << i;

  Outcome upload = send(client, request(http::verb::put, "/upload/body", download.response.body())).get();
  ASSERT_FALSE(upload.error) << upload.error.message();
  EXPECT_EQ(upload.response.result_int(), 201u);
  std::ifstream stored(nginx->document_root() / "upload" / "body", std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(stored)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(content == download.response.body()) << "stored " << content.size() << " bytes";
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientBodiesTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

class HttpClientSharedRequestTest : public HttpClientTest, public ::testing::WithParamInterface<const char*> {};

// A shared request goes out on many calls at once, as it is, and is never changed; one that still
// needs its Content-Length is completed on a copy.
TEST_P(HttpClientSharedRequestTest, OneRequestServesManyCallsUnchanged) {
  start();
  HttpClient client(builder({GetParam()}).with_max_connections(4).build(io.executor()));
  auto get = std::make_shared<const HttpRequest>([&] {
    HttpRequest r = request(http::verb::get, "/");
    r.prepare_payload();
    return r;
  }());
  const std::size_t fields_before = std::distance(get->begin(), get->end());
  std::vector<std::future<Outcome>> outcomes;
  for (int i = 0; i < 60; ++i) outcomes.push_back(send(client, get));
  for (auto& future : outcomes) {
    Outcome outcome = future.get();
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.body(), "hello\n");
  }
  EXPECT_EQ(std::distance(get->begin(), get->end()), fields_before);
  EXPECT_TRUE(testing::eventually([&] { return get.use_count() == 1; })) << "every call let go of the request";

  // A body without its Content-Length: sent from a completed copy, the shared one untouched.
  const auto post = std::make_shared<const HttpRequest>(request(http::verb::put, "/upload/shared", "order=1"));
  Outcome stored = send(client, post).get();
  ASSERT_FALSE(stored.error) << stored.error.message();
  EXPECT_EQ(stored.response.result_int(), 201u);
  EXPECT_EQ(post->find(http::field::content_length), post->end());
  std::ifstream file(nginx->document_root() / "upload" / "shared", std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>()), "order=1");
  EXPECT_EQ(client.stats().requests, 61u);

  EXPECT_THROW(client.async_request(std::shared_ptr<const HttpRequest>{}, {}, [](boost::system::error_code, HttpResponse) {}),
               std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientSharedRequestTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

class HttpClientExchangeInfoTest : public HttpClientTest, public ::testing::WithParamInterface<const char*> {};

// Each response says which connection carried it, whether that connection had served before,
// and where the time went.
TEST_P(HttpClientExchangeInfoTest, TheResponseTellsHowItCame) {
  start();
  auto pool = builder({GetParam()}).build(io.executor());
  HttpClient client(pool);
  const HttpProtocol protocol = std::string(GetParam()) == "h2" ? HttpProtocol::http2 : HttpProtocol::http1_1;

  const Outcome first = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(first.error) << first.error.message();
  const HttpExchangeInfo& made = first.response.exchange;
  const auto connections = pool->connection_snapshots();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(made.connection_id, connections[0].connection_id);
  EXPECT_FALSE(made.reused);
  EXPECT_EQ(made.protocol, protocol);
  EXPECT_EQ(made.attempts, 1u);
  EXPECT_GT(made.acquire_time.count(), 0) << "a connect and a handshake take time";
  EXPECT_LT(made.acquire_time, made.time_to_first_byte);
  EXPECT_LE(made.time_to_first_byte, made.total_time);

  const Outcome second = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(second.error) << second.error.message();
  const HttpExchangeInfo& reused = second.response.exchange;
  EXPECT_EQ(reused.connection_id, made.connection_id);
  EXPECT_TRUE(reused.reused);
  EXPECT_EQ(reused.protocol, protocol);
  EXPECT_LT(reused.acquire_time, made.acquire_time) << "no connect the second time";
  EXPECT_LE(reused.acquire_time, reused.time_to_first_byte);
  EXPECT_LE(reused.time_to_first_byte, reused.total_time);
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientExchangeInfoTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

class HttpClientRequestsPerConnectionTest : public HttpClientTest, public ::testing::WithParamInterface<const char*> {};

// max_requests_per_connection 100: 1,000 requests, 8 at a time. No connection carries more than
// 100, each that did is replaced (HTTP/2: after a GOAWAY of ours once its streams are done), and
// no request fails on the way. The 8 in flight fit on one HTTP/2 connection: 10 in turn, 100
// each. HTTP/1.1 spreads them over 8 connections at a time.
TEST_P(HttpClientRequestsPerConnectionTest, ConnectionsAreReplacedAsCounted) {
  start();
  auto pool = builder({GetParam()}).with_max_connections(8).with_max_requests_per_connection(100).build(io.executor());
  HttpClient client(pool);
  constexpr int total = 1000;
  constexpr int in_flight = 8;
  std::atomic<int> failures{0};
  std::mutex mutex;
  std::map<std::uint64_t, int> requests_by_connection;
  std::vector<std::future<Outcome>> batch;
  for (int sent = 0; sent < total; sent += in_flight) {
    batch.clear();
    for (int i = 0; i < in_flight; ++i) batch.push_back(send(client, request(http::verb::get, "/")));
    for (auto& future : batch) {
      const Outcome outcome = future.get();
      if (outcome.error || outcome.response.result_int() != 200) {
        ++failures;
        continue;
      }
      std::lock_guard lock(mutex);
      ++requests_by_connection[outcome.response.exchange.connection_id];
    }
  }
  EXPECT_EQ(failures.load(), 0);
  std::uint64_t full = 0;
  for (const auto& [connection, requests] : requests_by_connection) {
    EXPECT_LE(requests, 100) << "connection " << connection;
    if (requests == 100) ++full;
  }
  // Every connection that carried a request was created; one more may have been opened for a
  // waiter that a released connection served first, and then never carried one.
  EXPECT_GE(pool->stats().connections_created, requests_by_connection.size());
  if (std::string(GetParam()) == "h2") {
    EXPECT_EQ(requests_by_connection.size(), 10u);
    EXPECT_EQ(full, 10u);
  } else {
    EXPECT_GE(full, 2u) << "1,000 requests over 8 connections: some reached 100";
    EXPECT_TRUE(testing::eventually([&] { return pool->stats().closed_max_requests == full; }))
        << "every connection that carried 100 was closed";
  }
}


// With one connection allowed, the replacement waits in the pool's line until the spent
// connection has closed: a gap in capacity, but no request fails for it.
TEST_P(HttpClientRequestsPerConnectionTest, TheOnlyConnectionAllowedIsReplacedToo) {
  start();
  auto pool = builder({GetParam()}).with_max_connections(1).with_max_requests_per_connection(10).build(io.executor());
  HttpClient client(pool);
  std::vector<std::future<Outcome>> batch;
  int failures = 0;
  for (int sent = 0; sent < 100; sent += 4) {
    batch.clear();
    for (int i = 0; i < 4; ++i) batch.push_back(send(client, request(http::verb::get, "/")));
    for (auto& future : batch) {
      const Outcome outcome = future.get();
      if (outcome.error) {
        ++failures;
        ADD_FAILURE() << outcome.error.message();
      }
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(pool->stats().connections_created, 10u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientRequestsPerConnectionTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

TEST_F(HttpClientTest, ErrorsNameTheProblem) {
  options.generated_file_bytes = 64 * 1024;
  start();
  HttpClient client(builder({"http/1.1"}).build(io.executor()));
  Outcome slow = send(client, request(http::verb::get, "/slow"), {.timeout = 300ms}).get();
  EXPECT_EQ(slow.error, errc::request_timeout);
  Outcome large = send(client, request(http::verb::get, "/big"), {.max_response_body = 1000}).get();
  EXPECT_EQ(large.error, errc::response_too_large);
  Outcome missing = send(client, request(http::verb::get, "/upload/none")).get();
  ASSERT_FALSE(missing.error);
  EXPECT_EQ(missing.response.result_int(), 404u) << "a status is a response, not an error";
  EXPECT_EQ(client.stats().failed_requests, 2u);
}

}  // namespace
}  // namespace securechannel

namespace securechannel {
namespace {

TEST_F(HttpClientTest, ChunkedGzipResponsesAreDecodedWithTheirTrailer) {
  constexpr std::size_t size = 1024 * 1024;
  options.generated_file_bytes = size;
  start();
  HttpClient client(builder({"http/1.1"}).build(io.executor()));
  Outcome raw = send(client, [&] {
    HttpRequest r = request(http::verb::get, "/gzip");
    r.set(http::field::accept_encoding, "gzip");
    return r;
  }()).get();
  ASSERT_FALSE(raw.error) << raw.error.message();
  EXPECT_EQ(raw.response[http::field::content_encoding], "gzip");
  EXPECT_TRUE(raw.response.chunked()) << "no Content-Length: nginx streams the compressed body in chunks";
  EXPECT_LT(raw.response.body().size(), size / 4);
  EXPECT_EQ(raw.response["X-Served-By"], "nginx") << "the trailer is kept as a field";

  Outcome decoded = send(client, request(http::verb::get, "/gzip"), {.decode_content = true}).get();
  ASSERT_FALSE(decoded.error) << decoded.error.message();
  EXPECT_EQ(decoded.response.find(http::field::content_encoding), decoded.response.end());
  ASSERT_EQ(decoded.response.body().size(), size);
  for (std::size_t i = 0; i < size; i += 997) ASSERT_EQ(decoded.response.body()[i], demo::generated_file_byte(i)) << i;
}

}  // namespace
}  // namespace securechannel


namespace securechannel {
namespace {

TEST_F(HttpClientTest, ReuseAndMultiplexingAreExportedAsMetrics) {
  start();
  auto client = std::make_shared<HttpClient>(builder({"h2"}).with_max_connections(1).build(io.executor()));
  MonitoredPools pools;
  ASSERT_TRUE(pools.export_http_client(client));
  EXPECT_FALSE(pools.export_http_client(nullptr));
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(send(*client, request(http::verb::get, "/")).get().error);
  const std::string text = pools.metrics_text();
  const std::string label = "{endpoint=\"" + nginx->endpoint() + "\"}";
  EXPECT_NE(text.find("securechannel_http_requests_total" + label + " 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("securechannel_http_requests_on_reused_connections_total" + label + " 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("securechannel_http_protocol_info{endpoint=\"" + nginx->endpoint() + "\",protocol=\"h2\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("securechannel_http_http2_streams_in_flight{endpoint=\"" + nginx->endpoint() +
                      "\",connection_id=\"1\"} 0\n"),
            std::string::npos)
      << text;
  client.reset();
  EXPECT_EQ(pools.metrics_text().find("securechannel_http_requests_total"), std::string::npos)
      << "a destroyed client disappears";
}

}  // namespace
}  // namespace securechannel

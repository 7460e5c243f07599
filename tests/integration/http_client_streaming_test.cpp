// Bodies streamed both ways against a real nginx, on both protocols. Responses to
// HttpRequestOptions::body_sink: a 16 MiB download arrives in bounded pieces, byte for byte the
// file nginx serves, with the response's own body empty; a gzip body is decoded on the way; a
// sink that says stop ends the request with response_body_aborted (HTTP/1.1 closes that
// connection, HTTP/2 resets only the stream and keeps the connection); max_response_body bounds
// what a sink receives; a timeout mid-body is reported, never retried. Requests from
// HttpRequestOptions::body_source: 16 MiB uploads (with and without Content-Length) stored intact
// by nginx; a failing source or one short of its Content-Length ends with request_body_aborted.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <boost/beast/http/field.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace securechannel {
namespace {

namespace http = boost::beast::http;

// What a sink saw, checked as it arrives against `expected` (a stream over the file nginx
// serves), so the test never holds the body either.
struct SinkRecord {
  std::size_t pieces = 0;
  std::size_t bytes = 0;
  std::size_t largest_piece = 0;
  std::size_t first_mismatch = std::numeric_limits<std::size_t>::max();
};

HttpBodySink checking_sink(SinkRecord& record, std::ifstream& expected, std::size_t stop_after_pieces = 0) {
  return [&record, &expected, stop_after_pieces](std::string_view piece) {
    ++record.pieces;
    record.largest_piece = std::max(record.largest_piece, piece.size());
    std::string file_bytes(piece.size(), '\0');
    expected.read(file_bytes.data(), static_cast<std::streamsize>(file_bytes.size()));
    if (record.first_mismatch == std::numeric_limits<std::size_t>::max()) {
      const auto [at, unused] = std::mismatch(piece.begin(), piece.end(), file_bytes.begin());
      if (at != piece.end()) record.first_mismatch = record.bytes + static_cast<std::size_t>(at - piece.begin());
    }
    record.bytes += piece.size();
    return stop_after_pieces == 0 || record.pieces < stop_after_pieces;
  };
}

class HttpClientStreamingTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {
 protected:
  bool http2() const { return std::string(GetParam()) == "h2"; }

  // GETs `target` with its body streamed to a sink that checks it against the file nginx serves.
  testing::HttpOutcome stream(HttpClient& client, const std::string& target, HttpRequestOptions streamed,
                              std::size_t stop_after_pieces = 0) {
    expected.open(nginx->document_root() / "big", std::ios::binary);
    streamed.body_sink = checking_sink(record, expected, stop_after_pieces);
    return send(client, request(http::verb::get, target), std::move(streamed)).get();
  }

  SinkRecord record;
  std::ifstream expected;
};

TEST_P(HttpClientStreamingTest, SixteenMebibytesArriveInPiecesByteForByte) {
  constexpr std::size_t size = 16 * 1024 * 1024;
  options.generated_file_bytes = size;
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  const testing::HttpOutcome outcome =
      stream(client, "/big", {.max_response_body = std::numeric_limits<std::size_t>::max()});
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 200u);
  EXPECT_TRUE(outcome.response.body().empty()) << "the body went to the sink, not into the response";
  EXPECT_EQ(record.bytes, size);
  EXPECT_EQ(record.first_mismatch, std::numeric_limits<std::size_t>::max()) << "differs from the file at this offset";
  EXPECT_GT(record.pieces, 1u);
  EXPECT_LE(record.largest_piece, 64u * 1024) << "no piece is more than one read buffer";
  EXPECT_EQ(outcome.response[http::field::content_length], std::to_string(size)) << "headers as the server sent them";
  EXPECT_EQ(client.stats().requests, 1u);
}

TEST_P(HttpClientStreamingTest, GzipBodyIsDecodedOnTheWay) {
  constexpr std::size_t size = 8 * 1024 * 1024;
  options.generated_file_bytes = size;
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  const testing::HttpOutcome outcome = stream(client, "/gzip", {.decode_content = true});
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_TRUE(outcome.response.body().empty());
  EXPECT_EQ(outcome.response.find(http::field::content_encoding), outcome.response.end())
      << "the sink saw decoded bytes, so the response no longer names the coding";
  EXPECT_EQ(record.bytes, size);
  EXPECT_EQ(record.first_mismatch, std::numeric_limits<std::size_t>::max()) << "differs from the file at this offset";
  EXPECT_GT(record.pieces, 1u);
  EXPECT_LE(record.largest_piece, 64u * 1024);
}

TEST_P(HttpClientStreamingTest, SinkThatSaysStopEndsTheRequest) {
  constexpr std::size_t size = 8 * 1024 * 1024;
  options.generated_file_bytes = size;
  start();
  HttpClient client(builder({GetParam()}).with_max_connections(4).build(io.executor()));
  const testing::HttpOutcome aborted = stream(client, "/big", {}, /*stop_after_pieces=*/2);
  EXPECT_EQ(aborted.error, errc::response_body_aborted) << aborted.error.message();
  EXPECT_EQ(record.pieces, 2u) << "nothing reaches the sink after it said stop";
  EXPECT_LT(record.bytes, size);
  EXPECT_EQ(client.stats().retries, 0u) << "a body that reached the caller is never sent again";

  const testing::HttpOutcome next = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.response.body(), "hello\n");
  const HttpClientStats stats = client.stats();
  if (http2()) {
    // RST_STREAM ended only that stream: the connection carried the next request.
    EXPECT_EQ(client.pool()->stats().connections_created, 1u);
    ASSERT_EQ(stats.http2_connections.size(), 1u);
    EXPECT_EQ(stats.http2_connections[0].streams_started, 2u);
  } else {
    // The rest of the body was never read: that connection could not serve again.
    EXPECT_EQ(client.pool()->stats().connections_created, 2u);
  }
  EXPECT_EQ(stats.failed_requests, 1u);
  EXPECT_EQ(stats.requests, 1u);
}

TEST_P(HttpClientStreamingTest, MaxResponseBodyBoundsWhatTheSinkReceives) {
  options.generated_file_bytes = 4 * 1024 * 1024;
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  const testing::HttpOutcome outcome = stream(client, "/big", {.max_response_body = 1024 * 1024});
  EXPECT_EQ(outcome.error, errc::response_too_large) << outcome.error.message();
  EXPECT_LE(record.bytes, 1024u * 1024);
  EXPECT_GT(record.bytes, 0u) << "pieces within the limit were delivered before it was reached";
  EXPECT_EQ(record.first_mismatch, std::numeric_limits<std::size_t>::max());
}

TEST_P(HttpClientStreamingTest, TimeoutWhileStreamingIsReportedAndNotRetried) {
  options.generated_file_bytes = 64 * 1024;  // /slow sends it at 1 KiB/s: far beyond the timeout
  start();
  auto pool = builder({GetParam()}).build(io.executor());
  auto client = std::make_unique<HttpClient>(pool);
  const testing::HttpOutcome outcome = stream(*client, "/slow", {.timeout = std::chrono::milliseconds(1500)});
  EXPECT_EQ(outcome.error, errc::request_timeout) << outcome.error.message();
  EXPECT_LT(record.bytes, 64u * 1024);
  EXPECT_EQ(record.first_mismatch, std::numeric_limits<std::size_t>::max()) << "whatever came was the file's start";
  EXPECT_EQ(client->stats().retries, 0u);
  EXPECT_EQ(client->stats().failed_requests, 1u);
  // The client's own deadline may complete the request before the HTTP/2 session has reset the
  // stream. Let the session end before the io thread stops: a stream still holding its handler
  // when the io_context is torn down keeps client and session alive (see the commit message).
  client.reset();
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().leased_connections == 0; }, std::chrono::seconds(10)))
      << "the client gave its connection back";
}

// A source of `size` bytes of the /big pattern, in pieces of at most `piece` bytes; fails (no
// value) at the call numbered `fail_at_call` when that is not 0.
HttpBodySource pattern_source(std::size_t size, std::size_t& calls, std::size_t fail_at_call = 0) {
  return [size, &calls, fail_at_call, offset = std::size_t{0}](std::span<char> buffer) mutable
             -> std::optional<std::size_t> {
    ++calls;
    if (fail_at_call != 0 && calls == fail_at_call) return std::nullopt;
    const std::size_t count = std::min({buffer.size(), size - offset, std::size_t{10'000}});
    for (std::size_t i = 0; i < count; ++i) buffer[i] = demo::generated_file_byte(offset + i);
    offset += count;
    return count;
  };
}

// The offset of the first byte of `file` that differs from the /big pattern (or past its end);
// the file's size when all match.
std::size_t first_difference_from_pattern(const std::filesystem::path& file) {
  std::ifstream stored(file, std::ios::binary);
  std::size_t offset = 0;
  for (char byte; stored.get(byte); ++offset) {
    if (byte != demo::generated_file_byte(offset)) return offset;
  }
  return offset;
}

TEST_P(HttpClientStreamingTest, SixteenMebibytesGoUpFromASource) {
  constexpr std::size_t size = 16 * 1024 * 1024;
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  for (const bool announce_length : {false, true}) {
    const std::string name = announce_length ? "with-length" : "without-length";
    HttpRequest upload = request(http::verb::put, "/upload/" + name);
    if (announce_length) upload.content_length(size);
    std::size_t calls = 0;
    const testing::HttpOutcome outcome =
        send(client, std::move(upload), {.body_source = pattern_source(size, calls)}).get();
    ASSERT_FALSE(outcome.error) << name << ": " << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 201u) << name;
    EXPECT_GT(calls, size / (64 * 1024)) << name << ": the body was taken piece by piece";
    EXPECT_EQ(first_difference_from_pattern(nginx->document_root() / "upload" / name), size) << name;
  }
}

TEST_P(HttpClientStreamingTest, FailingOrShortSourceEndsTheRequest) {
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  std::size_t calls = 0;
  const testing::HttpOutcome failed =
      send(client, request(http::verb::put, "/upload/failed"),
           {.body_source = pattern_source(4 * 1024 * 1024, calls, /*fail_at_call=*/3)})
          .get();
  EXPECT_EQ(failed.error, errc::request_body_aborted) << failed.error.message();
  EXPECT_EQ(calls, 3u) << "a failed source is not asked again";

  HttpRequest short_upload = request(http::verb::put, "/upload/short");
  short_upload.content_length(100'000);
  std::size_t short_calls = 0;
  const testing::HttpOutcome short_of_length =
      send(client, std::move(short_upload), {.body_source = pattern_source(50'000, short_calls)}).get();
  EXPECT_EQ(short_of_length.error, errc::request_body_aborted) << short_of_length.error.message();
  EXPECT_EQ(client.stats().retries, 0u) << "a source cannot be rewound: never sent again";

  const testing::HttpOutcome next = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(next.error) << next.error.message();
  if (http2()) {
    // Each failure reset only its stream: one connection carried all three requests.
    EXPECT_EQ(client.pool()->stats().connections_created, 1u);
  } else {
    // A request cut off mid-body leaves the connection unusable: each failure replaced it.
    EXPECT_EQ(client.pool()->stats().connections_created, 3u);
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientStreamingTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel

// Http1ResponseParser: the bounds a hostile HTTP/1.1 server meets. Beast bounds the header by
// its header_limit, but only about (status line and fields apart when they arrive together),
// and waits without end for the line end of a chunk-size line or of a trailer section; a new
// parser per interim response would give each 1xx a fresh budget. The parser keeps all of them
// within max_response_header_bytes (and the bound on unparsed bytes). The first was found by
// tests/fuzz/http1_response_fuzzer.cpp (its outcome depended on where reads cut the header).
#include "http/http1_response_parser.hpp"

#include "securechannel/error.hpp"

#include <boost/beast/core/read_size.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace securechannel::detail {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;

constexpr std::size_t read_piece = 4096;

// Reads `head`, then `endless` again and again (a server that never stops), into the parser as
// an exchange does. The outcome, or nothing when 64 MiB went in without one.
struct Fed {
  std::optional<error_code> outcome;
  std::size_t bytes = 0;          // fed before the outcome
  std::size_t most_buffered = 0;  // the buffer's largest size
};

Fed feed(const HttpRequestOptions& options, std::string head, std::string_view endless, http::verb method = http::verb::get) {
  boost::beast::flat_buffer buffer(max_unparsed_response_bytes(options, read_piece));
  Http1ResponseParser parser(options, method);
  Fed fed;
  std::string pending = std::move(head);
  while (fed.bytes < (64u << 20)) {
    if ((fed.outcome = parser.parse(buffer))) break;
    if (pending.empty()) {
      if (endless.empty()) {
        fed.outcome = parser.parse_eof(buffer);
        break;
      }
      pending = endless;
    }
    const std::size_t got = std::min(boost::beast::read_size(buffer, read_piece), pending.size());
    EXPECT_NE(got, 0u) << "parse() asked for more with a full buffer";
    if (got == 0) break;
    const auto space = buffer.prepare(got);
    std::copy_n(pending.data(), got, static_cast<char*>(space.data()));
    buffer.commit(got);
    pending.erase(0, got);
    fed.bytes += got;
    fed.most_buffered = std::max(fed.most_buffered, buffer.size());
  }
  return fed;
}

HttpRequestOptions with_header_limit(std::size_t bytes) {
  HttpRequestOptions options;
  options.max_response_header_bytes = bytes;
  return options;
}

TEST(Http1ResponseParserTest, EndlessTrailerStopsAtTheBoundOnUnparsedBytes) {
  const auto options = with_header_limit(8 * 1024);
  const Fed fed = feed(options, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: ",
                       std::string(1000, 't'));
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::response_headers_too_large);
  EXPECT_LE(fed.most_buffered, max_unparsed_response_bytes(options, read_piece));
}

TEST(Http1ResponseParserTest, EndlessChunkExtensionStopsAtTheBoundOnUnparsedBytes) {
  const auto options = with_header_limit(8 * 1024);
  const Fed fed = feed(options, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=", std::string(1000, 'v'));
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::response_headers_too_large);
  EXPECT_LE(fed.most_buffered, max_unparsed_response_bytes(options, read_piece));
}

TEST(Http1ResponseParserTest, EndlessInterimResponsesShareOneHeaderBudget) {
  const auto options = with_header_limit(4 * 1024);
  const Fed fed = feed(options, "", "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::response_headers_too_large);
  EXPECT_LE(fed.bytes, options.max_response_header_bytes + read_piece);
}

TEST(Http1ResponseParserTest, InterimResponsesWithinTheBudgetAreSkipped) {
  const Fed fed = feed(with_header_limit(4 * 1024),
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                       "");
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, error_code{});
}

TEST(Http1ResponseParserTest, FinalHeaderGetsWhatInterimResponsesLeft) {
  // 25 bytes of 100 Continue leave 39 of 64: the final header is 40 bytes.
  const Fed fed =
      feed(with_header_limit(64), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Pad: 123456789012\r\n\r\n", "");
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::response_headers_too_large);
}

TEST(Http1ResponseParserTest, HeaderArrivingInOnePieceIsHeldToTheLimit) {
  // 42 bytes against a limit of 32: Beast alone would hold the status line (17 bytes) and the
  // fields (25) to 32 each, and let it through.
  const Fed fed = feed(with_header_limit(32), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: 1\r\n\r\nabc", "");
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::response_headers_too_large);
}

TEST(Http1ResponseParserTest, SwitchingProtocolsIsAProtocolError) {
  const Fed fed = feed({}, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "");
  ASSERT_TRUE(fed.outcome);
  EXPECT_EQ(*fed.outcome, errc::http_protocol_error);
}

TEST(Http1ResponseParserTest, HeadResponseCarriesNoBody) {
  HttpRequestOptions options;
  boost::beast::flat_buffer buffer(max_unparsed_response_bytes(options, read_piece));
  Http1ResponseParser parser(options, http::verb::head);
  const std::string_view bytes = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  buffer.commit(boost::asio::buffer_copy(buffer.prepare(bytes.size()), boost::asio::buffer(bytes)));
  const auto outcome = parser.parse(buffer);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(*outcome, error_code{});
  EXPECT_TRUE(parser.response_started(buffer));
  const HttpResponse response = parser.take_response();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_TRUE(response.body().empty());
}

TEST(Http1ResponseParserTest, StreamEndingBeforeAResponseIsConnectionClosed) {
  HttpRequestOptions options;
  boost::beast::flat_buffer buffer(max_unparsed_response_bytes(options, read_piece));
  Http1ResponseParser parser(options, http::verb::get);
  EXPECT_FALSE(parser.parse(buffer));
  EXPECT_EQ(parser.parse_eof(buffer), errc::connection_closed);
  EXPECT_FALSE(parser.response_started(buffer));
}

}  // namespace
}  // namespace securechannel::detail

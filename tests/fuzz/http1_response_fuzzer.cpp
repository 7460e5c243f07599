// A hostile server's HTTP/1.1 response through Http1ResponseParser, the parser an exchange reads
// with (src/http/http1_exchange.cpp), configured from HttpRequestOptions as an exchange does.
// The bytes arrive in reads whose sizes the input chooses, as TLS records cut them, and once
// in reads as large as the buffer takes: whether it fails, and the response when it does not,
// must not depend on where the cuts fall.
// Checked: no crash, leak or UB; errors are ours (securechannel category); a response is final
// (not 1xx, not 101) and within max_response_body; the buffer never holds more than its bound;
// header fields (trailers included) stay within the header budget plus that bound.
// Input: 6 bytes of settings (see Settings), then the server's bytes.
#include "http/http1_response_parser.hpp"
#include "securechannel/error.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using securechannel::HttpRequestOptions;
using securechannel::HttpResponse;
using securechannel::detail::Http1ResponseParser;
using boost::system::error_code;
namespace http = boost::beast::http;

struct Settings {
  HttpRequestOptions options;
  http::verb method = http::verb::get;
  std::size_t read_piece = 0;    // the most one read adds (the exchange: 64 KiB)
  std::uint32_t split_seed = 0;  // chooses the read sizes of the split run
};

Settings settings_from(const std::uint8_t* data) {
  Settings settings;
  settings.method = (data[0] & 1) != 0 ? http::verb::head : http::verb::get;
  settings.options.max_response_header_bytes = 16 + std::size_t{data[1]} * 8;
  settings.options.max_response_body = data[2] == 0xff ? HttpRequestOptions{}.max_response_body : std::size_t{data[2]} * 8;
  settings.read_piece = 1 + std::size_t{data[3]} * 4;
  settings.split_seed = std::uint32_t{data[4]} << 8 | data[5] | 1;
  return settings;
}

struct Outcome {
  error_code error;
  std::optional<HttpResponse> response;
};

// Feeds `input` as an exchange reads it: each read at most what the buffer has room for, and at
// most `next_read()` bytes; the end of the input is the end of the stream.
template <class NextRead>
Outcome run(const Settings& settings, std::string_view input, NextRead next_read) {
  boost::beast::flat_buffer buffer(securechannel::detail::max_unparsed_response_bytes(settings.options, settings.read_piece));
  Http1ResponseParser parser(settings.options, settings.method);
  Outcome outcome;
  for (;;) {
    if (const auto parsed = parser.parse(buffer)) {
      outcome.error = *parsed;
      break;
    }
    const std::size_t room = boost::beast::read_size(buffer, settings.read_piece);
    if (room == 0) std::abort();  // parse() asked for more with a full buffer
    if (input.empty()) {
      outcome.error = parser.parse_eof(buffer);
      break;
    }
    const std::size_t got = std::min({room, next_read(), input.size()});
    auto space = buffer.prepare(got);
    std::copy_n(input.data(), got, static_cast<char*>(space.data()));
    buffer.commit(got);
    input.remove_prefix(got);
    if (buffer.size() > buffer.max_size()) std::abort();
  }
  if (outcome.error) {
    if (outcome.error.category() != securechannel::securechannel_category()) std::abort();
    return outcome;
  }
  const bool started = parser.response_started(buffer);
  HttpResponse response = parser.take_response();
  if (!started) std::abort();
  const unsigned status = response.result_int();
  if (status >= 100 && status < 200) std::abort();  // interim responses are skipped, 101 refused
  if (response.body().size() > settings.options.max_response_body) std::abort();
  if (settings.method == http::verb::head && !response.body().empty()) std::abort();
  std::size_t field_bytes = 0;
  for (const auto& field : response) field_bytes += field.name_string().size() + field.value().size() + 3;
  if (field_bytes > settings.options.max_response_header_bytes + buffer.max_size()) std::abort();
  outcome.response = std::move(response);
  return outcome;
}

bool same_response(const HttpResponse& a, const HttpResponse& b) {
  if (a.result_int() != b.result_int() || a.version() != b.version() || a.body() != b.body() ||
      a.reason() != b.reason()) {
    return false;
  }
  auto field_b = b.begin();
  for (const auto& field : a) {
    if (field_b == b.end() || field.name_string() != field_b->name_string() || field.value() != field_b->value()) {
      return false;
    }
    ++field_b;
  }
  return field_b == b.end();
}

}  // namespace

// Beast 1.81's parse_chunk_header asserts n >= 5 where 4 bytes are possible ("0\r\n" and one
// more byte after a read that ended at the last chunk): the code after it handles them
// (boostorg/beast#2861, fixed in later Boost; release builds compile the assertion out). That
// one assertion is let through here; any other fails as usual (BOOST_ENABLE_ASSERT_HANDLER).
namespace boost {
void assertion_failed(const char* expression, const char* function, const char* file, long line) {
  if (std::string_view(expression) == "n >= 5" && std::string_view(file).ends_with("http/impl/basic_parser.ipp")) return;
  std::fprintf(stderr, "%s:%ld: %s: assertion failed: %s\n", file, line, function, expression);
  std::abort();
}
void assertion_failed_msg(const char* expression, const char* message, const char* function, const char* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: assertion failed: %s (%s)\n", file, line, function, expression, message);
  std::abort();
}
}  // namespace boost

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t settings_size = 6;
  if (size < settings_size) return 0;
  const Settings settings = settings_from(data);
  const std::string_view input(reinterpret_cast<const char*>(data + settings_size), size - settings_size);

  std::uint32_t state = settings.split_seed;
  const Outcome split = run(settings, input, [&state] {
    state ^= state << 13;  // xorshift32: reads of 1 to 64 bytes, mostly small
    state ^= state >> 17;
    state ^= state << 5;
    return std::size_t{1} + (state % 64 < 48 ? state % 8 : state % 64);
  });
  const Outcome whole = run(settings, input, [] { return SIZE_MAX; });

  // Which error a malformed response gets may depend on the cuts (Beast checks a start line
  // at once when its first bytes arrive together, else once the header's end is in, and a
  // header that never ends meets the header limit first); whether there is one may not.
  if (bool(split.error) != bool(whole.error)) {
    if (std::getenv("SC_FUZZ_DEBUG")) {
      std::fprintf(stderr, "split: %s, whole: %s\n", split.error.message().c_str(), whole.error.message().c_str());
    }
    std::abort();
  }
  if (split.response.has_value() != whole.response.has_value()) std::abort();
  if (split.response && !same_response(*split.response, *whole.response)) std::abort();
  return 0;
}

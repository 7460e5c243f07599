#include "http/http2_headers.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace securechannel::detail {
namespace {

namespace http = boost::beast::http;

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// Credentials and cookies stay out of the HPACK dynamic table: a compression side channel
// (CRIME-style) could otherwise guess them from frame sizes.
bool is_sensitive_field(std::string_view lowercase_name) noexcept {
  return lowercase_name == "authorization" || lowercase_name == "proxy-authorization" || lowercase_name == "cookie";
}

// Methods whose requests carry a body by definition: they announce its length even when empty.
bool announces_length(http::verb method) noexcept {
  return method == http::verb::post || method == http::verb::put || method == http::verb::patch;
}

}  // namespace

bool is_connection_specific_field(std::string_view lowercase_name, std::string_view value) noexcept {
  // TE is allowed with the single value "trailers" (RFC 9113 8.2.2); the rest always go.
  if (lowercase_name == "te") return !iequals(value, "trailers");
  return lowercase_name == "connection" || lowercase_name == "keep-alive" || lowercase_name == "transfer-encoding" ||
         lowercase_name == "upgrade" || lowercase_name == "proxy-connection" || lowercase_name == "http2-settings";
}

Http2RequestHeaders::Http2RequestHeaders(const HttpRequest& request, std::string_view scheme, bool streamed_body) {
  fields_.reserve(std::distance(request.begin(), request.end()) + 5);
  const std::string_view target = request.target();
  add(":method", std::string(request.method_string()));
  add(":scheme", std::string(scheme));
  add(":path", target.empty() ? std::string("/") : std::string(target));
  if (const auto host = request.find(http::field::host); host != request.end()) {
    add(":authority", std::string(host->value()));
  }
  bool has_content_length = false;
  for (const auto& field : request) {
    std::string name = lowercase(field.name_string());
    if (name == "host" || is_connection_specific_field(name, field.value())) continue;
    has_content_length = has_content_length || name == "content-length";
    const bool sensitive = is_sensitive_field(name);
    add(std::move(name), std::string(field.value()), sensitive);
  }
  // HTTP/2 frames the body itself, but servers use the length to refuse an oversized upload at
  // once (nginx: client_max_body_size) instead of after it was sent.
  if (!has_content_length && !streamed_body && (!request.body().empty() || announces_length(request.method()))) {
    add("content-length", std::to_string(request.body().size()));
  }

  list_.reserve(fields_.size());
  for (Field& field : fields_) {
    list_.push_back({reinterpret_cast<std::uint8_t*>(field.name.data()),
                     reinterpret_cast<std::uint8_t*>(field.value.data()), field.name.size(), field.value.size(),
                     static_cast<std::uint8_t>(field.sensitive ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE)});
  }
}

void Http2RequestHeaders::add(std::string name, std::string value, bool sensitive) {
  fields_.push_back({std::move(name), std::move(value), sensitive});
}

void Http2ResponseBuilder::begin_block() noexcept {
  if (final_headers_) {
    block_status_ = 0;  // trailers
    return;
  }
  // The final response headers, or another interim (1xx) block: forget the previous one.
  response_ = HttpResponse{};
  block_status_ = 0;
}

bool Http2ResponseBuilder::add_field(std::string_view name, std::string_view value) {
  header_list_bytes_ += name.size() + value.size() + 32;
  if (name == ":status") {
    unsigned status = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), status);
    if (error != std::errc{} || end != value.data() + value.size() || value.size() != 3 || status < 100) return false;
    block_status_ = static_cast<int>(status);
    return true;
  }
  if (!name.empty() && name.front() == ':') return true;  // nghttp2 rejects unknown pseudo-headers itself
  response_.insert(name, value);
  return true;
}

void Http2ResponseBuilder::end_block() noexcept {
  if (final_headers_ || block_status_ < 200) return;
  response_.result(static_cast<unsigned>(block_status_));
  response_.version(20);  // HTTP/2.0 in Beast's encoding (major * 10 + minor)
  final_headers_ = true;
}

void Http2ResponseBuilder::reserve_body(std::size_t limit) {
  const auto length = response_.find(http::field::content_length);
  if (length == response_.end()) return;
  std::size_t announced = 0;
  const std::string_view value = length->value();
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), announced);
  // A Content-Length is the peer's claim, not bytes in hand: reserve at most 1 MiB ahead, so a
  // server announcing 64 MiB on many streams and sending nothing costs no memory.
  constexpr std::size_t reserve_ahead_limit = 1024 * 1024;
  if (error == std::errc{} && end == value.data() + value.size()) {
    response_.body().reserve(std::min({announced, limit, reserve_ahead_limit}));
  }
}

}  // namespace securechannel::detail

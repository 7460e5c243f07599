// Content-Encoding decoding of response bodies: gzip and deflate with zlib, br with Debian's
// libbrotli. Used by HttpClient when HttpRequestOptions::decode_content is set, for either
// protocol. Output is bounded: a small compressed body cannot expand past the caller's limit.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace securechannel::detail {

enum class ContentCoding { identity, gzip, deflate, brotli, unsupported };

// The coding named by a Content-Encoding value ("gzip", "x-gzip", "deflate", "br"; empty and
// "identity" are identity). A list of several codings is unsupported.
ContentCoding parse_content_coding(std::string_view header_value) noexcept;

// Decodes `encoded` into `decoded`. Errors: errc::content_decoding_failed (corrupt or truncated
// data, or an unsupported coding), errc::response_too_large (more than `max_size` bytes).
boost::system::error_code decode_content(ContentCoding coding, std::string_view encoded, std::size_t max_size,
                                         std::string& decoded);

}  // namespace securechannel::detail

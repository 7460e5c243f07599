// Content-Encoding decoding of response bodies: gzip and deflate with zlib, br with Debian's
// libbrotli. Used by HttpClient when HttpRequestOptions::decode_content is set, for either
// protocol, on a whole body or piece by piece as a streamed body arrives. Output is bounded: a
// small compressed body cannot expand past the caller's limit.
//
//   ContentDecoder decoder(ContentCoding::gzip, [&](std::string_view piece) { return use(piece); });
//   for (each received piece) if (auto error = decoder.feed(piece)) return error;
//   if (auto error = decoder.finish()) return error;   // truncated input is an error
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace securechannel::detail {

enum class ContentCoding { identity, gzip, deflate, brotli, unsupported };

// The coding named by a Content-Encoding value ("gzip", "x-gzip", "deflate", "br"; empty and
// "identity" are identity). A list of several codings is unsupported.
ContentCoding parse_content_coding(std::string_view header_value) noexcept;

// A decoder for one body that arrives in pieces. Decoded bytes go to `output` as they come out
// (in pieces of at most 64 KiB); an error `output` returns stops the decoding and is returned
// from feed(). Not copyable: it owns zlib or brotli state.
class ContentDecoder {
 public:
  using Output = std::function<boost::system::error_code(std::string_view decoded)>;

  ContentDecoder(ContentCoding coding, Output output);
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  // Errors: errc::content_decoding_failed (corrupt data, unsupported coding), or `output`'s.
  boost::system::error_code feed(std::string_view encoded);
  // The body is over: errc::content_decoding_failed when the encoded stream did not end.
  boost::system::error_code finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes a whole body `encoded` into `decoded`. Errors: errc::content_decoding_failed (corrupt
// or truncated data, or an unsupported coding), errc::response_too_large (more than `max_size`).
boost::system::error_code decode_content(ContentCoding coding, std::string_view encoded, std::size_t max_size,
                                         std::string& decoded);

}  // namespace securechannel::detail

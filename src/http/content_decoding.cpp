#include "http/content_decoding.hpp"

#include "securechannel/error.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

namespace securechannel::detail {
namespace {

constexpr std::size_t chunk_size = 64 * 1024;

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trimmed(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// zlib's inflate over the whole body; `window_bits` picks the framing.
boost::system::error_code inflate_with(int window_bits, std::string_view encoded, std::size_t max_size,
                                       std::string& decoded) {
  z_stream stream{};
  if (inflateInit2(&stream, window_bits) != Z_OK) return errc::content_decoding_failed;
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&stream, inflateEnd);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(encoded.data()));
  stream.avail_in = static_cast<uInt>(encoded.size());
  std::array<char, chunk_size> chunk;
  for (;;) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    const int result = inflate(&stream, Z_NO_FLUSH);
    const std::size_t produced = chunk.size() - stream.avail_out;
    if (decoded.size() + produced > max_size) return errc::response_too_large;
    decoded.append(chunk.data(), produced);
    if (result == Z_STREAM_END) {
      // A gzip body may hold several members (RFC 1952 2.2); decode them all.
      if (stream.avail_in == 0 || window_bits != 15 + 32) return {};
      if (inflateReset(&stream) != Z_OK) return errc::content_decoding_failed;
      continue;
    }
    if (result == Z_BUF_ERROR && stream.avail_in == 0) return errc::content_decoding_failed;  // truncated
    if (result != Z_OK && result != Z_BUF_ERROR) return errc::content_decoding_failed;
  }
}

boost::system::error_code decode_brotli(std::string_view encoded, std::size_t max_size, std::string& decoded) {
  std::unique_ptr<BrotliDecoderState, void (*)(BrotliDecoderState*)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), BrotliDecoderDestroyInstance);
  if (!state) return errc::content_decoding_failed;
  auto next_in = reinterpret_cast<const std::uint8_t*>(encoded.data());
  std::size_t available_in = encoded.size();
  std::array<std::uint8_t, chunk_size> chunk;
  for (;;) {
    std::uint8_t* next_out = chunk.data();
    std::size_t available_out = chunk.size();
    const BrotliDecoderResult result =
        BrotliDecoderDecompressStream(state.get(), &available_in, &next_in, &available_out, &next_out, nullptr);
    const std::size_t produced = chunk.size() - available_out;
    if (decoded.size() + produced > max_size) return errc::response_too_large;
    decoded.append(reinterpret_cast<const char*>(chunk.data()), produced);
    switch (result) {
      case BROTLI_DECODER_RESULT_SUCCESS: return {};
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: continue;
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:  // the whole body was given: truncated
      case BROTLI_DECODER_RESULT_ERROR:
        return errc::content_decoding_failed;
    }
  }
}

}  // namespace

ContentCoding parse_content_coding(std::string_view header_value) noexcept {
  const std::string_view value = trimmed(header_value);
  if (value.empty() || equals_ignoring_case(value, "identity")) return ContentCoding::identity;
  if (equals_ignoring_case(value, "gzip") || equals_ignoring_case(value, "x-gzip")) return ContentCoding::gzip;
  if (equals_ignoring_case(value, "deflate")) return ContentCoding::deflate;
  if (equals_ignoring_case(value, "br")) return ContentCoding::brotli;
  return ContentCoding::unsupported;
}

boost::system::error_code decode_content(ContentCoding coding, std::string_view encoded, std::size_t max_size,
                                         std::string& decoded) {
  decoded.clear();
  switch (coding) {
    case ContentCoding::identity:
      if (encoded.size() > max_size) return errc::response_too_large;
      decoded.assign(encoded);
      return {};
    case ContentCoding::gzip:
      return inflate_with(15 + 32, encoded, max_size, decoded);  // +32: gzip or zlib header, detected
    case ContentCoding::deflate: {
      // RFC 9110 says zlib-wrapped, but some servers send raw deflate: try both, as browsers do.
      const boost::system::error_code zlib_wrapped = inflate_with(15, encoded, max_size, decoded);
      if (!zlib_wrapped || zlib_wrapped == errc::response_too_large) return zlib_wrapped;
      decoded.clear();
      return inflate_with(-15, encoded, max_size, decoded);
    }
    case ContentCoding::brotli:
      return decode_brotli(encoded, max_size, decoded);
    case ContentCoding::unsupported:
      return errc::content_decoding_failed;
  }
  return errc::content_decoding_failed;
}

}  // namespace securechannel::detail

#include "http/content_decoding.hpp"

#include "securechannel/error.hpp"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace securechannel::detail {
namespace {

using boost::system::error_code;

constexpr std::size_t chunk_size = 64 * 1024;
constexpr int gzip_or_zlib_window = 15 + 32;  // +32: a gzip or zlib header, detected by zlib
constexpr int zlib_window = 15;
constexpr int raw_deflate_window = -15;

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

// RFC 1950 2.2: method 8 with a window of at most 32 KiB, and a header checksum divisible by 31.
bool looks_like_zlib_header(unsigned char first, unsigned char second) noexcept {
  return (first & 0x0f) == 8 && (first >> 4) <= 7 && ((first << 8) | second) % 31 == 0;
}

}  // namespace

struct ContentDecoder::State {
  ContentCoding coding;
  Output output;
  bool failed = false;
  bool ended = false;  // the encoded stream reached its end; anything after it is ignored
  // zlib (gzip, deflate)
  z_stream zlib{};
  bool zlib_ready = false;
  int window_bits = 0;
  std::string deflate_prefix;  // deflate: a first piece shorter than the two bytes that tell zlib from raw
  // brotli
  BrotliDecoderState* brotli = nullptr;

  ~State() {
    if (zlib_ready) inflateEnd(&zlib);
    if (brotli) BrotliDecoderDestroyInstance(brotli);
  }

  error_code start_zlib(int bits) {
    window_bits = bits;
    if (inflateInit2(&zlib, bits) != Z_OK) return errc::content_decoding_failed;
    zlib_ready = true;
    return {};
  }

  // RFC 9110 says zlib-wrapped, but some servers send raw deflate: tell them apart by the zlib
  // header, as browsers do.
  error_code start_deflate(std::string_view encoded) {
    const auto first = static_cast<unsigned char>(encoded[0]);
    const auto second = static_cast<unsigned char>(encoded[1]);
    if (error_code error = start_zlib(looks_like_zlib_header(first, second) ? zlib_window : raw_deflate_window)) {
      return error;
    }
    return inflate_some(encoded);
  }

  error_code inflate_some(std::string_view encoded) {
    zlib.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(encoded.data()));
    zlib.avail_in = static_cast<uInt>(encoded.size());
    std::array<char, chunk_size> chunk;
    while (!ended) {
      zlib.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zlib.avail_out = static_cast<uInt>(chunk.size());
      const int result = inflate(&zlib, Z_NO_FLUSH);
      const std::size_t produced = chunk.size() - zlib.avail_out;
      if (produced > 0) {
        if (error_code error = output({chunk.data(), produced})) return error;
      }
      if (result == Z_STREAM_END) {
        // A gzip body may hold several members (RFC 1952 2.2); decode them all.
        if (window_bits != gzip_or_zlib_window) {
          ended = true;
        } else if (zlib.avail_in == 0) {
          ended = true;  // unless another member follows in a later piece (see feed)
        } else if (inflateReset(&zlib) != Z_OK) {
          return errc::content_decoding_failed;
        }
        continue;
      }
      if (result == Z_BUF_ERROR || (result == Z_OK && zlib.avail_in == 0 && zlib.avail_out != 0)) return {};
      if (result != Z_OK) return errc::content_decoding_failed;
    }
    return {};
  }

  error_code brotli_some(std::string_view encoded) {
    auto next_in = reinterpret_cast<const std::uint8_t*>(encoded.data());
    std::size_t available_in = encoded.size();
    std::array<std::uint8_t, chunk_size> chunk;
    for (;;) {
      std::uint8_t* next_out = chunk.data();
      std::size_t available_out = chunk.size();
      const BrotliDecoderResult result =
          BrotliDecoderDecompressStream(brotli, &available_in, &next_in, &available_out, &next_out, nullptr);
      const std::size_t produced = chunk.size() - available_out;
      if (produced > 0) {
        if (error_code error = output({reinterpret_cast<const char*>(chunk.data()), produced})) return error;
      }
      switch (result) {
        case BROTLI_DECODER_RESULT_SUCCESS: ended = true; return {};
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: continue;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT: return {};  // the next piece continues it
        case BROTLI_DECODER_RESULT_ERROR: return errc::content_decoding_failed;
      }
      return errc::content_decoding_failed;
    }
  }

  error_code feed(std::string_view encoded) {
    switch (coding) {
      case ContentCoding::identity:
        return encoded.empty() ? error_code{} : output(encoded);
      case ContentCoding::gzip:
        if (ended && !encoded.empty()) {
          // Another gzip member starts in this piece.
          if (inflateReset(&zlib) != Z_OK) return errc::content_decoding_failed;
          ended = false;
        }
        return inflate_some(encoded);
      case ContentCoding::deflate:
        if (!zlib_ready) {
          // The first two bytes decide; a first piece of one byte waits for the next.
          if (deflate_prefix.empty() && encoded.size() >= 2) return start_deflate(encoded);
          deflate_prefix.append(encoded);
          if (deflate_prefix.size() < 2) return {};
          const std::string buffered = std::move(deflate_prefix);
          return start_deflate(buffered);
        }
        return ended ? error_code{} : inflate_some(encoded);
      case ContentCoding::brotli:
        return ended ? error_code{} : brotli_some(encoded);
      case ContentCoding::unsupported:
        return errc::content_decoding_failed;
    }
    return errc::content_decoding_failed;
  }
};

ContentDecoder::ContentDecoder(ContentCoding coding, Output output) : state_(std::make_unique<State>()) {
  state_->coding = coding;
  state_->output = std::move(output);
  if (coding == ContentCoding::gzip) {
    state_->failed = static_cast<bool>(state_->start_zlib(gzip_or_zlib_window));
  } else if (coding == ContentCoding::brotli) {
    state_->brotli = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    state_->failed = state_->brotli == nullptr;
  }
}

ContentDecoder::~ContentDecoder() = default;

error_code ContentDecoder::feed(std::string_view encoded) {
  if (state_->failed) return errc::content_decoding_failed;
  error_code error = state_->feed(encoded);
  if (error) state_->failed = true;
  return error;
}

error_code ContentDecoder::finish() {
  if (state_->failed) return errc::content_decoding_failed;
  switch (state_->coding) {
    case ContentCoding::identity: return {};
    case ContentCoding::unsupported: return errc::content_decoding_failed;
    case ContentCoding::gzip:
    case ContentCoding::deflate:
    case ContentCoding::brotli:
      break;
  }
  // Truncated: the encoded stream never reached its end (an empty body included).
  return state_->ended ? error_code{} : error_code(errc::content_decoding_failed);
}

ContentCoding parse_content_coding(std::string_view header_value) noexcept {
  const std::string_view value = trimmed(header_value);
  if (value.empty() || equals_ignoring_case(value, "identity")) return ContentCoding::identity;
  if (equals_ignoring_case(value, "gzip") || equals_ignoring_case(value, "x-gzip")) return ContentCoding::gzip;
  if (equals_ignoring_case(value, "deflate")) return ContentCoding::deflate;
  if (equals_ignoring_case(value, "br")) return ContentCoding::brotli;
  return ContentCoding::unsupported;
}

error_code decode_content(ContentCoding coding, std::string_view encoded, std::size_t max_size,
                          std::string& decoded) {
  decoded.clear();
  ContentDecoder decoder(coding, [&](std::string_view piece) -> error_code {
    if (piece.size() > max_size - decoded.size()) return errc::response_too_large;
    decoded.append(piece);
    return {};
  });
  if (error_code error = decoder.feed(encoded)) return error;
  return decoder.finish();
}

}  // namespace securechannel::detail

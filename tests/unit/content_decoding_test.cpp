// Content-Encoding decoding: gzip (several members too), zlib-wrapped and raw deflate, brotli;
// corrupt or truncated input and bombs beyond the size limit are errors, never crashes.
#include "http/content_decoding.hpp"
#include "securechannel/error.hpp"

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace securechannel::detail {
namespace {

// window_bits: 15 + 16 gzip, 15 zlib, -15 raw deflate.
std::string deflate_with(int window_bits, const std::string& input) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string output(deflateBound(&stream, input.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = reinterpret_cast<Bytef*>(output.data());
  stream.avail_out = static_cast<uInt>(output.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  output.resize(stream.total_out);
  deflateEnd(&stream);
  return output;
}

std::string brotli(const std::string& input) {
  std::string output(BrotliEncoderMaxCompressedSize(input.size()), '\0');
  std::size_t size = output.size();
  EXPECT_TRUE(BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, input.size(),
                                    reinterpret_cast<const std::uint8_t*>(input.data()), &size,
                                    reinterpret_cast<std::uint8_t*>(output.data())));
  output.resize(size);
  return output;
}

const std::string text = [] {
  std::string made;
  for (int i = 0; i < 20000; ++i) made += "block " + std::to_string(i) + " of a relay's order book\n";
  return made;
}();

std::string decoded_or_error(ContentCoding coding, const std::string& encoded, std::size_t limit = 1 << 26) {
  std::string decoded;
  if (auto error = decode_content(coding, encoded, limit, decoded)) return "error: " + std::string(error_kind(error));
  return decoded;
}

TEST(ContentDecodingTest, NamesAreParsedCaseInsensitively) {
  EXPECT_EQ(parse_content_coding(""), ContentCoding::identity);
  EXPECT_EQ(parse_content_coding("identity"), ContentCoding::identity);
  EXPECT_EQ(parse_content_coding(" GZip "), ContentCoding::gzip);
  EXPECT_EQ(parse_content_coding("x-gzip"), ContentCoding::gzip);
  EXPECT_EQ(parse_content_coding("deflate"), ContentCoding::deflate);
  EXPECT_EQ(parse_content_coding("br"), ContentCoding::brotli);
  EXPECT_EQ(parse_content_coding("gzip, br"), ContentCoding::unsupported);
  EXPECT_EQ(parse_content_coding("zstd"), ContentCoding::unsupported);
}

TEST(ContentDecodingTest, EveryCodingRoundTrips) {
  EXPECT_EQ(decoded_or_error(ContentCoding::gzip, deflate_with(15 + 16, text)), text);
  EXPECT_EQ(decoded_or_error(ContentCoding::deflate, deflate_with(15, text)), text);
  EXPECT_EQ(decoded_or_error(ContentCoding::deflate, deflate_with(-15, text)), text) << "raw deflate, as some servers send";
  EXPECT_EQ(decoded_or_error(ContentCoding::brotli, brotli(text)), text);
  EXPECT_EQ(decoded_or_error(ContentCoding::identity, text), text);
}

TEST(ContentDecodingTest, ConcatenatedGzipMembersAreAllDecoded) {
  EXPECT_EQ(decoded_or_error(ContentCoding::gzip, deflate_with(15 + 16, "first ") + deflate_with(15 + 16, "second")),
            "first second");
}

TEST(ContentDecodingTest, CorruptOrTruncatedInputIsAnError) {
  const std::string gzip = deflate_with(15 + 16, text);
  EXPECT_EQ(decoded_or_error(ContentCoding::gzip, gzip.substr(0, gzip.size() / 2)), "error: content_decoding_failed");
  EXPECT_EQ(decoded_or_error(ContentCoding::gzip, "not gzip at all"), "error: content_decoding_failed");
  const std::string br = brotli(text);
  EXPECT_EQ(decoded_or_error(ContentCoding::brotli, br.substr(0, br.size() - 3)), "error: content_decoding_failed");
  EXPECT_EQ(decoded_or_error(ContentCoding::unsupported, text), "error: content_decoding_failed");
}

TEST(ContentDecodingTest, ABombStopsAtTheLimit) {
  const std::string zeros(16 * 1024 * 1024, '\0');
  const std::string bomb = deflate_with(15 + 16, zeros);  // about 16 KB
  EXPECT_EQ(decoded_or_error(ContentCoding::gzip, bomb, 1024 * 1024), "error: response_too_large");
  EXPECT_EQ(decoded_or_error(ContentCoding::brotli, brotli(zeros), 1024 * 1024), "error: response_too_large");
  EXPECT_EQ(decoded_or_error(ContentCoding::identity, text, 10), "error: response_too_large");
}

// Feeds `encoded` to a ContentDecoder in pieces of `piece` bytes, as a streamed body arrives.
std::string streamed_or_error(ContentCoding coding, const std::string& encoded, std::size_t piece) {
  std::string decoded;
  std::size_t outputs = 0;
  ContentDecoder decoder(coding, [&](std::string_view out) -> boost::system::error_code {
    EXPECT_LE(out.size(), 64u * 1024) << "decoded pieces are bounded";
    ++outputs;
    decoded.append(out);
    return {};
  });
  for (std::size_t offset = 0; offset < encoded.size(); offset += piece) {
    if (auto error = decoder.feed(std::string_view(encoded).substr(offset, piece))) {
      return "error: " + std::string(error_kind(error));
    }
  }
  if (auto error = decoder.finish()) return "error: " + std::string(error_kind(error));
  EXPECT_GE(outputs, 1u);
  return decoded;
}

TEST(ContentDecodingTest, PiecesDecodeLikeTheWholeBody) {
  const std::string gzip_members = deflate_with(15 + 16, "first ") + deflate_with(15 + 16, "second");
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    EXPECT_EQ(streamed_or_error(ContentCoding::gzip, deflate_with(15 + 16, text), piece), text) << piece;
    EXPECT_EQ(streamed_or_error(ContentCoding::deflate, deflate_with(15, text), piece), text) << piece;
    EXPECT_EQ(streamed_or_error(ContentCoding::deflate, deflate_with(-15, text), piece), text) << piece;
    EXPECT_EQ(streamed_or_error(ContentCoding::brotli, brotli(text), piece), text) << piece;
    EXPECT_EQ(streamed_or_error(ContentCoding::identity, text, piece), text) << piece;
    EXPECT_EQ(streamed_or_error(ContentCoding::gzip, gzip_members, piece), "first second") << piece;
  }
  const std::string gzip = deflate_with(15 + 16, text);
  EXPECT_EQ(streamed_or_error(ContentCoding::gzip, gzip.substr(0, gzip.size() - 1), 100), "error: content_decoding_failed")
      << "a truncated stream fails at finish()";
}

TEST(ContentDecodingTest, AnOutputErrorStopsTheDecoder) {
  int calls = 0;
  ContentDecoder decoder(ContentCoding::gzip, [&](std::string_view) -> boost::system::error_code {
    ++calls;
    return errc::response_too_large;
  });
  EXPECT_EQ(decoder.feed(deflate_with(15 + 16, text)), errc::response_too_large);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(decoder.feed("more"), errc::content_decoding_failed) << "a stopped decoder takes nothing more";
}

}  // namespace
}  // namespace securechannel::detail

#include "channel/http2_server_preface.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace securechannel::detail {
namespace {

using Bytes = std::vector<unsigned char>;

Bytes frame(unsigned char type, std::uint32_t stream, std::size_t payload_bytes) {
  Bytes bytes = {static_cast<unsigned char>(payload_bytes >> 16), static_cast<unsigned char>(payload_bytes >> 8),
                 static_cast<unsigned char>(payload_bytes), type, 0,
                 static_cast<unsigned char>(stream >> 24), static_cast<unsigned char>(stream >> 16),
                 static_cast<unsigned char>(stream >> 8), static_cast<unsigned char>(stream)};
  bytes.resize(bytes.size() + payload_bytes, 0x01);
  return bytes;
}

Bytes operator+(Bytes first, const Bytes& second) {
  first.insert(first.end(), second.begin(), second.end());
  return first;
}

constexpr unsigned char settings = 0x4, window_update = 0x8, headers = 0x1, goaway = 0x7;

TEST(Http2ServerPrefaceTest, NginxsSettingsAndWindowUpdateAreAPreface) {
  const Bytes nginx = frame(settings, 0, 18) + frame(window_update, 0, 4);
  EXPECT_TRUE(is_http2_server_preface(nginx));
  EXPECT_TRUE(is_http2_server_preface(frame(settings, 0, 0)));
  EXPECT_TRUE(idle_bytes_expected("h2", nginx));
}

TEST(Http2ServerPrefaceTest, APrefaceStillArrivingIsOneSoFar) {
  const Bytes nginx = frame(settings, 0, 18) + frame(window_update, 0, 4);
  EXPECT_TRUE(is_http2_server_preface(std::span(nginx).first(12))) << "SETTINGS payload cut short";
  EXPECT_TRUE(is_http2_server_preface(std::span(nginx).first(27 + 5))) << "the next header cut short";
  EXPECT_FALSE(is_http2_server_preface(std::span(nginx).first(8))) << "less than a frame header says nothing yet";
  EXPECT_FALSE(is_http2_server_preface({}));
}

TEST(Http2ServerPrefaceTest, AWholeRecordMustEndWhereAFrameEnds) {
  const Bytes nginx = frame(settings, 0, 18) + frame(window_update, 0, 4);
  EXPECT_TRUE(is_http2_server_preface(nginx, /*complete=*/true));
  EXPECT_FALSE(is_http2_server_preface(std::span(nginx).first(30), /*complete=*/true)) << "ends inside a header";
  EXPECT_FALSE(is_http2_server_preface(std::span(nginx).first(38), /*complete=*/true)) << "ends inside a payload";
}

TEST(Http2ServerPrefaceTest, AnythingElseIsNot) {
  EXPECT_FALSE(is_http2_server_preface(frame(window_update, 0, 4))) << "a preface starts with SETTINGS";
  EXPECT_FALSE(is_http2_server_preface(frame(settings, 1, 0))) << "SETTINGS belong to stream 0";
  Bytes acknowledgement = frame(settings, 0, 0);
  acknowledgement[4] = 0x1;
  EXPECT_FALSE(is_http2_server_preface(acknowledgement)) << "an ACK answers SETTINGS of ours: not a greeting";
  EXPECT_FALSE(is_http2_server_preface(frame(settings, 0, 18) + frame(headers, 1, 10))) << "a response";
  EXPECT_FALSE(is_http2_server_preface(frame(settings, 0, 18) + frame(goaway, 0, 8))) << "a server closing";
  const std::string_view http1 = "HTTP/1.1 408 Request Time-out\r\n\r\n";
  EXPECT_FALSE(is_http2_server_preface({reinterpret_cast<const unsigned char*>(http1.data()), http1.size()}));
}

TEST(Http2ServerPrefaceTest, OnlyAnHttp2ConnectionExpectsOne) {
  const Bytes preface = frame(settings, 0, 18);
  EXPECT_FALSE(idle_bytes_expected("http/1.1", preface));
  EXPECT_FALSE(idle_bytes_expected("", preface));
}

}  // namespace
}  // namespace securechannel::detail

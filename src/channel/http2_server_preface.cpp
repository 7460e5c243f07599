#include "channel/http2_server_preface.hpp"

#include <cstdint>

namespace securechannel::detail {

namespace {

constexpr std::size_t frame_header_bytes = 9;
constexpr unsigned char settings_frame = 0x4;
constexpr unsigned char window_update_frame = 0x8;
constexpr unsigned char settings_ack_flag = 0x1;

}  // namespace

bool is_http2_server_preface(std::span<const unsigned char> bytes, bool complete) noexcept {
  if (bytes.size() < frame_header_bytes) return false;
  bool first = true;
  std::size_t offset = 0;
  while (bytes.size() - offset >= frame_header_bytes) {
    const unsigned char* header = bytes.data() + offset;
    const std::size_t length = (std::size_t{header[0]} << 16) | (std::size_t{header[1]} << 8) | header[2];
    const unsigned char type = header[3];
    const std::uint32_t stream = ((std::uint32_t{header[5]} << 24) | (std::uint32_t{header[6]} << 16) |
                                  (std::uint32_t{header[7]} << 8) | header[8]) &
                                 0x7fffffffu;
    if (stream != 0) return false;
    if (type != settings_frame && (first || type != window_update_frame)) return false;
    // An acknowledgement answers SETTINGS of ours: the connection has carried HTTP/2 already.
    if (first && (header[4] & settings_ack_flag) != 0) return false;
    first = false;
    if (length > bytes.size() - offset - frame_header_bytes) return !complete;  // the rest is on its way
    offset += frame_header_bytes + length;
  }
  return !complete || offset == bytes.size();
}

}  // namespace securechannel::detail

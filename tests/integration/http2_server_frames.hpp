// HTTP/2 as a hostile server writes it: frames built by hand (RFC 9113 4.1) so that a test can
// send what nghttp2's own server API never would, and just enough of a server (preface,
// SETTINGS, request headers decoded with nghttp2's HPACK inflater) to get a request to attack.
//
//   Http2ServerConnection h2(connection);
//   while (auto request = h2.next_request()) {
//     if (request->path == "/ok") h2.respond(request->stream, "ok\n");
//     else connection.write(frame(FrameType::goaway, 0, 0, ...));
//   }
#pragma once

#include "testing/hostile_tls_server.hpp"

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace securechannel::testing::h2 {

enum class FrameType : std::uint8_t {
  data = 0x0, headers = 0x1, rst_stream = 0x3, settings = 0x4, push_promise = 0x5, ping = 0x6, goaway = 0x7,
  window_update = 0x8, continuation = 0x9,
};
constexpr std::uint8_t end_stream = 0x1;   // DATA, HEADERS
constexpr std::uint8_t ack = 0x1;          // SETTINGS, PING
constexpr std::uint8_t end_headers = 0x4;  // HEADERS, CONTINUATION
constexpr std::uint8_t padded = 0x8;
constexpr std::uint8_t priority = 0x20;

inline std::string big_endian(std::uint32_t value, int bytes) {
  std::string out;
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
  return out;
}

inline std::string frame(FrameType type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
  return big_endian(static_cast<std::uint32_t>(payload.size()), 3) + static_cast<char>(type) + static_cast<char>(flags) +
         big_endian(stream & 0x7fffffffu, 4) + std::string(payload);
}

// An HPACK integer (RFC 7541 5.1) with `prefix_bits` in its first byte, which also carries `flags`.
inline std::string hpack_integer(std::uint8_t flags, int prefix_bits, std::uint64_t value) {
  const std::uint64_t limit = (1u << prefix_bits) - 1;
  if (value < limit) return std::string(1, static_cast<char>(flags | value));
  std::string out(1, static_cast<char>(flags | limit));
  for (value -= limit; value >= 128; value /= 128) out += static_cast<char>(0x80 | (value % 128));
  out += static_cast<char>(value);
  return out;
}

inline std::string hpack_string(std::string_view text) { return hpack_integer(0, 7, text.size()) + std::string(text); }

// ":status: 200" from the static table.
inline std::string status_200() { return "\x88"; }
// A field sent literally, not added to the dynamic table.
inline std::string literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + hpack_string(name) + hpack_string(value);
}
// A field sent literally and added to the dynamic table (as entry 62, the newest).
inline std::string literal_indexed(std::string_view name, std::string_view value) {
  return std::string(1, '\x40') + hpack_string(name) + hpack_string(value);
}
// A reference to table entry `index` (static 1-61, dynamic from 62).
inline std::string indexed(std::uint32_t index) { return hpack_integer(0x80, 7, index); }
// A dynamic table size update (RFC 7541 6.3).
inline std::string table_size_update(std::uint32_t size) { return hpack_integer(0x20, 5, size); }

struct Frame {
  FrameType type{};
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

struct Request {
  std::uint32_t stream = 0;
  std::string path;
  std::string scheme;
};

// The server side of one connection, for scripts: HostileConnection underneath.
class Http2ServerConnection {
 public:
  explicit Http2ServerConnection(HostileConnection& connection) : connection_(connection) {
    nghttp2_hd_inflate_new(&inflater_);
  }
  ~Http2ServerConnection() { nghttp2_hd_inflate_del(inflater_); }
  Http2ServerConnection(const Http2ServerConnection&) = delete;
  Http2ServerConnection& operator=(const Http2ServerConnection&) = delete;

  // The client's preface, then our SETTINGS (empty: the defaults). False when the client did not
  // speak HTTP/2.
  bool start() {
    if (connection_.read_exactly(24) != "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") return false;
    return connection_.write(frame(FrameType::settings, 0, 0, ""));
  }

  std::optional<Frame> read_frame() {
    const std::string head = connection_.read_exactly(9);
    if (head.empty()) return std::nullopt;
    const auto byte = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(head[i])); };
    Frame read{static_cast<FrameType>(head[3]), static_cast<std::uint8_t>(head[4]),
               (byte(5) << 24 | byte(6) << 16 | byte(7) << 8 | byte(8)) & 0x7fffffffu, {}};
    const std::uint32_t length = byte(0) << 16 | byte(1) << 8 | byte(2);
    if (length > 0) {
      read.payload = connection_.read_exactly(length);
      if (read.payload.empty()) return std::nullopt;
    }
    return read;
  }

  // Frames until the next request's headers (acknowledging SETTINGS and PING on the way).
  std::optional<Request> next_request() {
    while (std::optional<Frame> next = read_frame()) {
      if (next->type == FrameType::settings && (next->flags & ack) == 0) {
        if (!connection_.write(frame(FrameType::settings, ack, 0, ""))) return std::nullopt;
      } else if (next->type == FrameType::ping && (next->flags & ack) == 0) {
        if (!connection_.write(frame(FrameType::ping, ack, 0, next->payload))) return std::nullopt;
      } else if (next->type == FrameType::headers) {
        Request request{next->stream, {}, {}};
        decode(header_block(*next), request);
        return request;
      }
    }
    return std::nullopt;
  }

  // A 200 answer carrying `body`, ending the stream.
  bool respond(std::uint32_t stream, std::string_view body) {
    return connection_.write(frame(FrameType::headers, end_headers, stream, status_200()) +
                             frame(FrameType::data, end_stream, stream, body));
  }

  // Answers "/ok" requests until another arrives, and returns that one.
  std::optional<Request> next_attack() {
    while (std::optional<Request> request = next_request()) {
      if (request->path != "/ok") return request;
      if (!respond(request->stream, "ok\n")) return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  // The header block fragment of a HEADERS frame (the client ends its blocks in one frame).
  static std::string_view header_block(const Frame& headers) {
    std::string_view block = headers.payload;
    std::size_t padding = 0;
    if ((headers.flags & padded) != 0 && !block.empty()) {
      padding = static_cast<unsigned char>(block[0]);
      block.remove_prefix(1);
    }
    if ((headers.flags & priority) != 0) block.remove_prefix(std::min<std::size_t>(5, block.size()));
    return block.substr(0, block.size() - std::min(padding, block.size()));
  }

  // The request's :path and :scheme from its header block.
  void decode(std::string_view block, Request& request) {
    auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    for (;;) {
      nghttp2_nv field;
      int flags = 0;
      const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &field, &flags, in, left, 1);
      if (used < 0) return;
      in += used;
      left -= static_cast<std::size_t>(used);
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
        const std::string_view name(reinterpret_cast<char*>(field.name), field.namelen);
        const std::string value(reinterpret_cast<char*>(field.value), field.valuelen);
        if (name == ":path") request.path = value;
        if (name == ":scheme") request.scheme = value;
      }
      if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return;
      }
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) return;
    }
  }

  HostileConnection& connection_;
  nghttp2_hd_inflater* inflater_ = nullptr;
};

}  // namespace securechannel::testing::h2

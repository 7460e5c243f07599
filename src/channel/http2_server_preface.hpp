// What an idle HTTP/2 connection may hold before its session starts: the server's connection
// preface (RFC 9113 §3.4), a SETTINGS frame a server may send as soon as the connection is up,
// often followed by a WINDOW_UPDATE for the connection (nginx sends both). The idle probe leaves
// such bytes for the session rather than take them for a reply nobody asked for.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace securechannel::detail {

// The probe's look at waiting bytes: enough for a server's SETTINGS (6 bytes per setting after
// a 9-byte header) and a WINDOW_UPDATE.
inline constexpr std::size_t http2_preface_peek_bytes = 128;

// True when `bytes` starts with a SETTINGS frame (not an acknowledgement) on stream 0 and every
// further frame whose header is complete in `bytes` is a SETTINGS or WINDOW_UPDATE frame on
// stream 0. Fewer than 9 bytes say nothing yet: false. `complete` (a whole TLS record): the
// bytes must also end where a frame ends.
bool is_http2_server_preface(std::span<const unsigned char> bytes, bool complete = false) noexcept;

// Whether bytes found waiting on an idle connection that negotiated `alpn` are ones its next
// user expects (an HTTP/2 server's preface) rather than a stray reply that makes it unusable.
inline bool idle_bytes_expected(std::string_view alpn, std::span<const unsigned char> bytes,
                                bool complete = false) noexcept {
  return alpn == "h2" && is_http2_server_preface(bytes, complete);
}

}  // namespace securechannel::detail

// Bytes found waiting on an idle HTTP/2 connection: any peer's bytes, read only within the span.
// Whatever is taken for a server's preface starts with a SETTINGS frame on stream 0 that is not
// an acknowledgement, and what passes as a whole record also passes as a partial one.
#include "channel/http2_server_preface.hpp"

#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> bytes(data, size);
  const bool partial = securechannel::detail::is_http2_server_preface(bytes, false);
  const bool whole = securechannel::detail::is_http2_server_preface(bytes, true);
  if (whole && !partial) std::abort();
  if (partial) {
    const bool settings = size >= 9 && data[3] == 0x4 && (data[4] & 0x1) == 0;
    const bool stream_zero = size >= 9 && (data[5] & 0x7f) == 0 && data[6] == 0 && data[7] == 0 && data[8] == 0;
    if (!settings || !stream_zero) std::abort();
  }
  if (securechannel::detail::idle_bytes_expected("http/1.1", bytes, false)) std::abort();
  return 0;
}

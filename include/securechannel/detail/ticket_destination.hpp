// What OpenSSL's callbacks need to know about the connection they run for: the new-session
// callback, where a ticket goes; the certificate callback, that the server asked for ours. Each
// SecureChannel holds one and points its SSL's app data at it.
#pragma once

#include <cstdint>
#include <string>

namespace securechannel::detail {

class TicketDestination {
 public:
  // The session cache's key, "name:port" as verified, interned by the cache (one copy per server,
  // not per connection); null when resumption is off.
  const std::string* server() const noexcept { return reinterpret_cast<const std::string*>(bits_ & ~flag_bits); }
  // Set when the server sent a CertificateRequest (mTLS), whether or not we have a certificate:
  // its alerts then name a client-certificate problem, and a TLS 1.3 connection waits for the
  // server's verdict on our certificate before it is handed out.
  bool certificate_requested() const noexcept { return (bits_ & requested_bit) != 0; }

  // For a new handshake: no certificate request seen yet.
  void reset(const std::string* server) noexcept { bits_ = reinterpret_cast<std::uintptr_t>(server); }
  void note_certificate_request() noexcept { bits_ |= requested_bit; }

 private:
  // All in one word, the flag in the pointer's lowest bit (a std::string is at least 8-byte
  // aligned, so it is always 0): 8 bytes per connection instead of 16, and every byte of an idle
  // connection counts (ARCHITECTURE.md, memory per connection).
  static constexpr std::uintptr_t requested_bit = 1;
  static constexpr std::uintptr_t flag_bits = requested_bit;
  static_assert(alignof(std::string) >= 2);
  std::uintptr_t bits_ = 0;
};

}  // namespace securechannel::detail

// What OpenSSL's new-session callback needs to know about the connection a session ticket
// arrived on; each SecureChannel holds one and points its SSL's app data at it.
#pragma once

#include <cstdint>
#include <string>

namespace securechannel::detail {

class TicketDestination {
 public:
  // The session cache's key, "name:port" as verified, interned by the cache (one copy per server,
  // not per connection); null when resumption is off.
  const std::string* server() const noexcept {
    return reinterpret_cast<const std::string*>(bits_ & ~confirmed_bit);
  }
  // Set once the connection's identity is fully established (chain, host name and pins). TLS 1.3
  // tickets arrive after that; a TLS 1.2 session arrives inside the handshake, before the pin
  // check, and is not kept when pins are configured.
  bool identity_confirmed() const noexcept { return (bits_ & confirmed_bit) != 0; }

  void reset(const std::string* server, bool identity_confirmed) noexcept {
    bits_ = reinterpret_cast<std::uintptr_t>(server) | (identity_confirmed ? confirmed_bit : 0);
  }
  void confirm_identity() noexcept { bits_ |= confirmed_bit; }

 private:
  // Both in one word, the flag in the pointer's lowest bit (a std::string is at least 8-byte
  // aligned, so that bit is always 0): 8 bytes per connection instead of 16, and every byte of
  // an idle connection counts (ARCHITECTURE.md, memory per connection).
  static constexpr std::uintptr_t confirmed_bit = 1;
  static_assert(alignof(std::string) > 1);
  std::uintptr_t bits_ = 0;
};

}  // namespace securechannel::detail

// What OpenSSL's new-session callback needs to know about the connection a session ticket
// arrived on; each SecureChannel holds one and points its SSL's app data at it.
#pragma once

#include <string>

namespace securechannel::detail {

struct TicketDestination {
  // The session cache's key, "name:port" as verified, interned by the cache (one copy per server,
  // not per connection); null when resumption is off.
  const std::string* server = nullptr;
  // Set once the connection's identity is fully established (chain, host name and pins). TLS 1.3
  // tickets arrive after that; a TLS 1.2 session arrives inside the handshake, before the pin
  // check, and is not kept when pins are configured.
  bool identity_confirmed = false;
};

}  // namespace securechannel::detail

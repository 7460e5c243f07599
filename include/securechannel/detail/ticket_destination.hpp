// What OpenSSL's callbacks need to know about the connection they run for: the new-session
// callback, where a ticket goes; the certificate callback, that the server asked for ours. Each
// SecureChannel holds one and points its SSL's app data at it.
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
  // Set when the server sent a CertificateRequest (mTLS), whether or not we have a certificate:
  // its alerts then name a client-certificate problem, and a TLS 1.3 connection waits for the
  // server's verdict on our certificate before it is handed out. Beside the other flag: no size cost.
  bool certificate_requested = false;
};

}  // namespace securechannel::detail

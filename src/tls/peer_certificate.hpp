// What the server's certificates say, read from a connection's SSL object: the leaf's notAfter
// for the expiry gauge, and the chain as sent, in words, for verification failures.
//
//   if (auto not_after = detail::peer_leaf_not_after(ssl)) record(*not_after);
//   failure.peer_chain = detail::describe_sent_chain(ssl);
//   // "the server sent 1 certificate: [0] CN=localhost, issued by CN=relay intermediate"
#pragma once

#include <chrono>
#include <optional>
#include <string>

struct ssl_st;
struct x509_st;
struct X509_name_st;

namespace securechannel::detail {

// notAfter of the server's leaf certificate; nullopt when the connection holds none (no
// handshake yet) or the time cannot be read.
std::optional<std::chrono::system_clock::time_point> peer_leaf_not_after(const ssl_st* ssl);

// notAfter of any certificate (ours too, e.g. the monitoring server's); nullopt when unreadable.
std::optional<std::chrono::system_clock::time_point> certificate_not_after(const x509_st* certificate);

// A name in RFC 2253 order ("CN=leaf,O=org"), as operators read names in logs and
// openssl x509 -nameopt; "?" when it cannot be printed.
std::string name_text(const X509_name_st* name);

// The certificates the server sent (not the chain OpenSSL built), each as subject and issuer, so
// that "unable to get local issuer certificate" shows whether an intermediate was missing or the
// issuer is unknown. Empty when the server sent none.
std::string describe_sent_chain(const ssl_st* ssl);

}  // namespace securechannel::detail

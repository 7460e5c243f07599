// A PEM private key parsed from locked memory, for the certificates we present: the client
// certificate of mTLS (tls/client_certificate.cpp) and the monitoring server's (monitor/
// monitoring_tls.cpp). OpenSSL reads the key file's bytes in place (a read-only memory BIO over
// the SecureBuffer) and gets the passphrase through a callback, so neither is copied.
#pragma once

#include "securechannel/config_error.hpp"
#include "securechannel/secure_buffer.hpp"

#include <memory>
#include <optional>
#include <string>

struct evp_pkey_st;

namespace securechannel::detail {

struct PrivateKeyDeleter {
  void operator()(evp_pkey_st* key) const noexcept;
};
using PrivateKey = std::unique_ptr<evp_pkey_st, PrivateKeyDeleter>;

// Names used in the errors: "tls.client_key_file: wrong passphrase for '/etc/k.pem'
// (tls.client_key_passphrase)".
struct PrivateKeyFields {
  std::string key_field;
  std::string passphrase_field;
  std::string path;  // the key file's path
};

// The key in `key_file` (PEM, encrypted or not) with `passphrase` (empty: none); null with
// `error` naming the field and the reason: encrypted without a passphrase, a wrong passphrase, no
// PEM private key in the file.
PrivateKey parse_private_key(const SecureBuffer& key_file, const SecureBuffer& passphrase,
                             const PrivateKeyFields& fields, std::optional<ConfigError>& error);

// The oldest queued OpenSSL error in words ("ca md too weak"), and the queue cleared.
std::string openssl_reason();

}  // namespace securechannel::detail

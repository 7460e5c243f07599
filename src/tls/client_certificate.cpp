#include "tls/client_certificate.hpp"

#include "tls/private_key_pem.hpp"

#include "securechannel/detail/ticket_destination.hpp"
#include "securechannel/secure_buffer.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace securechannel::detail {
namespace {

int note_certificate_request(SSL* ssl, void* /*unused*/) {
  if (auto* destination = static_cast<TicketDestination*>(SSL_get_app_data(ssl))) {
    destination->note_certificate_request();
  }
  return 1;  // carry on: OpenSSL sends our certificate if we have one, an empty list otherwise
}

}  // namespace

bool load_client_certificate(SSL_CTX* context, const TlsOptions& options, std::optional<ConfigError>& error) {
  const std::string& certificate_path = options.client_certificate_file;
  const std::string& key_path = options.client_key_file;
  const bool has_passphrase = options.client_key_passphrase && !options.client_key_passphrase->empty();
  if (has_passphrase && !options.client_key_passphrase_file.empty()) {
    error.emplace("tls.client_key_passphrase_file", "given with tls.client_key_passphrase (give one of them)");
    return false;
  }
  if (certificate_path.empty() && key_path.empty()) {
    if (!has_passphrase && options.client_key_passphrase_file.empty()) return true;
    error.emplace(has_passphrase ? "tls.client_key_passphrase" : "tls.client_key_passphrase_file",
                  "given without tls.client_key_file");
    return false;
  }
  if (key_path.empty()) {
    error.emplace("tls.client_key_file", "required with tls.client_certificate_file");
    return false;
  }
  if (certificate_path.empty()) {
    error.emplace("tls.client_certificate_file", "required with tls.client_key_file");
    return false;
  }

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(context, certificate_path.c_str()) != 1) {
    error.emplace("tls.client_certificate_file", "cannot load '" + certificate_path + "': " + openssl_reason());
    return false;
  }

  PrivateKey key;
  {
    std::string read_error;
    const SecureBuffer key_file = SecureBuffer::from_file(key_path, read_error);
    if (!read_error.empty()) {
      error.emplace("tls.client_key_file", read_error);
      return false;
    }
    SharedSecret passphrase = options.client_key_passphrase;
    std::string passphrase_field = "tls.client_key_passphrase";
    if (!options.client_key_passphrase_file.empty()) {
      passphrase_field = "tls.client_key_passphrase_file";
      passphrase = read_secret_file(options.client_key_passphrase_file, read_error);
      if (!passphrase) {
        error.emplace(passphrase_field, read_error);
        return false;
      }
    }
    static const SecureBuffer no_passphrase;
    key = parse_private_key(key_file, passphrase ? *passphrase : no_passphrase,
                            {.key_field = "tls.client_key_file", .passphrase_field = passphrase_field, .path = key_path},
                            error);
    if (!key) return false;
  }  // OpenSSL holds the key now: the file's bytes, and a passphrase read from its file, are wiped here

  // SSL_CTX_use_PrivateKey refuses a key that does not match a certificate of its own type;
  // SSL_CTX_check_private_key catches a key of another type (an RSA key for an EC certificate).
  if (SSL_CTX_use_PrivateKey(context, key.get()) != 1 || SSL_CTX_check_private_key(context) != 1) {
    error.emplace("tls.client_certificate_file", "'" + certificate_path + "' does not match the private key in '" +
                                                     key_path + "' (tls.client_key_file): " + openssl_reason());
    return false;
  }
  return true;
}

void note_certificate_requests(SSL_CTX* context) { SSL_CTX_set_cert_cb(context, note_certificate_request, nullptr); }

}  // namespace securechannel::detail

#include "tls/private_key_pem.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <span>

namespace securechannel::detail {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};

struct PassphraseRequest {
  const SecureBuffer* passphrase = nullptr;
  bool asked = false;     // the key is encrypted
  bool too_long = false;  // longer than OpenSSL's buffer
};

// OpenSSL's pem_password_cb. We always pass one: with none, OpenSSL would prompt on the terminal
// for an encrypted key, and a pool must fail with a message instead of hanging on stdin.
int provide_passphrase(char* destination, int capacity, int /*encrypting*/, void* user_data) {
  auto& request = *static_cast<PassphraseRequest*>(user_data);
  request.asked = true;
  int written = -1;  // OpenSSL reads any result < 1 as "no passphrase"
  request.passphrase->read([&](std::span<const std::byte> bytes) {
    if (bytes.empty()) return;
    if (capacity < 0 || bytes.size() > static_cast<std::size_t>(capacity)) {
      request.too_long = true;
      return;
    }
    std::memcpy(destination, bytes.data(), bytes.size());  // OpenSSL cleanses its buffer after use
    written = static_cast<int>(bytes.size());
  });
  return written;
}

}  // namespace

void PrivateKeyDeleter::operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }

std::string openssl_reason() {
  const unsigned long code = ERR_peek_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string text = reason != nullptr ? reason : "unknown OpenSSL error";
  ERR_clear_error();
  return text;
}

PrivateKey parse_private_key(const SecureBuffer& key_file, const SecureBuffer& passphrase,
                             const PrivateKeyFields& fields, std::optional<ConfigError>& error) {
  const std::string& passphrase_field = fields.passphrase_field;
  const std::string& path = fields.path;
  PassphraseRequest request{.passphrase = &passphrase};
  PrivateKey key;
  ERR_clear_error();
  key_file.read([&](std::span<const std::byte> bytes) {
    // A read-only memory BIO reads the locked bytes in place: no copy of the PEM text is made.
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, provide_passphrase, &request));
  });
  if (key) {
    ERR_clear_error();
    return key;
  }
  const std::string reason = openssl_reason();
  if (request.too_long) {
    error.emplace(passphrase_field, "longer than OpenSSL accepts");
  } else if (request.asked && passphrase.empty()) {
    error.emplace(fields.key_field, "'" + path + "' is encrypted and no passphrase is given (" + passphrase_field + ")");
  } else if (request.asked) {
    error.emplace(fields.key_field, "wrong passphrase for '" + path + "' (" + passphrase_field + ")");
  } else {
    error.emplace(fields.key_field, "'" + path + "' holds no PEM private key (" + reason + ")");
  }
  return nullptr;
}

}  // namespace securechannel::detail

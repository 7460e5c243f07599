#include "tls/client_certificate.hpp"

#include "securechannel/detail/ticket_destination.hpp"
#include "securechannel/secure_buffer.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cstring>
#include <memory>

namespace securechannel::detail {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};

// The oldest queued OpenSSL error in words, and the queue cleared.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string text = reason != nullptr ? reason : "unknown OpenSSL error";
  ERR_clear_error();
  return text;
}

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

// Parses the PEM private key in `key_file` (already read into locked memory) with `passphrase`.
std::unique_ptr<EVP_PKEY, KeyDeleter> parse_private_key(const SecureBuffer& key_file, const SecureBuffer& passphrase,
                                                        const std::string& passphrase_field, const std::string& path,
                                                        std::string& error) {
  PassphraseRequest request{.passphrase = &passphrase};
  std::unique_ptr<EVP_PKEY, KeyDeleter> key;
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
    error = passphrase_field + ": longer than OpenSSL accepts";
  } else if (request.asked && passphrase.empty()) {
    error = "tls.client_key_file: '" + path + "' is encrypted and no passphrase is given (" + passphrase_field + ")";
  } else if (request.asked) {
    error = "tls.client_key_file: wrong passphrase for '" + path + "' (" + passphrase_field + ")";
  } else {
    error = "tls.client_key_file: '" + path + "' holds no PEM private key (" + reason + ")";
  }
  return nullptr;
}

int note_certificate_request(SSL* ssl, void* /*unused*/) {
  if (auto* destination = static_cast<TicketDestination*>(SSL_get_app_data(ssl))) {
    destination->note_certificate_request();
  }
  return 1;  // carry on: OpenSSL sends our certificate if we have one, an empty list otherwise
}

}  // namespace

bool load_client_certificate(SSL_CTX* context, const TlsOptions& options, std::string& error) {
  const std::string& certificate_path = options.client_certificate_file;
  const std::string& key_path = options.client_key_file;
  const bool has_passphrase = options.client_key_passphrase && !options.client_key_passphrase->empty();
  if (has_passphrase && !options.client_key_passphrase_file.empty()) {
    error = "tls.client_key_passphrase_file: given with tls.client_key_passphrase (give one of them)";
    return false;
  }
  if (certificate_path.empty() && key_path.empty()) {
    if (!has_passphrase && options.client_key_passphrase_file.empty()) return true;
    error = std::string(has_passphrase ? "tls.client_key_passphrase" : "tls.client_key_passphrase_file") +
            ": given without tls.client_key_file";
    return false;
  }
  if (key_path.empty()) {
    error = "tls.client_key_file: required with tls.client_certificate_file";
    return false;
  }
  if (certificate_path.empty()) {
    error = "tls.client_certificate_file: required with tls.client_key_file";
    return false;
  }

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(context, certificate_path.c_str()) != 1) {
    error = "tls.client_certificate_file: cannot load '" + certificate_path + "': " + openssl_reason();
    return false;
  }

  std::unique_ptr<EVP_PKEY, KeyDeleter> key;
  {
    std::string read_error;
    const SecureBuffer key_file = SecureBuffer::from_file(key_path, read_error);
    if (!read_error.empty()) {
      error = "tls.client_key_file: " + read_error;
      return false;
    }
    SharedSecret passphrase = options.client_key_passphrase;
    std::string passphrase_field = "tls.client_key_passphrase";
    if (!options.client_key_passphrase_file.empty()) {
      passphrase_field = "tls.client_key_passphrase_file";
      passphrase = read_secret_file(options.client_key_passphrase_file, read_error);
      if (!passphrase) {
        error = passphrase_field + ": " + read_error;
        return false;
      }
    }
    static const SecureBuffer no_passphrase;
    key = parse_private_key(key_file, passphrase ? *passphrase : no_passphrase, passphrase_field, key_path, error);
    if (!key) return false;
  }  // OpenSSL holds the key now: the file's bytes, and a passphrase read from its file, are wiped here

  // SSL_CTX_use_PrivateKey refuses a key that does not match a certificate of its own type;
  // SSL_CTX_check_private_key catches a key of another type (an RSA key for an EC certificate).
  if (SSL_CTX_use_PrivateKey(context, key.get()) != 1 || SSL_CTX_check_private_key(context) != 1) {
    error = "tls.client_certificate_file: '" + certificate_path + "' does not match the private key in '" + key_path +
            "' (tls.client_key_file): " + openssl_reason();
    return false;
  }
  return true;
}

void note_certificate_requests(SSL_CTX* context) { SSL_CTX_set_cert_cb(context, note_certificate_request, nullptr); }

}  // namespace securechannel::detail

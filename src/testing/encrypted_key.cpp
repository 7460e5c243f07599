#include "testing/encrypted_key.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace securechannel::testing {
namespace {

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

std::string openssl_error() {
  char text[256] = "unknown OpenSSL error";
  if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

std::filesystem::path write_encrypted_key(const std::filesystem::path& key_file, const std::string& passphrase,
                                          const std::filesystem::path& destination) {
  File in(std::fopen(key_file.c_str(), "r"), std::fclose);
  if (!in) throw std::runtime_error("write_encrypted_key: cannot open " + key_file.string());
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(PEM_read_PrivateKey(in.get(), nullptr, nullptr, nullptr),
                                                      EVP_PKEY_free);
  if (!key) throw std::runtime_error("write_encrypted_key: " + key_file.string() + ": " + openssl_error());
  File out(std::fopen(destination.c_str(), "w"), std::fclose);
  if (!out) throw std::runtime_error("write_encrypted_key: cannot create " + destination.string());
  if (PEM_write_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), passphrase.data(),
                                static_cast<int>(passphrase.size()), nullptr, nullptr) != 1) {
    throw std::runtime_error("write_encrypted_key: " + destination.string() + ": " + openssl_error());
  }
  return destination;
}

}  // namespace securechannel::testing

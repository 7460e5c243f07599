#include "tls/public_key_pins.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

namespace securechannel::detail {

std::optional<SpkiDigest> parse_pin(std::string_view pin) {
  constexpr std::string_view prefix = "sha256//";
  if (pin.starts_with(prefix)) pin.remove_prefix(prefix.size());
  // 32 bytes are 44 base64 characters, one '=' of padding included.
  if (pin.size() != 44) return std::nullopt;
  unsigned char decoded[33] = {};
  const int length = EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(pin.data()), 44);
  // EVP_DecodeBlock counts the padding as data (33 bytes for 44 characters with one '=').
  if (length != 33 || pin.back() != '=' || pin[42] == '=') return std::nullopt;
  SpkiDigest digest;
  std::copy(decoded, decoded + digest.size(), digest.begin());
  return digest;
}

std::optional<SpkiDigest> spki_digest(const X509* certificate) {
  if (certificate == nullptr) return std::nullopt;
  unsigned char* der = nullptr;
  const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &der);
  if (length <= 0) return std::nullopt;
  std::unique_ptr<unsigned char, void (*)(void*)> owned(der, [](void* p) { OPENSSL_free(p); });
  SpkiDigest digest;
  SHA256(der, static_cast<std::size_t>(length), digest.data());
  return digest;
}

std::string format_pin(const SpkiDigest& digest) {
  unsigned char encoded[45] = {};
  EVP_EncodeBlock(encoded, digest.data(), static_cast<int>(digest.size()));
  return "sha256//" + std::string(reinterpret_cast<const char*>(encoded), 44);
}

}  // namespace securechannel::detail

#include "tls/public_key_pins.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
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

int verify_chain_then_pins(X509_STORE_CTX* verification, void* pins) {
  const int verified = X509_verify_cert(verification);
  // A negative result (an internal error) fails the handshake like a refusal: libssl reads
  // anything but 1 from this callback as "not verified".
  if (verified <= 0) return 0;
  const auto& wanted = *static_cast<const std::vector<SpkiDigest>*>(pins);
  const STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(verification);
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    const auto digest = spki_digest(sk_X509_value(chain, i));
    if (digest && std::find(wanted.begin(), wanted.end(), *digest) != wanted.end()) return 1;
  }
  X509_STORE_CTX_set_error(verification, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

std::string describe_pin_mismatch(std::size_t pin_count, const X509* server_certificate) {
  const auto digest = spki_digest(server_certificate);
  return "no key in the verified chain matches the " + std::to_string(pin_count) +
         " configured pin(s); the server's key is " + (digest ? format_pin(*digest) : std::string("none"));
}

}  // namespace securechannel::detail

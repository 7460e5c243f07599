// SPKI pinning: SHA-256 digests of a certificate's SubjectPublicKeyInfo, written as HPKP and
// curl's --pinnedpubkey write them ("sha256//<base64>"). Checked on the chain that normal
// verification built, inside OpenSSL's verification (so a mismatch ends the handshake before our
// client certificate is sent): a pin narrows what the trust store accepts, it never replaces it.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct x509_st;
struct x509_store_ctx_st;

namespace securechannel::detail {

using SpkiDigest = std::array<unsigned char, 32>;

// "sha256//BASE64" or the bare base64 of 32 bytes; nullopt when it is neither.
std::optional<SpkiDigest> parse_pin(std::string_view pin);
// The SHA-256 of the certificate's DER SubjectPublicKeyInfo; nullopt if it cannot be encoded.
std::optional<SpkiDigest> spki_digest(const x509_st* certificate);
// "sha256//BASE64".
std::string format_pin(const SpkiDigest& digest);

// OpenSSL's certificate verification for a context with pins (SSL_CTX_set_cert_verify_callback,
// `pins` pointing at the context's std::vector<SpkiDigest>): X509_verify_cert, then the pins on
// the verified chain. A mismatch fails verification with X509_V_ERR_APPLICATION_VERIFICATION,
// which nothing else in the library sets (see describe_pin_mismatch).
int verify_chain_then_pins(x509_store_ctx_st* verification, void* pins);
// The reason for that failure: how many pins there are, and the key the server showed.
std::string describe_pin_mismatch(std::size_t pin_count, const x509_st* server_certificate);

}  // namespace securechannel::detail

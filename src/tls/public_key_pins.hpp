// SPKI pinning: SHA-256 digests of a certificate's SubjectPublicKeyInfo, written as HPKP and
// curl's --pinnedpubkey write them ("sha256//<base64>"). Checked after normal verification:
// a pin narrows what the trust store accepts, it never replaces it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct x509_st;

namespace securechannel::detail {

using SpkiDigest = std::array<unsigned char, 32>;

// "sha256//BASE64" or the bare base64 of 32 bytes; nullopt when it is neither.
std::optional<SpkiDigest> parse_pin(std::string_view pin);
// The SHA-256 of the certificate's DER SubjectPublicKeyInfo; nullopt if it cannot be encoded.
std::optional<SpkiDigest> spki_digest(const x509_st* certificate);
// "sha256//BASE64".
std::string format_pin(const SpkiDigest& digest);

}  // namespace securechannel::detail

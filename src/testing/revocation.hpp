// Revocation data for tests, made by Debian's openssl from an index file in `openssl ca`'s
// format: OCSP responses (`openssl ocsp` as the CA's responder), the DER file that
// `openssl s_server -status_file` staples, and CRLs (`openssl ca -gencrl`).
//
//   const auto good = write_ocsp_response(authority, leaf, OcspStatus::good, directory / "good.der");
//   OpenSslServer server({..., .arguments = {"-status_file", good.string()}});
#pragma once

#include "demo/certificate_authority.hpp"

#include <filesystem>

namespace securechannel::testing {

enum class OcspStatus {
  good,
  revoked,  // an hour ago, reason keyCompromise
  unknown,  // the responder does not know the certificate
};

// Signed by `signer`'s key (the issuer of `leaf`, or another CA for a response that must not
// verify), valid for a day from its signing. `signed_days_ago` > 1 makes a response that has
// expired: openssl runs under Debian's faketime, its clock set back that many days. Throws
// std::runtime_error with openssl's output on failure.
std::filesystem::path write_ocsp_response(const demo::CertificateAuthority& signer, const demo::IssuedCertificate& leaf,
                                          OcspStatus status, const std::filesystem::path& output,
                                          int signed_days_ago = 0);

// A PEM CRL signed by `signer` listing `revoked` (an hour ago, keyCompromise), valid for a day.
std::filesystem::path write_crl(const demo::CertificateAuthority& signer, const demo::IssuedCertificate& revoked,
                                const std::filesystem::path& output);

}  // namespace securechannel::testing

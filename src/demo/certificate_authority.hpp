// A throwaway certificate authority for tests, benchmarks and `scpool demo`: it makes a CA and
// leaf certificates at run time (EC P-256, SHA-256) in a private temporary directory, so no key
// is ever committed and every run gets fresh, valid — or deliberately broken — certificates.
//
//   auto ca = securechannel::demo::CertificateAuthority::create();
//   auto server = ca.issue("server");                        // CN/SAN localhost + 127.0.0.1
//   auto expired = ca.issue("expired", {.valid_from_offset = -std::chrono::hours(48),
//                                       .valid_until_offset = -std::chrono::hours(24)});
//   auto weak = ca.issue("weak", {.key = KeyKind::rsa_1024});            // refused by policy
//   auto intermediate = ca.issue_intermediate("relay intermediate");
//   auto chained = intermediate.issue("chained");   // chained.chain_file: leaf + intermediate
//   client_config.ca_file = ca.ca_certificate_file();
//
// The directory and every file in it are removed when the authority is destroyed.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace securechannel::demo {

// The leaf's key. The weak one exists to be refused: OpenSSL at security level 2 (what our
// client sets) wants 2048-bit RSA; a server needs @SECLEVEL=0 to even load it.
enum class KeyKind {
  ec_p256,
  rsa_2048,  // for the RSA-only TLS 1.2 suites (AES128-SHA, ECDHE-RSA-...)
  rsa_1024,  // too weak
};

// The digest of the issuer's signature over the certificate. SHA-1 exists to be refused.
enum class SignatureDigest {
  sha256,
  sha1,  // insecure: below security level 1 since OpenSSL 3.0
};

struct CertificateOptions {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses = {"127.0.0.1"};  // subjectAltName IP entries (v4 or v6)
  std::chrono::seconds valid_from_offset{-3600};           // notBefore = now + offset (clock skew)
  std::chrono::seconds valid_until_offset{30 * 24 * 3600}; // notAfter = now + offset
  KeyKind key = KeyKind::ec_p256;
  SignatureDigest digest = SignatureDigest::sha256;
  // Signed by its own key (issuer = subject) instead of the CA's: a self-signed leaf, as a
  // misconfigured server presents, which no trust store vouches for.
  bool self_signed = false;
};

struct IssuedCertificate {
  std::filesystem::path certificate_file{};  // PEM, the leaf only
  std::filesystem::path key_file{};          // PEM, unencrypted PKCS#8
  // PEM: the leaf, then the intermediates between it and the root (what a server should send;
  // the root itself is the client's trust anchor). The leaf alone when a root issued it.
  std::filesystem::path chain_file{};
};

class CertificateAuthority {
 public:
  // Makes a self-signed CA (basicConstraints CA:TRUE critical, keyUsage keyCertSign|cRLSign,
  // subjectKeyIdentifier) and a fresh temporary directory (under $TMPDIR or /tmp) holding
  // ca.pem. Throws std::runtime_error carrying OpenSSL's error string on failure.
  static CertificateAuthority create(std::string common_name = "securechannel test CA");

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;
  ~CertificateAuthority();  // removes the directory and everything in it

  const std::filesystem::path& directory() const;
  std::filesystem::path ca_certificate_file() const;
  // Writes this CA's private key (PEM) into directory() and returns its path: for tools that
  // sign in the CA's name (`openssl ocsp -rkey`, `openssl ca -gencrl`).
  std::filesystem::path ca_key_file() const;

  // Issues a leaf signed by this CA (EKU serverAuth+clientAuth, keyUsage digitalSignature,
  // authorityKeyIdentifier, SANs from options) and writes <name>.pem and <name>.key into
  // directory(). Files are 0644 and the directory 0755 because nginx workers may run as
  // another user. Issuing the same name twice overwrites the files. Throws std::runtime_error.
  IssuedCertificate issue(const std::string& name, const CertificateOptions& options = {});

  // An intermediate CA signed by this one (basicConstraints CA:TRUE, pathlen:0), with a
  // temporary directory of its own whose ca_certificate_file() is the intermediate's
  // certificate. Leaves it issues get a chain_file with the intermediate (and this CA's own
  // intermediates, if it is one). Clients keep trusting the root only. Throws std::runtime_error.
  CertificateAuthority issue_intermediate(const std::string& common_name);

 private:
  struct State;  // OpenSSL objects stay out of this header
  explicit CertificateAuthority(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace securechannel::demo

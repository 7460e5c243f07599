// What a pool trusts and offers when it opens TLS connections (or that it opens plain ones).
// Plain data; validated by ClientTlsContext::create(), which names the offending field when
// something is wrong.
//
//   securechannel::TlsOptions tls;
//   tls.ca_file = "/etc/relay/ca.pem";          // trusted in addition to the system store
//   tls.alpn = {"h2", "http/1.1"};
#pragma once

#include "securechannel/secure_buffer.hpp"

#include <string>
#include <vector>

namespace securechannel {

enum class TlsVersion {
  tls1_2,  // allowed only when asked for: ECDHE + AEAD suites only
  tls1_3,  // the default minimum
};

// What a stapled OCSP response (RFC 6066 status_request) decides (docs/TLS.md, "Revocation").
enum class OcspPolicy {
  off,         // no status_request sent, a staple ignored
  if_stapled,  // a staple is checked (revoked: certificate_revoked); none is fine
  require,     // a server that staples nothing is refused
};

struct TlsOptions {
  // Off: the pool's connections are plain TCP, for http:// upstreams (docs/POOL.md, "Plain
  // HTTP"): nothing is encrypted, nothing about the server is verified. Never implied: a pool file
  // says `tls = false`, a builder without_tls(). Refused together with anything only TLS does
  // (pins, a client certificate, CA or CRL files, a server name, ALPN).
  bool enabled = true;
  // Plain connections only: speak HTTP/2 from the first byte (h2c with prior knowledge, RFC 9113
  // 3.3) instead of HTTP/1.1. Over TLS, ALPN chooses.
  bool http2_prior_knowledge = false;
  // Trust the operating system's store (Debian: /etc/ssl/certs/ca-certificates.crt). Loading
  // tolerates bad entries: they are skipped, counted and logged.
  bool use_system_trust_store = true;
  // PEM file with extra trusted CA certificates (e.g. a private relay CA).
  std::string ca_file;
  // Directory of hashed CA certificates (`openssl rehash`), looked up lazily.
  std::string ca_directory;
  // Lowest protocol version accepted. Never below TLS 1.2.
  TlsVersion min_version = TlsVersion::tls1_3;
  // TLS 1.3 suites offered, in preference order (OpenSSL's colon-separated names). AES-128-GCM
  // first, as Go and Chrome do: as strong in practice, faster, and its key schedule and hash
  // state make an idle connection 0.3 KB smaller than with OpenSSL's AES-256-GCM-first default.
  std::string tls13_ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  // ALPN protocols offered, in preference order (e.g. "h2", "http/1.1"). Empty: no ALPN.
  std::vector<std::string> alpn;
  // Resume later connections with the TLS 1.3 tickets (or TLS 1.2 sessions) earlier connections
  // to the same server received: a resumed handshake skips the certificate exchange and costs the
  // connection about 4 KB less memory. The cache belongs to this context; tickets are used once.
  bool session_resumption = true;
  // SPKI pins: SHA-256 of a certificate's SubjectPublicKeyInfo, "sha256//<base64>" as curl's
  // --pinnedpubkey and HPKP write them (`openssl x509 -pubkey -noout | openssl pkey -pubin
  // -outform der | openssl dgst -sha256 -binary | base64`). When any are given, the verified chain
  // (leaf, intermediates or root) must contain a key matching one of them, or the connection fails
  // with certificate_pin_mismatch. List a backup pin (the next key) to rotate without an outage.
  std::vector<std::string> pins;
  // Stapled OCSP responses: asked for and checked by default.
  OcspPolicy ocsp = OcspPolicy::if_stapled;
  // PEM file of CRLs (from the CAs of the server's chain): the server's certificate is checked
  // against them during verification; a revoked one fails with certificate_revoked. Empty: none.
  std::string crl_file;
  // Name sent as SNI and checked against the certificate; empty means the endpoint's host.
  std::string server_name;
  // mTLS: our certificate, offered when the server asks for one. A PEM file with the leaf first,
  // then any intermediates the server needs to build the chain to the CA it trusts.
  std::string client_certificate_file;
  // The private key of that certificate, PEM (PKCS#8 or traditional; encrypted when a passphrase
  // is given). Read into a SecureBuffer, parsed by OpenSSL from there, then wiped.
  std::string client_key_file;
  // The passphrase of an encrypted client_key_file, one of two ways:
  // - a file holding it (one trailing line end ignored), read into a SecureBuffer each time the
  //   key is loaded (build, reload_tls()) and wiped right after: nothing of it stays in the
  //   process, and a rotated passphrase is picked up with the rotated key;
  // - the passphrase itself, in locked memory (take_secret() / make_shared_secret()); it stays
  //   there, shared by every copy of these options, because reload_tls() parses the key again.
  std::string client_key_passphrase_file;
  SharedSecret client_key_passphrase;
};

}  // namespace securechannel

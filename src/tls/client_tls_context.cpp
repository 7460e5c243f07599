#include "securechannel/client_tls_context.hpp"

#include "securechannel/secure_buffer.hpp"
#include "tls/client_certificate.hpp"
#include "tls/ocsp_staple.hpp"
#include "tls/plain_tcp_conflict.hpp"
#include "tls/public_key_pins.hpp"
#include "tls/tls_session_cache.hpp"
#include "tls/trust_store.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <filesystem>
#include <utility>

// Idle connections give their record buffers back with SSL_free_buffers, whose use-after-free
// (CVE-2024-4741) is fixed in 3.0.14. The build refuses older headers (CMakeLists.txt), and
// create() older run-time libraries, which a distribution could pair with newer headers.
#if OPENSSL_VERSION_NUMBER < 0x300000E0L
#error "securechannel needs OpenSSL 3.0.14 or later (CVE-2024-4741)"
#endif

namespace securechannel {
namespace {

constexpr unsigned long minimum_openssl_version = 0x300000E0UL;  // 3.0.14

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};

// ALPN's wire format: each protocol name prefixed by its length.
bool encode_alpn(const std::vector<std::string>& protocols, std::string& wire, std::optional<ConfigError>& error) {
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      error.emplace("tls.alpn", "protocol names must be 1 to 255 bytes long");
      return false;
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return true;
}

// How many unused tickets are kept per server: enough for a warm-up's burst of connects
// (16 at a time) to find one most of the time, few enough to stay small (about 1 KB each).
constexpr std::size_t tickets_per_server = 16;

// OpenSSL's security level 2: 112-bit security (docs/TLS.md, "Certificate checks").
constexpr int minimum_security_level = 2;

// OpenSSL's new-session callback: a verified connection (chain, name and pins) received a ticket
// (TLS 1.3, after the handshake, whenever the connection reads) or a session (TLS 1.2, at the end
// of the handshake).
// Returning 1 hands our reference to the cache.
int keep_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* cache = static_cast<detail::TlsSessionCache*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* destination = static_cast<const detail::TicketDestination*>(SSL_get_app_data(ssl));
  if (cache == nullptr || destination == nullptr || destination->server() == nullptr) return 0;
  cache->offer(*destination->server(), session);
  return 1;
}

// OpenSSL skips names it does not know; a typo must not silently drop a suite (or all of them).
bool set_tls13_ciphersuites(SSL_CTX* context, const std::string& suites, std::optional<ConfigError>& error) {
  const std::string field = "tls.tls13_ciphersuites";
  if (suites.empty() || SSL_CTX_set_ciphersuites(context, suites.c_str()) != 1) {
    ERR_clear_error();
    error.emplace(field, "'" + suites + "' is not a list of TLS 1.3 suites (e.g. TLS_AES_128_GCM_SHA256)");
    return false;
  }
  const STACK_OF(SSL_CIPHER)* enabled = SSL_CTX_get_ciphers(context);
  std::size_t start = 0;
  while (start <= suites.size()) {
    const std::size_t end = std::min(suites.find(':', start), suites.size());
    const std::string name = suites.substr(start, end - start);
    bool known = false;
    for (int i = 0; i < sk_SSL_CIPHER_num(enabled) && !known; ++i) {
      const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(enabled, i);
      known = SSL_CIPHER_get_protocol_id(cipher) >> 8 == 0x13 && name == SSL_CIPHER_get_name(cipher);
    }
    if (!known) {
      error.emplace(field, "unknown TLS 1.3 suite '" + name + "'");
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

ClientTlsContext::ClientTlsContext(SSL_CTX* context, TlsOptions options, TrustStoreReport report)
    : context_(context), options_(std::move(options)), trust_report_(std::move(report)) {
  if (options_.session_resumption && context_ != nullptr) {
    session_cache_ = std::make_unique<detail::TlsSessionCache>(tickets_per_server);
    SSL_CTX_set_app_data(context_, session_cache_.get());
    // A client cache of our own: OpenSSL's internal store would keep an extra reference to every
    // session (measured: +1.4 KB per idle connection) and has no notion of single use.
    SSL_CTX_set_session_cache_mode(context_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(context_, keep_new_session);
  }
}

ClientTlsContext::~ClientTlsContext() {
  session_cache_.reset();  // tickets first, then the context that issued them
  SSL_CTX_free(context_);
}

std::shared_ptr<ClientTlsContext> ClientTlsContext::create(const TlsOptions& options,
                                                           std::optional<ConfigError>& error) {
  error.reset();
  if (auto conflict = detail::plain_tcp_conflict(options)) {
    error = std::move(conflict);
    return nullptr;
  }
  if (!options.enabled) return std::shared_ptr<ClientTlsContext>(new ClientTlsContext(nullptr, options, {}));
  if (OpenSSL_version_num() < minimum_openssl_version) {
    error.emplace("tls", std::string("OpenSSL 3.0.14 or later is needed (CVE-2024-4741); this process runs ") +
                             OpenSSL_version(OPENSSL_VERSION));
    return nullptr;
  }
  std::unique_ptr<SSL_CTX, SslCtxDeleter> context(SSL_CTX_new(TLS_client_method()));
  if (!context) {
    error.emplace("tls", "cannot create an OpenSSL context");
    return nullptr;
  }

  const int min_version = options.min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(context.get(), min_version);
  // TLS 1.2, when allowed at all, only with forward secrecy and AEAD; TLS 1.3's suites all are.
  if (SSL_CTX_set_cipher_list(context.get(), "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    error.emplace("tls", "OpenSSL rejected the TLS 1.2 cipher policy");
    return nullptr;
  }
  if (!set_tls13_ciphersuites(context.get(), options.tls13_ciphersuites, error)) return nullptr;
  SSL_CTX_set_options(context.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Security level 2 at least (112 bits: RSA and DH keys of 2048 bits, EC of 224, no SHA-1
  // signatures), whatever openssl.cnf or OpenSSL's build say: Debian builds with 2, upstream 3.0
  // defaults to 1, which accepts RSA-1024. Verification applies it to every certificate of the
  // server's chain (docs/TLS.md, "Certificate checks"); a stricter system level is kept.
  if (SSL_CTX_get_security_level(context.get()) < minimum_security_level) {
    SSL_CTX_set_security_level(context.get(), minimum_security_level);
  }
  // RELEASE_BUFFERS frees the 17 KB record buffers of a connection whenever they are empty, which
  // is what keeps an idle pooled connection small (ARCHITECTURE.md, memory per connection).
  SSL_CTX_set_mode(context.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(context.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);

  TrustStoreReport report;
  X509_STORE* store = SSL_CTX_get_cert_store(context.get());
  bool have_roots = false;
  if (options.use_system_trust_store) {
    have_roots = detail::load_system_trust_store(store, report) || have_roots;
  }
  if (!options.ca_file.empty()) {
    std::string reason;
    if (!detail::load_ca_file(store, options.ca_file, report.ca_file_certificates, reason)) {
      error.emplace("tls.ca_file", reason);
      return nullptr;
    }
    have_roots = true;
  }
  if (!options.ca_directory.empty()) {
    std::error_code fs_error;
    // OpenSSL reads the directory lazily and would accept a path that does not exist.
    if (!std::filesystem::is_directory(options.ca_directory, fs_error) ||
        X509_STORE_load_path(store, options.ca_directory.c_str()) != 1) {
      ERR_clear_error();
      error.emplace("tls.ca_directory", "cannot use '" + options.ca_directory + "' as a certificate directory");
      return nullptr;
    }
    have_roots = true;
  }
  if (!options.crl_file.empty()) {
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == nullptr || X509_load_crl_file(lookup, options.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
      ERR_clear_error();
      error.emplace("tls.crl_file", "cannot read a CRL (PEM) from '" + options.crl_file + "'");
      return nullptr;
    }
    // The server's certificate against the CRLs; its CAs are not (their CRLs are seldom at hand,
    // and a missing one would fail every connection).
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  if (!have_roots) {
    error.emplace("tls", options.use_system_trust_store
                             ? "the system trust store is empty or missing and no tls.ca_file is given"
                             : "use_system_trust_store is off and neither tls.ca_file nor tls.ca_directory is given");
    return nullptr;
  }

  if (!options.alpn.empty()) {
    std::string wire;
    if (!encode_alpn(options.alpn, wire, error)) return nullptr;
    // Unlike most of OpenSSL, SSL_CTX_set_alpn_protos returns 0 on success.
    if (SSL_CTX_set_alpn_protos(context.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      error.emplace("tls.alpn", "OpenSSL rejected the protocol list");
      return nullptr;
    }
  }
  std::vector<detail::SpkiDigest> pins;
  for (std::size_t i = 0; i < options.pins.size(); ++i) {
    const auto pin = detail::parse_pin(options.pins[i]);
    if (!pin) {
      error.emplace("tls.pins[" + std::to_string(i) + "]",
                    "'" + options.pins[i] + "' is not sha256//<base64 of 32 bytes> (curl --pinnedpubkey format)");
      return nullptr;
    }
    pins.push_back(*pin);
  }
  if (!detail::load_client_certificate(context.get(), options, error)) return nullptr;
  // Also without a certificate of ours: a server that demands one must get a named error.
  detail::note_certificate_requests(context.get());
  ERR_clear_error();
  auto created = std::shared_ptr<ClientTlsContext>(new ClientTlsContext(context.release(), options, std::move(report)));
  created->pins_ = std::move(pins);
  detail::require_stapled_status(created->context_, &created->options_.ocsp);
  if (!created->pins_.empty()) {
    // Inside verification rather than after the handshake: a server whose key is not pinned is
    // refused before our certificate is sent (docs/TLS.md, "Certificate checks").
    SSL_CTX_set_cert_verify_callback(created->context_, detail::verify_chain_then_pins, &created->pins_);
  }
  return created;
}

}  // namespace securechannel

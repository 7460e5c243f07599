// The TLS client configuration shared by every connection of a pool: trusted roots, protocol
// floor, ALPN, cipher policy. One OpenSSL SSL_CTX, built once, read-only afterwards.
//
//   std::optional<securechannel::ConfigError> error;
//   auto context = securechannel::ClientTlsContext::create(options, error);
//   if (!context) throw *error;   // error->field() "tls.ca_file", what() "tls.ca_file: cannot read ..."
//
// Loading the system store tolerates bad entries (skipped, counted, logged): one malformed
// certificate in /etc/ssl/certs must not take a relay offline.
#pragma once

#include "securechannel/config_error.hpp"
#include "securechannel/tls_options.hpp"

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

struct ssl_ctx_st;

namespace securechannel {
namespace detail {
class TlsSessionCache;
}

struct TrustStoreReport {
  std::string system_store_source;            // file or directory the system roots came from
  std::size_t system_certificates_loaded = 0;
  std::size_t system_certificates_skipped = 0;  // unparsable or rejected entries
  std::size_t ca_file_certificates = 0;         // from TlsOptions::ca_file
};

class ClientTlsContext {
 public:
  // Returns nullptr and sets `error`, naming the field and the problem, on failure. With TLS off,
  // a context without OpenSSL's, refusing every TLS setting but the defaults.
  static std::shared_ptr<ClientTlsContext> create(const TlsOptions& options, std::optional<ConfigError>& error);

  ~ClientTlsContext();
  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;

  // Null when TLS is off (TlsOptions::enabled): the connections made with it are plain TCP.
  ssl_ctx_st* native_handle() const noexcept { return context_; }
  bool tls_enabled() const noexcept { return context_ != nullptr; }
  const TlsOptions& options() const noexcept { return options_; }
  const TrustStoreReport& trust_report() const noexcept { return trust_report_; }
  // Tickets kept for resumption (session_resumption); null when resumption is off.
  detail::TlsSessionCache* session_cache() const noexcept { return session_cache_.get(); }
  // TlsOptions::pins, decoded: SHA-256 digests of acceptable SubjectPublicKeyInfos.
  const std::vector<std::array<unsigned char, 32>>& pins() const noexcept { return pins_; }

 private:
  ClientTlsContext(ssl_ctx_st* context, TlsOptions options, TrustStoreReport report);

  std::unique_ptr<detail::TlsSessionCache> session_cache_;
  ssl_ctx_st* context_;
  TlsOptions options_;
  TrustStoreReport trust_report_;
  std::vector<std::array<unsigned char, 32>> pins_;
};

}  // namespace securechannel

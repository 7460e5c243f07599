#include "tls/plain_tcp_conflict.hpp"

#include <string>

namespace securechannel::detail {

std::optional<ConfigError> plain_tcp_conflict(const TlsOptions& options) {
  if (options.enabled) {
    if (!options.http2_prior_knowledge) return std::nullopt;
    return ConfigError("http2_prior_knowledge", "is for plain connections (tls = false); over TLS, ALPN chooses");
  }
  const TlsOptions defaults;
  const auto refuse = [](const std::string& key) {
    return ConfigError("tls." + key, "needs TLS, and this pool has tls = false (plain TCP): remove one of them");
  };
  if (!options.pins.empty()) return refuse("pins");
  if (!options.client_certificate_file.empty()) return refuse("client_certificate_file");
  if (!options.client_key_file.empty()) return refuse("client_key_file");
  if (!options.client_key_passphrase_file.empty() || options.client_key_passphrase) {
    return refuse("client_key_passphrase_file");
  }
  if (!options.ca_file.empty()) return refuse("ca_file");
  if (!options.ca_directory.empty()) return refuse("ca_directory");
  if (!options.crl_file.empty()) return refuse("crl_file");
  if (!options.server_name.empty()) return refuse("server_name");
  if (!options.alpn.empty()) return refuse("alpn");
  if (options.ocsp == OcspPolicy::require) return refuse("ocsp");
  if (options.min_version != defaults.min_version) return refuse("min_version");
  if (options.tls13_ciphersuites != defaults.tls13_ciphersuites) return refuse("tls13_ciphersuites");
  return std::nullopt;
}

}  // namespace securechannel::detail

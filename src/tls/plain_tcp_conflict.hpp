// What a pool with TLS off (TlsOptions::enabled false) must not also ask for: a setting only TLS
// can honour would otherwise be dropped without a word, and an operator who wrote pins would
// believe the upstream verified.
#pragma once

#include "securechannel/config_error.hpp"
#include "securechannel/tls_options.hpp"

#include <optional>

namespace securechannel::detail {

// With TLS off, the first TLS-only setting of `options` that differs from its default, named as
// its key; with TLS on, http2_prior_knowledge (plain connections only).
std::optional<ConfigError> plain_tcp_conflict(const TlsOptions& options);

}  // namespace securechannel::detail

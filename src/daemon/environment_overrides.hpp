// SCPOOL_* environment variables laid over the daemon's parsed file, for containers where the
// file is baked into the image and a deployment changes a few values (docs/DAEMON.md,
// "Environment"). Each variable becomes a TOML value at its key, as if written in the file, so
// it is checked by the same reader; a problem with it names the variable instead of a line.
//
//   SCPOOL_MONITOR_LISTEN=0.0.0.0:9090        [monitor] listen  (SCPOOL_MONITOR_ADDR too)
//   SCPOOL_MONITOR_TOKEN_FILE=/run/secrets/t   [monitor] token_file
//   SCPOOL_LOG_FORMAT=json, SCPOOL_LOG_LEVEL=debug
//   SCPOOL_DRAIN_GRACE=30s                     [daemon] drain_grace
//   SCPOOL_RELAY_MAX_CONNECTIONS=50            max_connections of the pool with namespace "relay"
//   SCPOOL_RELAY_TLS_CA_FILE=/etc/ca.pem       [pool.tls] ca_file of that pool
//
// A value is read as TOML when it parses as one (50, true, ["a", "b"]) and as a string
// otherwise (2s, relay.example:443). SCPOOL_CONFIG is the config file's path (read by
// `scpool serve`, not here); any other SCPOOL_* variable that names no setting is an error.
#pragma once

#include "config/toml_table_reader.hpp"
#include "daemon/daemon_config.hpp"

#include <toml++/toml.h>

namespace securechannel::daemon {

// Applies every SCPOOL_* variable of `environment` to `root`; problems go to `document`.
void apply_environment_overrides(toml::table& root, const Environment& environment, config::Document& document);

}  // namespace securechannel::daemon

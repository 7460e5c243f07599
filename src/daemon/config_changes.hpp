// What a re-read daemon file (SIGHUP) changes, sorted into what the running daemon applies
// live and what needs a restart. Applied live: each pool's TLS options (CA, pins, client
// certificate, ...), whose files are re-read in any case so that rotated material is picked up,
// its PoolLimits (max_connections, min_idle, max_pending, acquire_timeout, idle_timeout,
// max_lifetime, latency_threshold), and the limits and timeouts of each listener whose mode and
// address stay. Everything else a pool or listener is built with (endpoint, timeouts of
// connects and pings, listener modes and addresses, listeners or pools added or removed) is
// reported and left as it was.
//
//   for (const std::string& change : daemon::changes_needing_restart(running, next)) log(change);
#pragma once

#include "daemon/daemon_config.hpp"

#include <string>
#include <vector>

namespace securechannel::daemon {

bool same_tls_options(const TlsOptions& a, const TlsOptions& b);

// One line per setting that differs and cannot change live: "pool relay: endpoint a:443 -> b:443".
std::vector<std::string> changes_needing_restart(const DaemonConfig& running, const DaemonConfig& next);
// The same listener in both files: same mode, same address (its limits may differ).
bool same_listener(const ListenerConfig& running, const ListenerConfig& next);
// One line per listener limit or timeout that differs:
// "pool relay listener[0]: max_connections 1024 -> 64".
std::vector<std::string> listener_setting_changes(const std::string& pool, std::size_t index,
                                                  const ListenerConfig& running, const ListenerConfig& next);
// One line per PoolLimits field that differs: "pool relay: max_connections 8 -> 16".
std::vector<std::string> limit_changes(const PoolConfig& running, const PoolConfig& next);

}  // namespace securechannel::daemon

// The daemon's file (`scpool serve --config scpool.toml`, docs/DAEMON.md): the pools of a pool
// file, each with its sidecar listeners, plus the monitoring server, the log and the daemon's
// own settings. Every mistake in the file and in the environment overrides is reported at
// once, as ConfigErrors naming the key and its line (or the environment variable).
//
//   [monitor]
//   listen = "127.0.0.1:9090"          # port 0: any free port, printed at start
//   token_file = "monitor.token"
//   allow_insecure_bind = false        # beyond loopback: token_file or [monitor.tls], or this
//   [monitor.tls]                      # optional: HTTPS
//   certificate_file = "monitor.crt"
//   key_file = "monitor.key"
//   [log]
//   format = "json"
//   [[pool]]
//   namespace = "relay"
//   endpoints = ["relay-a.example:443"]
//   [pool.tls]
//   ca_file = "relay-ca.pem"
//   [[pool.listener]]
//   mode = "tcp"
//   listen = "127.0.0.1:7000"
//
//   daemon::DaemonConfig config = daemon::load_daemon_config("scpool.toml", daemon::process_environment());
#pragma once

#include "daemon/daemon_log.hpp"
#include "daemon/listener_limits.hpp"
#include "daemon/upstream_group.hpp"
#include "securechannel/monitoring_tls.hpp"
#include "securechannel/pool_config.hpp"
#include "securechannel/secure_buffer.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace securechannel::daemon {

enum class ListenerMode {
  tcp,   // each local connection spliced onto one pooled TLS connection
  http,  // local HTTP/1.1 requests forwarded through the pool's HttpClient
};

struct ListenerConfig {
  ListenerMode mode = ListenerMode::tcp;
  std::string host;          // an IP address literal
  std::uint16_t port = 0;    // 0: any free port, printed at start
  ListenerLimits limits;
  bool add_forwarded_headers = false;            // http: X-Forwarded-For/-Proto/-Host
  std::chrono::milliseconds request_timeout{30'000};  // http: one upstream exchange
  std::string affinity_header;  // http: requests with this header keep a connection per value
  // A listener has no authentication: whoever reaches it sends through the pool (with its client
  // certificate). Beyond loopback only with this set.
  bool allow_insecure_bind = false;
  std::string address() const;                   // "127.0.0.1:7000", "[::1]:7000"
};

struct DaemonPoolConfig {
  PoolConfig pool;                       // pool.endpoint is endpoints[0]; each endpoint gets a copy
  std::vector<std::string> endpoints;    // as written, at least one, all different
  BalancingPolicy balancing = BalancingPolicy::least_requests;
  OutlierDetection outlier_detection;    // [pool.outlier_detection]
  std::string backup;                    // another pool's namespace, or empty
  std::vector<ListenerConfig> listeners;
};

struct MonitorConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9090;
  SharedSecret token;  // from token_file; null: no authentication
  std::string token_file;
  // [monitor.tls]: HTTPS with this certificate chain and key, loaded when the file is read (so
  // check-config tries them too). Null: plain HTTP.
  std::string tls_certificate_file;
  std::string tls_key_file;
  std::shared_ptr<MonitoringTls> tls;
  // Beyond loopback the monitoring server needs token_file or [monitor.tls], or this.
  bool allow_insecure_bind = false;
  // Wrong tokens per client address before it gets one try per interval (0: no limit).
  std::uint32_t auth_failures_allowed = 10;
  std::chrono::milliseconds auth_failure_interval{1000};
};

struct DaemonConfig {
  MonitorConfig monitor;
  LogSettings log;
  // SIGTERM/SIGINT: how long exchanges in flight may take to finish before they are cut.
  std::chrono::milliseconds drain_grace{10'000};
  std::vector<DaemonPoolConfig> pools;
};

// Environment variables by name; only the SCPOOL_* ones are read.
using Environment = std::map<std::string, std::string>;
Environment process_environment();

// Reads `path` and applies the SCPOOL_* overrides of `environment` on top of it (precedence:
// flag > environment > file > default; flags are the caller's). Throws ConfigErrors.
DaemonConfig load_daemon_config(const std::string& path, const Environment& environment);
// The same for TOML text; relative paths in it start at `base_directory`.
DaemonConfig parse_daemon_config(std::string_view text, const std::string& source_name,
                                 const std::string& base_directory, const Environment& environment);

// "host:port" or "[v6]:port" with an IP literal host; false with a reason otherwise.
bool parse_listen_address(const std::string& text, std::string& host, std::uint16_t& port, std::string& problem);

}  // namespace securechannel::daemon

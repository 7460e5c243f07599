#include "check_config_command.hpp"

#include "daemon/daemon_config.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>
#include <toml++/toml.h>

namespace scpool {
namespace {

using namespace securechannel;

// How the pool's connections are made: plain TCP, or TLS with what sets it apart.
std::string describe_transport(const TlsOptions& tls) {
  if (!tls.enabled) return tls.http2_prior_knowledge ? "plain TCP, HTTP/2 by prior knowledge" : "plain TCP";
  std::string text = fmt::format("TLS {}+", tls.min_version == TlsVersion::tls1_2 ? "1.2" : "1.3");
  if (!tls.use_system_trust_store) text += ", custom CA only";
  if (!tls.pins.empty()) text += fmt::format(", {} pin{}", tls.pins.size(), tls.pins.size() == 1 ? "" : "s");
  if (!tls.client_certificate_file.empty()) text += ", client certificate";
  if (!tls.alpn.empty()) {
    text += ", ALPN";
    for (const std::string& protocol : tls.alpn) text += " " + protocol;
  }
  return text;
}

std::string describe(const PoolConfig& config) {
  std::string text = fmt::format("max_connections {}, min_idle {}, {}", config.max_connections, config.min_idle,
                                 describe_transport(config.tls));
  if (config.metrics_auth_token) text += ", metrics token";
  return text;
}

// A daemon's file has tables or pool keys a pool file does not ([monitor], [[pool.listener]],
// endpoints, ...); anything else, including a file that does not parse, is read as a pool file,
// whose reader reports the problem.
bool is_daemon_file(const std::string& path) {
  try {
    const toml::table root = toml::parse_file(path);
    if (root.contains("monitor") || root.contains("log") || root.contains("daemon")) return true;
    const toml::array* pools = root["pool"].as_array();
    if (pools == nullptr) return false;
    for (const toml::node& pool : *pools) {
      const toml::table* table = pool.as_table();
      if (table == nullptr) continue;
      for (const char* key : {"listener", "endpoints", "backup", "balancing", "outlier_detection"}) {
        if (table->contains(key)) return true;
      }
    }
  } catch (const toml::parse_error&) {
  }
  return false;
}

// What `scpool serve` would build, without binding or connecting: every pool of every endpoint.
int check_daemon_file(const std::string& path) {
  daemon::DaemonConfig config;
  try {
    config = daemon::load_daemon_config(path, daemon::process_environment());
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool check-config: {}:\n{}\n", path, error.what());
    return 2;
  }
  boost::asio::io_context io;
  int status = 0;
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    const daemon::DaemonPoolConfig& entry = config.pools[i];
    for (const std::string& endpoint : entry.endpoints) {
      PoolConfig pool = entry.pool;
      pool.endpoint = endpoint;
      try {
        SecureChannelPool::create(io.get_executor(), pool);
        fmt::print("pool[{}] {} {}: ok ({}; {} listener{})\n", i, pool.metric_namespace, endpoint, describe(pool),
                   entry.listeners.size(), entry.listeners.size() == 1 ? "" : "s");
      } catch (const ConfigError& error) {
        fmt::print(stderr, "scpool check-config: {}: pool[{}].{}\n", path, i, error.what());
        status = 2;
      }
    }
  }
  if (status == 0) {
    fmt::print("monitor {}:{}{}\n", config.monitor.host, config.monitor.port, config.monitor.token ? ", token" : "");
  }
  return status;
}

}  // namespace

int run_check_config(const std::string& path) {
  if (is_daemon_file(path)) return check_daemon_file(path);
  std::vector<PoolConfig> pools;
  try {
    pools = load_pool_config_file(path);
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool check-config: {}\n", error.what());
    return 2;
  }
  boost::asio::io_context io;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const PoolConfig& config = pools[i];
    try {
      // Building reads the CA, certificate and key files and checks pins and suites; a pool
      // starts nothing by itself, so nothing connects.
      SecureChannelPool::create(io.get_executor(), config);
    } catch (const ConfigError& error) {
      fmt::print(stderr, "scpool check-config: {}: pool[{}].{}\n", path, i, error.what());
      return 2;
    }
    fmt::print("pool[{}] {} {}: ok ({})\n", i, config.metric_namespace, config.endpoint, describe(config));
  }
  return 0;
}

}  // namespace scpool

#include "daemon/config_changes.hpp"

#include <fmt/format.h>

#include <map>

namespace securechannel::daemon {
namespace {

// Collects "what: old → new" for each differing field.
class Differences {
 public:
  explicit Differences(std::vector<std::string>& out, std::string scope) : out_(out), scope_(std::move(scope)) {}

  template <typename Value>
  void compare(std::string_view name, const Value& running, const Value& next) {
    if (running != next) out_.push_back(fmt::format("{}: {} {} -> {}", scope_, name, text(running), text(next)));
  }

 private:
  template <typename Value>
  static std::string text(const Value& value) {
    if constexpr (std::is_same_v<Value, std::chrono::milliseconds>) {
      return std::to_string(value.count()) + "ms";
    } else if constexpr (std::is_same_v<Value, std::string>) {
      return value.empty() ? "(none)" : value;
    } else if constexpr (std::is_same_v<Value, bool>) {
      return value ? "true" : "false";
    } else {
      return fmt::format("{}", value);
    }
  }

  std::vector<std::string>& out_;
  std::string scope_;
};

void compare_pools(const DaemonPoolConfig& running, const DaemonPoolConfig& next, std::vector<std::string>& out) {
  const PoolConfig& a = running.pool;
  const PoolConfig& b = next.pool;
  Differences d(out, "pool " + a.metric_namespace);
  d.compare("endpoint", a.endpoint, b.endpoint);
  // PoolLimits' fields change live (limit_changes).
  d.compare("cleanup_interval", a.cleanup_interval, b.cleanup_interval);
  d.compare("max_lifetime_jitter", a.max_lifetime_jitter, b.max_lifetime_jitter);
  d.compare("max_connecting", a.max_connecting, b.max_connecting);
  d.compare("max_requests_per_connection", a.max_requests_per_connection, b.max_requests_per_connection);
  d.compare("health_recycle_below", a.health_recycle_below, b.health_recycle_below);
  d.compare("affinity_max_keys", a.affinity_max_keys, b.affinity_max_keys);
  d.compare("connect_timeout", a.connect_timeout, b.connect_timeout);
  d.compare("dns_refresh_interval", a.dns_refresh_interval, b.dns_refresh_interval);
  d.compare("validate_after_inactivity", a.validate_after_inactivity, b.validate_after_inactivity);
  d.compare("http2_ping_after", a.http2_ping_after, b.http2_ping_after);
  d.compare("http2_ping_timeout", a.http2_ping_timeout, b.http2_ping_timeout);
  d.compare("tcp_user_timeout", a.tcp_user_timeout, b.tcp_user_timeout);
  d.compare("tcp_keepalive_idle", a.tcp_keepalive_idle, b.tcp_keepalive_idle);
  d.compare("tcp_keepalive_interval", a.tcp_keepalive_interval, b.tcp_keepalive_interval);
  d.compare("tcp_keepalive_count", a.tcp_keepalive_count, b.tcp_keepalive_count);
  d.compare("circuit_breaker_failure_threshold", a.circuit_breaker_failure_threshold, b.circuit_breaker_failure_threshold);
  d.compare("circuit_breaker_cooldown", a.circuit_breaker_cooldown, b.circuit_breaker_cooldown);
  d.compare("reconnect_backoff_base", a.reconnect_backoff_base, b.reconnect_backoff_base);
  d.compare("reconnect_backoff_max", a.reconnect_backoff_max, b.reconnect_backoff_max);
  d.compare("histogram_rotation_interval", a.histogram_rotation_interval, b.histogram_rotation_interval);
  d.compare("certificate_expiry_warning", a.certificate_expiry_warning, b.certificate_expiry_warning);
  d.compare("release_memory_at_rest", a.release_memory_at_rest, b.release_memory_at_rest);
  d.compare("backup", running.backup, next.backup);
  d.compare("listeners", running.listeners.size(), next.listeners.size());
  for (std::size_t i = 0; i < std::min(running.listeners.size(), next.listeners.size()); ++i) {
    const ListenerConfig& l = running.listeners[i];
    const ListenerConfig& m = next.listeners[i];
    Differences ld(out, fmt::format("pool {} listener[{}]", a.metric_namespace, i));
    ld.compare("mode", std::string(l.mode == ListenerMode::tcp ? "tcp" : "http"),
               std::string(m.mode == ListenerMode::tcp ? "tcp" : "http"));
    ld.compare("listen", l.address(), m.address());
    // The limits change live (listener_setting_changes).
  }
}

}  // namespace

bool same_tls_options(const TlsOptions& a, const TlsOptions& b) {
  const auto same_secret = [](const SharedSecret& x, const SharedSecret& y) {
    if (!x || !y) return !x && !y;
    bool same = false;
    y->read([&](std::span<const std::byte> bytes) {
      same = x->equals(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    });
    return same;
  };
  return a.enabled == b.enabled && a.http2_prior_knowledge == b.http2_prior_knowledge &&
         a.use_system_trust_store == b.use_system_trust_store && a.ca_file == b.ca_file &&
         a.ca_directory == b.ca_directory && a.min_version == b.min_version &&
         a.tls13_ciphersuites == b.tls13_ciphersuites && a.alpn == b.alpn &&
         a.session_resumption == b.session_resumption && a.pins == b.pins && a.server_name == b.server_name &&
         a.client_certificate_file == b.client_certificate_file && a.client_key_file == b.client_key_file &&
         a.client_key_passphrase_file == b.client_key_passphrase_file &&
         same_secret(a.client_key_passphrase, b.client_key_passphrase);
}

bool same_listener(const ListenerConfig& running, const ListenerConfig& next) {
  return running.mode == next.mode && running.address() == next.address();
}

std::vector<std::string> listener_setting_changes(const std::string& pool, std::size_t index,
                                                  const ListenerConfig& l, const ListenerConfig& m) {
  std::vector<std::string> out;
  Differences d(out, fmt::format("pool {} listener[{}]", pool, index));
  d.compare("max_connections", l.limits.max_connections, m.limits.max_connections);
  d.compare("idle_timeout", l.limits.idle_timeout, m.limits.idle_timeout);
  d.compare("max_header_bytes", l.limits.max_header_bytes, m.limits.max_header_bytes);
  d.compare("max_body_bytes", l.limits.max_body_bytes, m.limits.max_body_bytes);
  d.compare("header_timeout", l.limits.header_timeout, m.limits.header_timeout);
  d.compare("half_close_timeout", l.limits.half_close_timeout, m.limits.half_close_timeout);
  d.compare("add_forwarded_headers", l.add_forwarded_headers, m.add_forwarded_headers);
  d.compare("request_timeout", l.request_timeout, m.request_timeout);
  d.compare("affinity_header", l.affinity_header, m.affinity_header);
  return out;
}

std::vector<std::string> limit_changes(const PoolConfig& running, const PoolConfig& next) {
  std::vector<std::string> out;
  const PoolLimits a = limits_of(running);
  const PoolLimits b = limits_of(next);
  Differences d(out, "pool " + running.metric_namespace);
  d.compare("max_connections", a.max_connections, b.max_connections);
  d.compare("min_idle", a.min_idle, b.min_idle);
  d.compare("max_pending", a.max_pending, b.max_pending);
  d.compare("acquire_timeout", a.acquire_timeout, b.acquire_timeout);
  d.compare("idle_timeout", a.idle_timeout, b.idle_timeout);
  d.compare("max_lifetime", a.max_lifetime, b.max_lifetime);
  d.compare("latency_threshold", a.latency_threshold, b.latency_threshold);
  return out;
}

std::vector<std::string> changes_needing_restart(const DaemonConfig& running, const DaemonConfig& next) {
  std::vector<std::string> out;
  Differences daemon(out, "daemon");
  daemon.compare("monitor.listen", running.monitor.host + ":" + std::to_string(running.monitor.port),
                 next.monitor.host + ":" + std::to_string(next.monitor.port));
  daemon.compare("monitor.token_file", running.monitor.token_file, next.monitor.token_file);
  // Between HTTP and HTTPS: the monitoring clients expect the scheme they were given. A new
  // certificate (same or other files) is applied live.
  daemon.compare("monitor.tls", std::string(running.monitor.tls ? "on" : "off"),
                 std::string(next.monitor.tls ? "on" : "off"));
  daemon.compare("drain_grace", running.drain_grace, next.drain_grace);
  std::map<std::string, const DaemonPoolConfig*> next_pools;
  for (const DaemonPoolConfig& pool : next.pools) next_pools.emplace(pool.pool.metric_namespace, &pool);
  for (const DaemonPoolConfig& pool : running.pools) {
    const auto found = next_pools.find(pool.pool.metric_namespace);
    if (found == next_pools.end()) {
      out.push_back("pool " + pool.pool.metric_namespace + ": removed from the file (it keeps running)");
      continue;
    }
    compare_pools(pool, *found->second, out);
    next_pools.erase(found);
  }
  for (const auto& [name, pool] : next_pools) out.push_back("pool " + name + ": added to the file (not started)");
  return out;
}

}  // namespace securechannel::daemon

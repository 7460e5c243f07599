#include "securechannel/pool_config.hpp"

#include "core/loopback_address.hpp"
#include "tls/plain_tcp_conflict.hpp"

#include <limits>

#include <charconv>

namespace securechannel {

bool parse_endpoint(const std::string& endpoint, std::string& host, std::string& port, std::string& problem) {
  std::string::size_type colon;
  if (!endpoint.empty() && endpoint.front() == '[') {
    const auto close = endpoint.find(']');
    if (close == std::string::npos || close + 1 >= endpoint.size() || endpoint[close + 1] != ':') {
      problem = "'" + endpoint + "' is not [ipv6]:port";
      return false;
    }
    host = endpoint.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = endpoint.rfind(':');
    if (colon == std::string::npos) {
      problem = "'" + endpoint + "' has no port (expected host:port)";
      return false;
    }
    host = endpoint.substr(0, colon);
    if (host.find(':') != std::string::npos) {
      problem = "'" + endpoint + "': IPv6 addresses need brackets, as in [::1]:443";
      return false;
    }
  }
  if (host.empty()) {
    problem = "'" + endpoint + "' has an empty host";
    return false;
  }
  port = endpoint.substr(colon + 1);
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    problem = "'" + endpoint + "': port must be a number from 1 to 65535";
    return false;
  }
  return true;
}

namespace {

bool valid_metric_namespace(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::string_view scheme_of(const PoolConfig& config) noexcept { return config.tls.enabled ? "https" : "http"; }

std::optional<ConfigError> validate(PoolConfig& config) {
  std::string problem;
  if (!parse_endpoint(config.endpoint, config.host, config.port, problem)) return ConfigError("endpoint", problem);
  if (!valid_metric_namespace(config.metric_namespace)) {
    return ConfigError("namespace", "'" + config.metric_namespace +
                                        "' is not a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (config.max_connections == 0) return ConfigError("max_connections", "must be at least 1");
  if (config.min_idle > config.max_connections) {
    return ConfigError("min_idle", "must not exceed max_connections (" + std::to_string(config.max_connections) + ")");
  }
  const auto positive = [](Milliseconds value) { return value.count() > 0; };
  if (!positive(config.latency_threshold)) return ConfigError("latency_threshold", "must be greater than zero");
  if (!positive(config.cleanup_interval)) return ConfigError("cleanup_interval", "must be greater than zero");
  if (!positive(config.idle_timeout)) return ConfigError("idle_timeout", "must be greater than zero");
  if (!positive(config.max_lifetime)) return ConfigError("max_lifetime", "must be greater than zero");
  if (!(config.max_lifetime_jitter >= 0 && config.max_lifetime_jitter <= 0.5)) {
    return ConfigError("max_lifetime_jitter", "must be a fraction from 0 to 0.5");
  }
  if (config.max_connecting == 0) return ConfigError("max_connecting", "must be at least 1");
  if (auto conflict = detail::plain_tcp_conflict(config.tls)) return conflict;
  if (config.health_recycle_below > 100) {
    return ConfigError("health_recycle_below", "must be a score from 0 (never recycle) to 100");
  }
  if (config.affinity_max_keys == 0 || config.affinity_max_keys > 10'000'000) {
    return ConfigError("affinity_max_keys", "must be from 1 to 10000000");
  }
  if (!positive(config.connect_timeout)) return ConfigError("connect_timeout", "must be greater than zero");
  if (config.dns_refresh_interval.count() < 0) {
    return ConfigError("dns_refresh_interval", "must not be negative (0 asks the resolver on every connect)");
  }
  if (config.http2_ping_after.count() < 0) return ConfigError("http2_ping_after", "must not be negative (0: never)");
  if (!positive(config.http2_ping_timeout)) return ConfigError("http2_ping_timeout", "must be greater than zero");
  // setsockopt takes these as int: milliseconds for TCP_USER_TIMEOUT, whole seconds for keep-alive.
  constexpr Milliseconds socket_option_limit{std::numeric_limits<int>::max()};
  if (config.tcp_user_timeout.count() < 0 || config.tcp_user_timeout > socket_option_limit) {
    return ConfigError("tcp_user_timeout", "must be from 0 (the OS default) to 24 days");
  }
  if (config.tcp_keepalive_idle.count() < 0 || config.tcp_keepalive_idle > socket_option_limit) {
    return ConfigError("tcp_keepalive_idle", "must be from 0 (off) to 24 days");
  }
  if (config.tcp_keepalive_idle.count() > 0) {
    if (config.tcp_keepalive_idle < std::chrono::seconds(1)) {
      return ConfigError("tcp_keepalive_idle", "must be at least 1s (the kernel counts whole seconds)");
    }
    if (config.tcp_keepalive_interval < std::chrono::seconds(1) || config.tcp_keepalive_interval > socket_option_limit) {
      return ConfigError("tcp_keepalive_interval", "must be from 1s to 24 days");
    }
    if (config.tcp_keepalive_count == 0 || config.tcp_keepalive_count > 127) {
      return ConfigError("tcp_keepalive_count", "must be from 1 to 127");
    }
  }
  if (!positive(config.acquire_timeout)) return ConfigError("acquire_timeout", "must be greater than zero");
  if (config.validate_after_inactivity.count() < 0) {
    return ConfigError("validate_after_inactivity", "must not be negative");
  }
  if (config.circuit_breaker_failure_threshold == 0) {
    return ConfigError("circuit_breaker_failure_threshold", "must be at least 1");
  }
  if (!positive(config.circuit_breaker_cooldown)) {
    return ConfigError("circuit_breaker_cooldown", "must be greater than zero");
  }
  if (!positive(config.reconnect_backoff_base)) return ConfigError("reconnect_backoff_base", "must be greater than zero");
  if (config.reconnect_backoff_max < config.reconnect_backoff_base) {
    return ConfigError("reconnect_backoff_max", "must not be below reconnect_backoff_base");
  }
  if (!positive(config.histogram_rotation_interval)) {
    return ConfigError("histogram_rotation_interval", "must be greater than zero");
  }
  if (config.metrics_host.empty()) return ConfigError("metrics_host", "must not be empty");
  const bool has_metrics_token = config.metrics_auth_token && !config.metrics_auth_token->empty();
  if (!config.metrics_allow_insecure_bind && !has_metrics_token && !detail::is_loopback_host(config.metrics_host)) {
    boost::system::error_code not_an_address;
    boost::asio::ip::make_address(config.metrics_host, not_an_address);
    return ConfigError("metrics_host", not_an_address
        ? "'" + config.metrics_host + "' is not an IP address (the metrics server binds an address, not a name)"
        : config.metrics_host + " is not a loopback address: beyond loopback the metrics need "
          "metrics_auth_token (they are served over plain HTTP: scpool serve's [monitor.tls] adds TLS), or "
          "metrics_allow_insecure_bind");
  }
  if (config.certificate_expiry_warning.count() < 0) {
    return ConfigError("certificate_expiry_warning", "must not be negative (0 turns the warning off)");
  }
  if (config.tls.server_name.find_first_of(" \t\r\n/") != std::string::npos) {
    return ConfigError("tls.server_name", "'" + config.tls.server_name + "' is not a host name");
  }
  if (!config.clock) config.clock = default_clock();
  if (!config.random) config.random = std::make_shared<DefaultRandomSource>();
  return std::nullopt;
}

PoolLimits limits_of(const PoolConfig& config) {
  return {.max_connections = config.max_connections,
          .min_idle = config.min_idle,
          .max_pending = config.max_pending,
          .acquire_timeout = config.acquire_timeout,
          .idle_timeout = config.idle_timeout,
          .max_lifetime = config.max_lifetime,
          .latency_threshold = config.latency_threshold};
}

void apply_limits(const PoolLimits& limits, PoolConfig& config) {
  config.max_connections = limits.max_connections;
  config.min_idle = limits.min_idle;
  config.max_pending = limits.max_pending;
  config.acquire_timeout = limits.acquire_timeout;
  config.idle_timeout = limits.idle_timeout;
  config.max_lifetime = limits.max_lifetime;
  config.latency_threshold = limits.latency_threshold;
}

}  // namespace securechannel

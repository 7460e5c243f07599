#include "securechannel/pool_builder.hpp"

#include "securechannel/secure_channel_pool.hpp"

namespace securechannel {

PoolBuilder::PoolBuilder(std::string endpoint) { config_.endpoint = std::move(endpoint); }

// clang-format off
PoolBuilder& PoolBuilder::with_namespace(std::string value) { config_.metric_namespace = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_max_connections(std::size_t value) { config_.max_connections = value; return *this; }
PoolBuilder& PoolBuilder::with_min_idle(std::size_t value) { config_.min_idle = value; return *this; }
PoolBuilder& PoolBuilder::with_max_pending(std::size_t value) { config_.max_pending = value; return *this; }
PoolBuilder& PoolBuilder::with_max_latency_ms(std::uint64_t value) { config_.latency_threshold = Milliseconds(value); return *this; }
PoolBuilder& PoolBuilder::with_latency_threshold(Milliseconds value) { config_.latency_threshold = value; return *this; }
PoolBuilder& PoolBuilder::with_cleanup_interval(Milliseconds value) { config_.cleanup_interval = value; return *this; }
PoolBuilder& PoolBuilder::with_idle_timeout(Milliseconds value) { config_.idle_timeout = value; return *this; }
PoolBuilder& PoolBuilder::with_max_lifetime(Milliseconds value) { config_.max_lifetime = value; return *this; }
PoolBuilder& PoolBuilder::with_connect_timeout(Milliseconds value) { config_.connect_timeout = value; return *this; }
PoolBuilder& PoolBuilder::with_dns_refresh_interval(Milliseconds value) { config_.dns_refresh_interval = value; return *this; }
PoolBuilder& PoolBuilder::with_max_lifetime_jitter(double value) { config_.max_lifetime_jitter = value; return *this; }
PoolBuilder& PoolBuilder::with_max_connecting(std::size_t value) { config_.max_connecting = value; return *this; }
PoolBuilder& PoolBuilder::with_health_recycle_below(unsigned score) {
  config_.health_recycle_below = score;
  return *this;
}

PoolBuilder& PoolBuilder::with_affinity_max_keys(std::size_t count) {
  config_.affinity_max_keys = count;
  return *this;
}
PoolBuilder& PoolBuilder::with_max_requests_per_connection(std::size_t value) {
  config_.max_requests_per_connection = value;
  return *this;
}
PoolBuilder& PoolBuilder::with_http2_ping(Milliseconds after, Milliseconds timeout) {
  config_.http2_ping_after = after;
  config_.http2_ping_timeout = timeout;
  return *this;
}
PoolBuilder& PoolBuilder::with_tcp_user_timeout(Milliseconds value) { config_.tcp_user_timeout = value; return *this; }
PoolBuilder& PoolBuilder::with_tcp_keepalive(Milliseconds idle, Milliseconds interval, unsigned count) {
  config_.tcp_keepalive_idle = idle;
  config_.tcp_keepalive_interval = interval;
  config_.tcp_keepalive_count = count;
  return *this;
}
PoolBuilder& PoolBuilder::with_acquire_timeout(Milliseconds value) { config_.acquire_timeout = value; return *this; }
PoolBuilder& PoolBuilder::with_validate_after_inactivity(Milliseconds value) { config_.validate_after_inactivity = value; return *this; }
PoolBuilder& PoolBuilder::with_circuit_breaker_failure_threshold(unsigned value) { config_.circuit_breaker_failure_threshold = value; return *this; }
PoolBuilder& PoolBuilder::with_circuit_breaker_cooldown(Milliseconds value) { config_.circuit_breaker_cooldown = value; return *this; }
PoolBuilder& PoolBuilder::with_reconnect_backoff(Milliseconds base, Milliseconds max) { config_.reconnect_backoff_base = base; config_.reconnect_backoff_max = max; return *this; }
PoolBuilder& PoolBuilder::with_histogram_rotation_interval(Milliseconds value) { config_.histogram_rotation_interval = value; return *this; }
PoolBuilder& PoolBuilder::with_metrics_host(std::string value) { config_.metrics_host = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_metrics_port(std::uint16_t value) { config_.metrics_port = value; return *this; }
PoolBuilder& PoolBuilder::with_metrics_auth_token(std::string value) { config_.metrics_auth_token = take_secret(value); return *this; }
PoolBuilder& PoolBuilder::with_metrics_auth_token(SharedSecret value) { config_.metrics_auth_token = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_metrics_insecure_bind(bool allow) { config_.metrics_allow_insecure_bind = allow; return *this; }
PoolBuilder& PoolBuilder::with_tls(TlsOptions value) { config_.tls = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_ca_file(std::string value) { config_.tls.ca_file = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_ca_directory(std::string value) { config_.tls.ca_directory = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_system_trust_store(bool value) { config_.tls.use_system_trust_store = value; return *this; }
PoolBuilder& PoolBuilder::with_min_tls_version(TlsVersion value) { config_.tls.min_version = value; return *this; }
PoolBuilder& PoolBuilder::with_tls13_ciphersuites(std::string suites) { config_.tls.tls13_ciphersuites = std::move(suites); return *this; }
PoolBuilder& PoolBuilder::with_pin(std::string pin) { config_.tls.pins.push_back(std::move(pin)); return *this; }
PoolBuilder& PoolBuilder::with_ocsp(OcspPolicy policy) { config_.tls.ocsp = policy; return *this; }
PoolBuilder& PoolBuilder::with_crl_file(std::string path) { config_.tls.crl_file = std::move(path); return *this; }
PoolBuilder& PoolBuilder::with_session_resumption(bool enabled) { config_.tls.session_resumption = enabled; return *this; }
PoolBuilder& PoolBuilder::without_tls(bool http2_prior_knowledge) {
  config_.tls.enabled = false;
  config_.tls.http2_prior_knowledge = http2_prior_knowledge;
  return *this;
}
PoolBuilder& PoolBuilder::with_alpn(std::vector<std::string> value) { config_.tls.alpn = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_server_name(std::string value) { config_.tls.server_name = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_client_certificate(std::string chain_file, std::string key_file, std::string passphrase) {
  return with_client_certificate(std::move(chain_file), std::move(key_file), take_secret(passphrase));
}
PoolBuilder& PoolBuilder::with_client_certificate(std::string chain_file, std::string key_file, SharedSecret passphrase) {
  config_.tls.client_certificate_file = std::move(chain_file);
  config_.tls.client_key_file = std::move(key_file);
  config_.tls.client_key_passphrase = std::move(passphrase);
  return *this;
}
PoolBuilder& PoolBuilder::with_client_key_passphrase_file(std::string path) { config_.tls.client_key_passphrase_file = std::move(path); return *this; }
PoolBuilder& PoolBuilder::with_certificate_expiry_warning(Milliseconds value) { config_.certificate_expiry_warning = value; return *this; }
PoolBuilder& PoolBuilder::with_release_memory_at_rest(bool value) { config_.release_memory_at_rest = value; return *this; }
PoolBuilder& PoolBuilder::with_clock(std::shared_ptr<Clock> value) { config_.clock = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_random(std::shared_ptr<RandomSource> value) { config_.random = std::move(value); return *this; }
PoolBuilder& PoolBuilder::with_log_sink(PoolLogSink value) { config_.log_sink = std::move(value); return *this; }
// clang-format on

std::shared_ptr<SecureChannelPool> PoolBuilder::build(boost::asio::any_io_executor executor) const {
  return SecureChannelPool::create(std::move(executor), config_);
}

std::shared_ptr<SecureChannelPool> PoolBuilder::try_build(boost::asio::any_io_executor executor,
                                                         std::string& error) const {
  try {
    return build(std::move(executor));
  } catch (const ConfigError& problem) {
    error = problem.what();
    return nullptr;
  }
}

}  // namespace securechannel

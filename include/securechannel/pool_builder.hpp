// Fluent construction of a SecureChannelPool, with the knob names of the seeds. build()
// validates everything at once and throws ConfigError naming the first bad field; try_build()
// reports it instead.
//
//   auto pool = SecureChannelPool::builder("relay.example.com:443")
//                   .with_namespace("btc_prod")
//                   .with_max_connections(200)
//                   .with_latency_threshold(std::chrono::milliseconds(50))
//                   .with_ca_file("/etc/relay/ca.pem")
//                   .build(io.get_executor());
#pragma once

#include "securechannel/pool_config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace securechannel {

class SecureChannelPool;

class PoolBuilder {
 public:
  explicit PoolBuilder(std::string endpoint);

  PoolBuilder& with_namespace(std::string metric_namespace);
  PoolBuilder& with_max_connections(std::size_t count);
  PoolBuilder& with_min_idle(std::size_t count);
  PoolBuilder& with_max_pending(std::size_t count);
  PoolBuilder& with_max_latency_ms(std::uint64_t milliseconds);
  PoolBuilder& with_latency_threshold(Milliseconds threshold);
  PoolBuilder& with_cleanup_interval(Milliseconds interval);
  PoolBuilder& with_idle_timeout(Milliseconds timeout);
  PoolBuilder& with_max_lifetime(Milliseconds lifetime);
  PoolBuilder& with_connect_timeout(Milliseconds timeout);
  PoolBuilder& with_dns_refresh_interval(Milliseconds interval);
  // Each connection lives max_lifetime * (1 ± jitter) [0.10]; 0 to 0.5.
  PoolBuilder& with_max_lifetime_jitter(double jitter);
  // Connects in flight at once, at most [8].
  PoolBuilder& with_max_connecting(std::size_t count);
  // PoolConfig::health_recycle_below [25; 0: never recycle for health].
  PoolBuilder& with_health_recycle_below(unsigned score);
  // PoolConfig::affinity_max_keys [10,000].
  PoolBuilder& with_affinity_max_keys(std::size_t count);
  // PoolConfig::max_requests_per_connection [0: no limit].
  PoolBuilder& with_max_requests_per_connection(std::size_t count);
  // HTTP/2 PING after `after` without a frame [15 s; 0: never]; no ACK within `timeout` [5 s]
  // closes the connection.
  PoolBuilder& with_http2_ping(Milliseconds after, Milliseconds timeout);
  // TCP_USER_TIMEOUT [15 s; 0: the OS default].
  PoolBuilder& with_tcp_user_timeout(Milliseconds timeout);
  // TCP keep-alive: probes after `idle` of silence [30 s; 0: off], every `interval` [10 s],
  // `count` unanswered [3] fail the socket.
  PoolBuilder& with_tcp_keepalive(Milliseconds idle, Milliseconds interval, unsigned count);
  PoolBuilder& with_acquire_timeout(Milliseconds timeout);
  PoolBuilder& with_validate_after_inactivity(Milliseconds inactivity);
  PoolBuilder& with_circuit_breaker_failure_threshold(unsigned failures);
  PoolBuilder& with_circuit_breaker_cooldown(Milliseconds cooldown);
  PoolBuilder& with_reconnect_backoff(Milliseconds base, Milliseconds max);
  PoolBuilder& with_histogram_rotation_interval(Milliseconds interval);
  PoolBuilder& with_metrics_host(std::string host);
  PoolBuilder& with_metrics_port(std::uint16_t port);
  // The token is copied into locked memory and `token` wiped; or pass a SharedSecret.
  PoolBuilder& with_metrics_auth_token(std::string token);
  PoolBuilder& with_metrics_auth_token(SharedSecret token);
  // Lets run_metrics_task listen on a non-loopback metrics_host without a token.
  PoolBuilder& with_metrics_insecure_bind(bool allow = true);
  // TLS
  PoolBuilder& with_tls(TlsOptions options);
  // Plain TCP to an http:// upstream: nothing encrypted, nothing verified (docs/POOL.md, "Plain
  // HTTP"). build() refuses it together with any TLS setting. `http2_prior_knowledge`: speak
  // HTTP/2 from the first byte (h2c) instead of HTTP/1.1.
  PoolBuilder& without_tls(bool http2_prior_knowledge = false);
  PoolBuilder& with_ca_file(std::string path);
  PoolBuilder& with_ca_directory(std::string path);
  PoolBuilder& with_system_trust_store(bool enabled);
  PoolBuilder& with_min_tls_version(TlsVersion version);
  PoolBuilder& with_alpn(std::vector<std::string> protocols);
  PoolBuilder& with_tls13_ciphersuites(std::string suites);
  // Adds an SPKI pin ("sha256//<base64>"); call again for a backup pin.
  PoolBuilder& with_pin(std::string pin);
  PoolBuilder& with_ocsp(OcspPolicy policy);
  PoolBuilder& with_crl_file(std::string path);
  PoolBuilder& with_session_resumption(bool enabled);
  PoolBuilder& with_server_name(std::string name);
  // mTLS: our certificate chain (PEM, leaf first) and its private key, offered when the server
  // asks; `passphrase` for an encrypted key, copied into locked memory (the string is wiped).
  // The key file is read into a SecureBuffer and wiped once OpenSSL holds the key
  // (docs/TLS.md, "Secrets and mTLS").
  PoolBuilder& with_client_certificate(std::string chain_file, std::string key_file, std::string passphrase = {});
  PoolBuilder& with_client_certificate(std::string chain_file, std::string key_file, SharedSecret passphrase);
  // The key's passphrase from a file instead (mode 0600, a systemd credential, a mounted secret):
  // read into locked memory whenever the key is loaded and wiped right after, never kept.
  PoolBuilder& with_client_key_passphrase_file(std::string path);
  // Warn (spdlog) when the upstream's certificate expires within `threshold` [14 days]; 0: never.
  PoolBuilder& with_certificate_expiry_warning(Milliseconds threshold);
  // PoolConfig::release_memory_at_rest [true].
  PoolBuilder& with_release_memory_at_rest(bool release);
  // Injection for tests
  PoolBuilder& with_clock(std::shared_ptr<Clock> clock);
  PoolBuilder& with_random(std::shared_ptr<RandomSource> random);
  PoolBuilder& with_log_sink(PoolLogSink sink);

  const PoolConfig& config() const noexcept { return config_; }

  std::shared_ptr<SecureChannelPool> build(boost::asio::any_io_executor executor) const;
  // nullptr on failure, with `error` set to "field: problem".
  std::shared_ptr<SecureChannelPool> try_build(boost::asio::any_io_executor executor, std::string& error) const;

 private:
  PoolConfig config_;
};

}  // namespace securechannel

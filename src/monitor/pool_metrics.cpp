#include "securechannel/pool_metrics.hpp"

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace securechannel {

namespace {

// Writes one family of the pool's namespace: "<ns>_<suffix>".
class PoolFamilies {
 public:
  PoolFamilies(MetricFamilies& families, const std::string& metric_namespace, const std::string& endpoint)
      : families_(families), prefix_(metric_namespace + "_"), endpoint_(endpoint) {}

  void gauge(std::string_view suffix, std::string_view help, double value) {
    one(suffix, help, MetricType::gauge, value);
  }
  void counter(std::string_view suffix, std::string_view help, std::uint64_t value) {
    one(suffix, help, MetricType::counter, static_cast<double>(value));
  }
  // A counter family with a second label: one sample per (label value, count) in `counts`.
  template <class Counts>
  void counter_by(std::string_view suffix, std::string_view help, std::string_view label, const Counts& counts) {
    MetricFamily& counter_family = family(suffix, help, MetricType::counter);
    for (const auto& [value, count] : counts) {
      counter_family.sample(name_, {{"endpoint", endpoint_}, {label, value}}, static_cast<double>(count));
    }
  }

  // An info gauge (always 1) whose second label carries the fact.
  void info(std::string_view suffix, std::string_view help, std::string_view label, std::string_view value) {
    family(suffix, help, MetricType::gauge).sample(name_, {{"endpoint", endpoint_}, {label, value}}, 1.0);
  }

  void histogram(std::string_view suffix, std::string_view help, const HistogramSnapshot& snapshot,
                 const HistogramLayout& layout) {
    family(suffix, help, MetricType::histogram).histogram({{"endpoint", endpoint_}}, snapshot, layout);
  }

 private:
  MetricFamily& family(std::string_view suffix, std::string_view help, MetricType type) {
    name_ = prefix_;
    name_ += suffix;
    return families_.family(name_, help, type);
  }

  void one(std::string_view suffix, std::string_view help, MetricType type, double value) {
    family(suffix, help, type).sample(name_, {{"endpoint", endpoint_}}, value);
  }

  MetricFamilies& families_;
  std::string prefix_;
  std::string endpoint_;
  std::string name_;
};

}  // namespace

void collect_pool_metrics(const SecureChannelPool& pool, MetricFamilies& families) {
  const PoolStats stats = pool.stats();
  const PoolHistograms histograms = pool.histograms();
  PoolFamilies out(families, pool.config().metric_namespace, pool.config().endpoint);

  out.info("upstream_info", "How the pool reaches its upstream: scheme https (TLS) or http (plain TCP); always 1.",
           "scheme", scheme_of(pool.config()));
  out.gauge("active_connections", "Established connections, idle or leased.",
            static_cast<double>(stats.idle_connections + stats.leased_connections));
  out.gauge("idle_connections", "Established connections waiting in the pool.",
            static_cast<double>(stats.idle_connections));
  out.gauge("leased_connections", "Connections on loan to callers.", static_cast<double>(stats.leased_connections));
  out.gauge("connecting_connections", "Connections being established (TCP, then the TLS handshake unless tls = false).",
            static_cast<double>(stats.connecting_connections));
  out.gauge("max_connections", "Configured upper bound on connections.",
            static_cast<double>(pool.limits().max_connections));
  out.gauge("pending_acquires", "Callers waiting for a connection.", static_cast<double>(stats.pending_acquires));
  out.gauge("affinity_keys", "Affinity keys remembered (up to affinity_max_keys).",
            static_cast<double>(stats.affinity_keys));
  out.gauge("circuit_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            static_cast<double>(static_cast<int>(stats.circuit_state)));
  // Absent until a full handshake has shown a certificate: a made-up 0 would read as "expired".
  if (stats.upstream_certificate_not_after) {
    out.gauge("upstream_cert_expiry_timestamp_seconds",
              "notAfter of the upstream's leaf certificate (latest full handshake), Unix time in seconds.",
              static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                      stats.upstream_certificate_not_after->time_since_epoch())
                                      .count()));
  }

  out.counter("connections_created_total", "Connections established (TLS handshake verified, unless tls = false).",
              stats.connections_created);
  out.counter("tls_resumed_total", "Connections whose TLS handshake resumed an earlier session.", stats.tls_resumed);
  out.counter("connections_closed_total", "Established connections closed, for any reason.",
              stats.connections_closed);
  out.counter("reconnects_total", "Connections established to replace a closed one.", stats.reconnects);
  out.counter("connect_failures_total", "Connection attempts that failed (also counted in errors_total).",
              stats.connect_failures);
  out.counter("requests_total", "Successful acquires: connections handed to callers.", stats.acquires);
  out.counter("connection_reuses_total", "Acquires served by a connection that had served before.", stats.reuses);
  out.counter("acquire_timeouts_total", "Acquires that gave up after acquire_timeout.", stats.acquire_timeouts);
  out.counter("acquires_cancelled_total", "Acquires cancelled by their caller while waiting in line.",
              stats.acquires_cancelled);
  out.counter("pool_exhausted_total", "Acquires refused because max_pending callers were waiting.",
              stats.pool_exhausted);
  out.counter("circuit_open_rejections_total", "Acquires failed fast by the open circuit breaker.",
              stats.circuit_open_rejections);
  out.counter("circuit_breaker_opened_total", "Times the circuit breaker opened.", stats.circuit_opened);
  out.counter("stale_connections_discarded_total", "Idle connections found closed by the peer and replaced.",
              stats.stale_discarded);

  const std::pair<std::string_view, std::uint64_t> recycled[] = {{"idle_timeout", stats.closed_idle_timeout},
                                                                  {"max_lifetime", stats.closed_max_lifetime},
                                                                  {"max_requests", stats.closed_max_requests},
                                                                  {"tls_reload", stats.closed_tls_reload},
                                                                  {"latency", stats.closed_latency},
                                                                  {"unhealthy", stats.closed_unhealthy},
                                                                  {"broken", stats.closed_broken},
                                                                  {"abandoned", stats.closed_abandoned}};
  out.counter_by("connections_recycled_total", "Connections closed by the pool's policy, by reason.", "reason",
                 recycled);
  const std::pair<std::string_view, std::uint64_t> reloads[] = {{"success", stats.tls_reloads},
                                                                {"failure", stats.tls_reload_failures}};
  out.counter_by("tls_reloads_total", "TLS material reloads (reload_tls), by result; on failure the previous stays.",
                 "result", reloads);
  out.counter("affinity_moves_total",
              "Affinity keys that went to another connection: theirs closed, or was busy and the caller allowed it.",
              stats.affinity_moves);
  out.counter("affinity_keys_evicted_total", "Affinity keys forgotten, least recently used first, beyond affinity_max_keys.",
              stats.affinity_keys_evicted);
  out.counter("memory_releases_total", "Free memory handed back to the OS after a burst (release_memory_at_rest).",
              stats.memory_releases);

  // Every error once, by kind. The kinds an upstream can cause are always present (from 0), so
  // that rate() and alerts work before the first failure; rarer kinds appear when first seen.
  std::map<std::string, std::uint64_t> errors_by_kind = stats.errors_by_kind;
  for (errc kind : {errc::connect_timeout, errc::connect_refused, errc::dns_failed, errc::tls_handshake_failed,
                    errc::certificate_verify_failed, errc::protocol_error, errc::connection_closed}) {
    errors_by_kind.try_emplace(std::string(error_name(kind)), 0);
  }
  errors_by_kind.try_emplace("io_error", 0);
  out.counter_by("errors_total", "Errors, each counted once, by kind.", "kind", errors_by_kind);

  out.histogram("latency_ms",
                "Round trip of exchanges on pooled connections (request written to first response byte), "
                "milliseconds.",
                histograms.round_trips, milliseconds_layout);
  out.histogram("acquire_wait_seconds", "Time async_acquire callers waited for a connection, seconds.",
                histograms.acquire_waits, seconds_layout);
  out.histogram("tls_handshake_seconds", "TLS handshake duration of new connections, seconds.",
                histograms.handshakes, seconds_layout);
}

}  // namespace securechannel

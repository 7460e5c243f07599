// The pools one monitoring server reports on, and the content of its endpoints: Prometheus text
// for all of them, and JSON status, health and statistics for each (ARCHITECTURE.md
// "Observability contract"; every endpoint is described in docs/openapi.yaml).
//
//   auto pools = std::make_shared<securechannel::MonitoredPools>();
//   pools->add(primary);                   // once per pool: its metrics are registered here
//   pools->add(backup);                    // another namespace, or the same with another endpoint
//   auto server = MonitoringServer::create(io.get_executor(), options,
//                                          [pools](const MonitoringRequest& r) { return pools->handle(r); }, ec);
//
//   pools->set_service_identity("relay-gateway", process_start);   // for the enhanced status
//
// Pool-specific endpoints serve the pool named by `?pool=<namespace>` and/or
// `?endpoint=<host:port>`, or the first pool added when the query names none.
// Pools are held weakly: a pool its owner destroyed disappears from every endpoint.
//
// The dashboard (GET / and /dashboard, docs/DASHBOARD.md) is a page that reads
// /api/v1/secure-channel/dashboard; its charts come from a history of each pool that
// record_history() samples: call it every few seconds (the daemon does) so that a page opened
// now shows the quarter of an hour before. Serve the page without a token (it carries no data:
// unauthenticated_paths()), the API with one.
// Thread-safe.
#pragma once

#include "securechannel/http_client_stats.hpp"
#include "securechannel/metrics_registry.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace securechannel {

class HttpClient;
namespace monitor {
class PoolHistory;
}

class MonitoredPools {
 public:
  MonitoredPools() = default;
  MonitoredPools(const MonitoredPools&) = delete;
  MonitoredPools& operator=(const MonitoredPools&) = delete;

  // Registers the pool's metrics, once. Refuses (false, with `problem` set) a pool already
  // added, or another pool with the same namespace and endpoint: their series would collide.
  bool add(const std::shared_ptr<SecureChannelPool>& pool, std::string& problem);
  void remove(const SecureChannelPool& pool);
  std::size_t size() const;

  // The registry /metrics renders; other sources (the monitoring server's own counters, HTTP
  // clients) may register collectors in it too.
  MetricsRegistry& registry() noexcept { return registry_; }
  // Exports a monitoring server's own counters as `<metric_namespace>_monitoring_*` (requests
  // served, rejections by reason, open connections), held weakly: a stopped and destroyed server
  // simply disappears. False when a server was already exported under that namespace.
  bool export_server_metrics(const std::shared_ptr<MonitoringServer>& server, const std::string& metric_namespace);
  // Exports an HttpClient, held weakly: its series (`<ns>_http_*`, see http_client_metrics.hpp)
  // on /metrics, and its stats as the `http` object of its pool's status and stats JSON (the
  // sum over the clients exported for one pool). False when that client was exported already.
  bool export_http_client(const std::shared_ptr<const HttpClient>& client);
  std::string metrics_text() const { return registry_.render(); }

  // The `service` name and the start of the `uptime` in /api/v1/secure-channel/status/enhanced.
  // Until set: "securechannel", and the time this object was made.
  void set_service_identity(std::string name, std::chrono::system_clock::time_point started_at);

  // Answers one request to the monitoring server: GET/HEAD only; 404 and 405 as JSON.
  MonitoringResponse handle(const MonitoringRequest& request) const;

  // Takes one sample of every pool for the dashboard's charts (at most one per pool every
  // monitor::PoolHistory::interval; 15 minutes are kept).
  void record_history(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  // The paths a token never guards: /healthz, /readyz (probes) and the dashboard page's files.
  // For MonitoringServerOptions::unauthenticated_paths.
  static std::vector<std::string> unauthenticated_paths();

 private:
  struct Entry {
    std::weak_ptr<SecureChannelPool> pool;
    const SecureChannelPool* address;
    std::string metric_namespace;
    std::string endpoint;
    MetricsRegistry::Registration registration;
    std::shared_ptr<monitor::PoolHistory> history;
  };
  struct LivePool {
    std::shared_ptr<SecureChannelPool> pool;
    std::shared_ptr<monitor::PoolHistory> history;
  };

  std::vector<std::shared_ptr<SecureChannelPool>> live_pools() const;
  std::vector<LivePool> live_pools_with_history() const;
  MonitoringResponse dashboard_response(std::chrono::system_clock::time_point now) const;
  // The combined stats of the live clients exported for `pool`; empty when there is none.
  std::optional<HttpClientStats> http_client_stats(const SecureChannelPool& pool) const;

  MetricsRegistry registry_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<MetricsRegistry::Registration> server_registrations_;
  std::vector<std::weak_ptr<const HttpClient>> http_clients_;
  std::string service_name_ = "securechannel";
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
};

}  // namespace securechannel

#include "securechannel/monitored_pools.hpp"

#include "securechannel/http_client_metrics.hpp"
#include "securechannel/pool_metrics.hpp"
#include "monitor/dashboard_assets.hpp"
#include "monitor/pool_history.hpp"

#include <algorithm>
#include <atomic>

namespace securechannel {

bool MonitoredPools::add(const std::shared_ptr<SecureChannelPool>& pool, std::string& problem) {
  if (!pool) {
    problem = "no pool given";
    return false;
  }
  const PoolConfig& config = pool->config();
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [](const Entry& entry) { return entry.pool.expired(); });
  for (const Entry& entry : entries_) {
    if (entry.address == pool.get()) {
      problem = "pool " + config.metric_namespace + " (" + config.endpoint + ") is already monitored";
      return false;
    }
    if (entry.metric_namespace == config.metric_namespace && entry.endpoint == config.endpoint) {
      problem = "another pool already reports namespace " + config.metric_namespace + " for endpoint " +
                config.endpoint + ": give one of them its own namespace";
      return false;
    }
  }
  // The collector holds the pool weakly: monitoring never keeps a pool alive.
  auto registration = registry_.add(config.metric_namespace + "|" + config.endpoint,
                                    [weak = std::weak_ptr<SecureChannelPool>(pool)](MetricFamilies& families) {
                                      if (auto live = weak.lock()) collect_pool_metrics(*live, families);
                                    });
  if (!registration) {
    problem = "metrics of " + config.metric_namespace + " (" + config.endpoint + ") are already registered";
    return false;
  }
  entries_.push_back({pool, pool.get(), config.metric_namespace, config.endpoint, std::move(registration),
                      std::make_shared<monitor::PoolHistory>()});
  return true;
}

void MonitoredPools::remove(const SecureChannelPool& pool) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.address == &pool; });
}

bool MonitoredPools::export_http_client(const std::shared_ptr<const HttpClient>& client) {
  if (!client) return false;
  // One lock over the check and the insertion: two threads exporting one client get one export.
  // (As in add(): the registry's collectors never take this mutex.)
  std::lock_guard lock(mutex_);
  std::erase_if(http_clients_, [](const auto& weak) { return weak.expired(); });
  for (const auto& weak : http_clients_) {
    if (weak.lock() == client) return false;
  }
  auto collector = [weak = std::weak_ptr<const HttpClient>(client)](MetricFamilies& families) {
    if (const auto live = weak.lock()) collect_http_client_metrics(*live, families);
  };
  // Clients come and go (held weakly); each export gets a key of its own.
  static std::atomic<std::uint64_t> exports{0};
  auto registration = registry_.add("http_client|" + std::to_string(++exports), std::move(collector));
  if (!registration) return false;
  server_registrations_.push_back(std::move(registration));
  http_clients_.push_back(client);
  return true;
}

std::optional<HttpClientStats> MonitoredPools::http_client_stats(const SecureChannelPool& pool) const {
  std::vector<std::shared_ptr<const HttpClient>> clients;
  {
    std::lock_guard lock(mutex_);
    for (const auto& weak : http_clients_) {
      auto live = weak.lock();
      if (live && live->pool().get() == &pool) clients.push_back(std::move(live));
    }
  }
  if (clients.empty()) return std::nullopt;
  // stats() outside the lock: it takes each client's own session lock.
  HttpClientStats total;
  for (const auto& client : clients) {
    HttpClientStats stats = client->stats();
    // Clients of one pool talk to one upstream; the first that has learned the protocol says it.
    if (total.protocol == HttpProtocol::unknown) total.protocol = stats.protocol;
    total.requests += stats.requests;
    total.requests_on_reused_connections += stats.requests_on_reused_connections;
    total.failed_requests += stats.failed_requests;
    total.retries += stats.retries;
    total.goaways += stats.goaways;
    total.requests_in_flight += stats.requests_in_flight;
    total.http2_connections.insert(total.http2_connections.end(), stats.http2_connections.begin(),
                                   stats.http2_connections.end());
  }
  return total;
}

bool MonitoredPools::export_server_metrics(const std::shared_ptr<MonitoringServer>& server,
                                           const std::string& metric_namespace) {
  if (!server || !is_valid_metric_name(metric_namespace)) return false;
  auto collector = [weak = std::weak_ptr<MonitoringServer>(server), prefix = metric_namespace + "_monitoring_"](
                       MetricFamilies& families) {
    const auto live = weak.lock();
    if (!live) return;
    const MonitoringServerStats stats = live->stats();
    const std::string endpoint = live->base_url();
    const std::string requests = prefix + "requests_total";
    families.family(requests, "Requests the monitoring server answered through its handler.", MetricType::counter)
        .sample(requests, {{"server", endpoint}}, static_cast<double>(stats.requests_served));
    const std::string rejected = prefix + "rejected_total";
    MetricFamily& rejections = families.family(
        rejected, "Requests the monitoring server refused itself, by reason.", MetricType::counter);
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "unauthorized"}},
                      static_cast<double>(stats.rejected_unauthorized));
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "rate_limited"}},
                      static_cast<double>(stats.rejected_rate_limited));
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "timeout"}}, static_cast<double>(stats.timed_out));
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "bad_request"}},
                      static_cast<double>(stats.bad_requests));
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "handler_failure"}},
                      static_cast<double>(stats.handler_failures));
    rejections.sample(rejected, {{"server", endpoint}, {"reason", "tls_handshake"}},
                      static_cast<double>(stats.tls_handshake_failures));
    const std::string pauses = prefix + "accept_pauses_total";
    families.family(pauses, "Times the monitoring server stopped accepting at max_connections.", MetricType::counter)
        .sample(pauses, {{"server", endpoint}}, static_cast<double>(stats.accept_pauses));
    const std::string open = prefix + "open_connections";
    families.family(open, "Connections the monitoring server is serving now.", MetricType::gauge)
        .sample(open, {{"server", endpoint}}, static_cast<double>(stats.open_connections));
  };
  auto registration = registry_.add("monitoring_server|" + metric_namespace, std::move(collector));
  if (!registration) return false;
  std::lock_guard lock(mutex_);
  server_registrations_.push_back(std::move(registration));
  return true;
}

void MonitoredPools::set_service_identity(std::string name, std::chrono::system_clock::time_point started_at) {
  std::lock_guard lock(mutex_);
  service_name_ = std::move(name);
  started_at_ = started_at;
}

std::size_t MonitoredPools::size() const { return live_pools().size(); }

std::vector<MonitoredPools::LivePool> MonitoredPools::live_pools_with_history() const {
  std::lock_guard lock(mutex_);
  std::vector<LivePool> pools;
  for (const Entry& entry : entries_) {
    if (auto pool = entry.pool.lock()) pools.push_back({std::move(pool), entry.history});
  }
  return pools;
}

void MonitoredPools::record_history(std::chrono::system_clock::time_point now) const {
  for (const LivePool& live : live_pools_with_history()) {
    if (!live.history->due(now)) continue;  // spares copying the histograms
    const PoolStats stats = live.pool->stats();
    live.history->offer({.time = now,
                         .requests_total = stats.acquires,
                         .errors_total = stats.total_errors,
                         .in_use = stats.leased_connections,
                         .idle = stats.idle_connections},
                        live.pool->histograms().round_trips);
  }
}

std::vector<std::string> MonitoredPools::unauthenticated_paths() {
  std::vector<std::string> paths = {"/healthz", "/readyz"};
  for (const monitor::DashboardAsset& asset : monitor::dashboard_assets()) paths.emplace_back(asset.path);
  return paths;
}

std::vector<std::shared_ptr<SecureChannelPool>> MonitoredPools::live_pools() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<SecureChannelPool>> pools;
  for (const Entry& entry : entries_) {
    if (auto pool = entry.pool.lock()) pools.push_back(std::move(pool));
  }
  return pools;
}

}  // namespace securechannel

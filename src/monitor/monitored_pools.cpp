#include "securechannel/monitored_pools.hpp"

#include "securechannel/pool_metrics.hpp"

#include <algorithm>

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
  entries_.push_back({pool, pool.get(), config.metric_namespace, config.endpoint, std::move(registration)});
  return true;
}

void MonitoredPools::remove(const SecureChannelPool& pool) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.address == &pool; });
}

std::size_t MonitoredPools::size() const { return live_pools().size(); }

std::vector<std::shared_ptr<SecureChannelPool>> MonitoredPools::live_pools() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<SecureChannelPool>> pools;
  for (const Entry& entry : entries_) {
    if (auto pool = entry.pool.lock()) pools.push_back(std::move(pool));
  }
  return pools;
}

}  // namespace securechannel

#include "securechannel/metrics_registry.hpp"

#include <algorithm>

namespace securechannel {

MetricsRegistry::MetricsRegistry() : self_(std::make_shared<MetricsRegistry*>(this)) {}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Registration& MetricsRegistry::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::move(other.registry_);
    key_ = std::move(other.key_);
    other.key_.clear();
  }
  return *this;
}

void MetricsRegistry::Registration::reset() noexcept {
  if (key_.empty()) return;
  // Only the registry's owner destroys it; a registration must not outlive it across threads.
  if (auto registry = registry_.lock()) (*registry)->remove(key_);
  key_.clear();
  registry_.reset();
}

MetricsRegistry::Registration MetricsRegistry::add(std::string key, Collector collector) {
  std::lock_guard lock(mutex_);
  if (key.empty() || !collector) return {};
  if (std::any_of(entries_.begin(), entries_.end(), [&](const Entry& entry) { return entry.key == key; })) return {};
  entries_.push_back({key, std::make_shared<const Collector>(std::move(collector))});
  return Registration(self_, std::move(key));
}

bool MetricsRegistry::contains(const std::string& key) const {
  std::lock_guard lock(mutex_);
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& entry) { return entry.key == key; });
}

void MetricsRegistry::remove(const std::string& key) noexcept {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& entry) { return entry.key == key; });
}

std::string MetricsRegistry::render(std::vector<std::string>* conflicts) const {
  std::vector<std::shared_ptr<const Collector>> collectors;
  {
    // Collectors run outside the lock: one that takes a pool's lock must not hold up add().
    std::lock_guard lock(mutex_);
    collectors.reserve(entries_.size());
    for (const Entry& entry : entries_) collectors.push_back(entry.collector);
  }
  MetricFamilies families;
  for (const auto& collector : collectors) (*collector)(families);
  if (conflicts) *conflicts = families.conflicts();
  return families.render();
}

}  // namespace securechannel

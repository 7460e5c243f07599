// Where the sources of a process's metrics are registered, once each, and rendered together at
// scrape time. A source is a collector: a function that writes its families when asked, so that
// nothing is kept up to date between scrapes and nothing is registered per connection.
//
//   MetricsRegistry registry;
//   auto registration = registry.add("relay|relay.example.com:443",
//                                    [pool](MetricFamilies& out) { collect_pool_metrics(*pool, out); });
//   std::string text = registry.render();
//
// Thread-safe: collectors may be added and removed while another thread renders.
#pragma once

#include "securechannel/prometheus_text.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace securechannel {

class MetricsRegistry {
 public:
  using Collector = std::function<void(MetricFamilies&)>;

  // Removes its collector when destroyed (or on reset()).
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&&) noexcept = default;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration() { reset(); }
    void reset() noexcept;
    explicit operator bool() const noexcept { return !key_.empty(); }

   private:
    friend class MetricsRegistry;
    Registration(std::weak_ptr<MetricsRegistry*> registry, std::string key)
        : registry_(std::move(registry)), key_(std::move(key)) {}
    std::weak_ptr<MetricsRegistry*> registry_;
    std::string key_;
  };

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers `collector` under `key`. A key that is already registered is refused (an empty
  // Registration): registering the same source twice is the seed-003 bug this prevents.
  Registration add(std::string key, Collector collector);
  bool contains(const std::string& key) const;

  // Runs every collector, in registration order, and renders the result. Families declared by
  // several collectors (pools sharing a namespace) get one HELP/TYPE; conflicting declarations
  // are dropped and listed in `conflicts` when given.
  std::string render(std::vector<std::string>* conflicts = nullptr) const;

 private:
  void remove(const std::string& key) noexcept;

  struct Entry {
    std::string key;
    std::shared_ptr<const Collector> collector;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  // Registrations hold a weak reference to this, so one outliving the registry does nothing.
  std::shared_ptr<MetricsRegistry*> self_;
};

}  // namespace securechannel

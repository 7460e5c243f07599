// The endpoints of one daemon pool (`endpoints = [...]`), each with a SecureChannelPool of its
// own, and the choice among them for each local connection or request: a balancing policy,
// outlier ejection as Envoy's outlier detection does it, and an optional backup group used
// while every endpoint here is ejected (docs/DAEMON.md, "Endpoints and failover").
//
//   auto group = std::make_shared<UpstreamGroup>("relay", policy, detection, clock);
//   group->add(pool_a, client_a);                 // one per endpoint
//   group->add(pool_b, client_b);
//   group->set_backup(backup_group);
//   UpstreamGroup::Pick pick = group->pick();     // an endpoint to use now, or none
//   ... use pick.member->pool / pick.member->http_client ...
//   group->report(pick, UpstreamGroup::Outcome::success);
//
// Ejection: `consecutive_failures` failures in a row (connect failures, an open breaker, 5xx
// answers from an http listener's upstream) eject an endpoint for base_ejection_time × the
// number of times it was ejected (capped at max_ejection_time). When that time is over, one
// probe connection is made (acquire and give back): success readmits it, failure ejects it
// again for longer. At most max_ejection_percent of the endpoints are ejected at once (at least
// one). A group of one endpoint ejects it only when it has a backup to take over; without one,
// its pool's circuit breaker answers for it.
//
// Thread-safe: pick() and report() may be called from any thread.
#pragma once

#include "securechannel/clock.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace securechannel {
class HttpClient;
class SecureChannelPool;
}  // namespace securechannel

namespace securechannel::daemon {

enum class BalancingPolicy {
  least_requests,  // the endpoint with the fewest exchanges in flight (ties: round robin)
  round_robin,
};

struct OutlierDetection {
  unsigned consecutive_failures = 5;
  std::chrono::milliseconds base_ejection_time{30'000};
  std::chrono::milliseconds max_ejection_time{300'000};
  unsigned max_ejection_percent = 100;
};

class UpstreamGroup : public std::enable_shared_from_this<UpstreamGroup> {
 public:
  struct Member {
    std::shared_ptr<SecureChannelPool> pool;
    std::shared_ptr<HttpClient> http_client;  // null unless the pool has an http listener
    std::string endpoint;
  };

  struct Pick {
    const Member* member = nullptr;  // null: nothing to use (every endpoint ejected, no backup)
    UpstreamGroup* group = nullptr;  // the group that answered (this one, or its backup)
    std::size_t index = 0;
    explicit operator bool() const noexcept { return member != nullptr; }
    bool from_backup = false;
  };

  enum class Outcome { success, failure };

  struct EndpointState {
    std::string endpoint;
    bool ejected = false;
    bool probing = false;
    unsigned consecutive_failures = 0;
    std::uint64_t ejections = 0;
    std::size_t in_flight = 0;
    std::uint64_t picks = 0;
    std::chrono::milliseconds ejected_for{0};  // left of the current ejection
  };
  struct State {
    std::string name;
    std::vector<EndpointState> endpoints;
    std::uint64_t failovers = 0;      // picks answered by the backup
    std::uint64_t no_endpoint = 0;    // picks with nothing to use
    std::string backup;               // the backup group's name, or ""
  };

  UpstreamGroup(std::string name, BalancingPolicy policy, OutlierDetection detection,
                std::shared_ptr<Clock> clock = nullptr);
  UpstreamGroup(const UpstreamGroup&) = delete;
  UpstreamGroup& operator=(const UpstreamGroup&) = delete;

  // A group of one endpoint: a listener in front of one pool.
  static std::shared_ptr<UpstreamGroup> single(std::shared_ptr<SecureChannelPool> pool,
                                               std::shared_ptr<HttpClient> http_client = nullptr);

  void add(Member member);
  void set_backup(std::shared_ptr<UpstreamGroup> backup);

  // An endpoint to use now, counted in flight until report(). Starts the probe of an endpoint
  // whose ejection time is over. With an affinity key, the same endpoint for the same key while
  // it is not ejected (rendezvous hashing: when one is ejected, only its keys go elsewhere).
  // `avoid`: an endpoint never to pick (where a retry's first attempt failed); when no other is
  // up, the backup's pick or none.
  Pick pick(std::string_view affinity_key = {}, const Member* avoid = nullptr);
  void report(const Pick& pick, Outcome outcome);

  State state() const;
  const std::string& name() const noexcept { return name_; }
  const std::vector<Member>& members() const noexcept { return members_; }
  // True while at least one endpoint is not ejected.
  bool available() const;

 private:
  struct Health {
    unsigned consecutive_failures = 0;
    std::uint64_t ejections = 0;
    std::size_t in_flight = 0;
    std::uint64_t picks = 0;
    bool ejected = false;
    bool probing = false;
    Clock::time_point ejected_until{};
  };

  Pick pick_here(std::string_view affinity_key, const Member* avoid);  // no backup; mutex_ held
  void eject(std::size_t index, Clock::time_point now);  // mutex_ held
  void start_probe(std::size_t index);                   // mutex_ not held
  void on_probe(std::size_t index, bool succeeded);

  const std::string name_;
  const BalancingPolicy policy_;
  const OutlierDetection detection_;
  const std::shared_ptr<Clock> clock_;
  std::vector<Member> members_;  // fixed once serving starts
  mutable std::mutex mutex_;
  std::vector<Health> health_;
  std::size_t next_ = 0;  // round robin cursor
  std::shared_ptr<UpstreamGroup> backup_;
  std::uint64_t failovers_ = 0;
  std::uint64_t no_endpoint_ = 0;
};

const char* to_string(BalancingPolicy policy) noexcept;

}  // namespace securechannel::daemon

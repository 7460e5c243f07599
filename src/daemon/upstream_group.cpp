#include "daemon/upstream_group.hpp"

#include "daemon/daemon_log.hpp"
#include "securechannel/lease.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <algorithm>
#include <limits>

namespace securechannel::daemon {

namespace {

// Rendezvous (highest random weight) hashing: a key's weight for each endpoint, mixed so that
// neighbouring indexes give unrelated weights (splitmix64's finaliser).
std::uint64_t rendezvous_weight(std::uint64_t key_hash, std::size_t index) noexcept {
  std::uint64_t x = key_hash ^ (0x9e3779b97f4a7c15ULL * (index + 1));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

const char* to_string(BalancingPolicy policy) noexcept {
  switch (policy) {
    case BalancingPolicy::least_requests: return "least_requests";
    case BalancingPolicy::round_robin: return "round_robin";
  }
  return "unknown";
}

UpstreamGroup::UpstreamGroup(std::string name, BalancingPolicy policy, OutlierDetection detection,
                             std::shared_ptr<Clock> clock)
    : name_(std::move(name)),
      policy_(policy),
      detection_(detection),
      clock_(clock ? std::move(clock) : std::make_shared<SteadyClock>()) {}

std::shared_ptr<UpstreamGroup> UpstreamGroup::single(std::shared_ptr<SecureChannelPool> pool,
                                                     std::shared_ptr<HttpClient> http_client) {
  const PoolConfig& config = pool->config();
  auto group = std::make_shared<UpstreamGroup>(config.metric_namespace, BalancingPolicy::round_robin, OutlierDetection{},
                                               config.clock);
  group->add({std::move(pool), std::move(http_client), config.endpoint});
  return group;
}

void UpstreamGroup::add(Member member) {
  std::lock_guard lock(mutex_);
  members_.push_back(std::move(member));
  health_.emplace_back();
}

void UpstreamGroup::set_backup(std::shared_ptr<UpstreamGroup> backup) {
  std::lock_guard lock(mutex_);
  backup_ = std::move(backup);
}

bool UpstreamGroup::available() const {
  std::lock_guard lock(mutex_);
  return std::any_of(health_.begin(), health_.end(), [](const Health& h) { return !h.ejected; });
}

UpstreamGroup::Pick UpstreamGroup::pick(std::string_view affinity_key, const Member* avoid) {
  std::vector<std::size_t> probes;
  Pick chosen;
  std::shared_ptr<UpstreamGroup> backup;
  {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = clock_->now();
    for (std::size_t i = 0; i < health_.size(); ++i) {
      Health& health = health_[i];
      if (health.ejected && !health.probing && now >= health.ejected_until) {
        health.probing = true;
        probes.push_back(i);
      }
    }
    chosen = pick_here(affinity_key, avoid);
    if (!chosen) {
      backup = backup_;
      if (!backup) ++no_endpoint_;
    }
  }
  for (const std::size_t index : probes) start_probe(index);
  if (chosen || !backup) return chosen;
  // Every endpoint here is ejected: the backup serves, without its own backup (no chains of
  // failovers to reason about).
  Pick from_backup;
  {
    // One lock at a time: two pools may be each other's backup.
    std::lock_guard backup_lock(backup->mutex_);
    from_backup = backup->pick_here(affinity_key, avoid);
  }
  std::lock_guard lock(mutex_);
  if (from_backup) {
    from_backup.from_backup = true;
    ++failovers_;
  } else {
    ++no_endpoint_;
  }
  return from_backup;
}

UpstreamGroup::Pick UpstreamGroup::pick_here(std::string_view affinity_key, const Member* avoid) {
  const std::size_t count = health_.size();
  std::size_t best = count;
  if (!affinity_key.empty()) {
    // The endpoint whose weight for the key is highest, among those not ejected.
    const std::uint64_t key_hash = std::hash<std::string_view>{}(affinity_key);
    std::uint64_t best_weight = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t weight = rendezvous_weight(key_hash, i);
      if (!health_[i].ejected && &members_[i] != avoid && (best == count || weight > best_weight)) {
        best = i;
        best_weight = weight;
      }
    }
  }
  for (std::size_t step = 0; affinity_key.empty() && step < count; ++step) {
    const std::size_t i = (next_ + step) % count;
    if (health_[i].ejected || &members_[i] == avoid) continue;
    if (policy_ == BalancingPolicy::round_robin) {
      best = i;
      break;
    }
    if (best == count || health_[i].in_flight < health_[best].in_flight) best = i;
  }
  if (best == count) return {};
  next_ = (best + 1) % count;
  ++health_[best].in_flight;
  ++health_[best].picks;
  Pick pick;
  pick.member = &members_[best];
  pick.group = this;
  pick.index = best;
  return pick;
}

void UpstreamGroup::report(const Pick& pick, Outcome outcome) {
  if (!pick) return;
  if (pick.group != this) return pick.group->report(pick, outcome);
  std::lock_guard lock(mutex_);
  Health& health = health_[pick.index];
  if (health.in_flight > 0) --health.in_flight;
  if (outcome == Outcome::success) {
    health.consecutive_failures = 0;
    return;
  }
  if (++health.consecutive_failures >= detection_.consecutive_failures && !health.ejected) eject(pick.index, clock_->now());
}

void UpstreamGroup::eject(std::size_t index, Clock::time_point now) {
  // With one endpoint and no backup there is nowhere else to go: its own breaker answers, and
  // callers see its error (circuit_open, connect_refused) rather than "no endpoint".
  if (members_.size() < 2 && !backup_) return;
  const auto ejected = static_cast<std::size_t>(std::count_if(health_.begin(), health_.end(), [](const Health& h) { return h.ejected; }));
  const std::size_t allowed = std::max<std::size_t>(1, health_.size() * detection_.max_ejection_percent / 100);
  if (ejected >= allowed) return;
  Health& health = health_[index];
  ++health.ejections;
  const auto base = detection_.base_ejection_time;
  const auto time = std::min<std::chrono::milliseconds>(
      detection_.max_ejection_time,
      base * static_cast<std::int64_t>(std::min<std::uint64_t>(health.ejections, 1'000'000)));
  health.ejected = true;
  health.ejected_until = now + time;
  health.consecutive_failures = 0;
  log_pool(spdlog::level::warn, name_, 0,
           "endpoint " + members_[index].endpoint + " ejected for " + std::to_string(time.count()) + " ms (ejection " +
               std::to_string(health.ejections) + ")");
}

void UpstreamGroup::start_probe(std::size_t index) {
  // A connection made and given back: the pool's own connect, handshake and verification, and a
  // warm connection for the first exchange after readmission.
  members_[index].pool->async_acquire(
      [weak = weak_from_this(), index](boost::system::error_code error, Lease lease) {
        lease.release();
        if (auto self = weak.lock()) self->on_probe(index, !error);
      });
}

void UpstreamGroup::on_probe(std::size_t index, bool succeeded) {
  std::lock_guard lock(mutex_);
  Health& health = health_[index];
  health.probing = false;
  if (succeeded) {
    health.ejected = false;
    log_pool(spdlog::level::info, name_, 0, "endpoint " + members_[index].endpoint + " readmitted after a probe");
    return;
  }
  health.ejected = false;  // eject() counts the ejected ones, this one not included
  eject(index, clock_->now());
  if (!health.ejected) {
    // Over max_ejection_percent now that others are out: it stays in, as Envoy keeps it.
    log_pool(spdlog::level::warn, name_, 0, "endpoint " + members_[index].endpoint + " failed its probe; kept in");
  }
}

UpstreamGroup::State UpstreamGroup::state() const {
  std::lock_guard lock(mutex_);
  State state;
  state.name = name_;
  state.failovers = failovers_;
  state.no_endpoint = no_endpoint_;
  state.backup = backup_ ? backup_->name() : "";
  const Clock::time_point now = clock_->now();
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const Health& health = health_[i];
    EndpointState endpoint;
    endpoint.endpoint = members_[i].endpoint;
    endpoint.ejected = health.ejected;
    endpoint.probing = health.probing;
    endpoint.consecutive_failures = health.consecutive_failures;
    endpoint.ejections = health.ejections;
    endpoint.in_flight = health.in_flight;
    endpoint.picks = health.picks;
    if (health.ejected && health.ejected_until > now) {
      endpoint.ejected_for = std::chrono::duration_cast<std::chrono::milliseconds>(health.ejected_until - now);
    }
    state.endpoints.push_back(std::move(endpoint));
  }
  return state;
}

}  // namespace securechannel::daemon

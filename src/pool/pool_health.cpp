// Health scores: each cleanup pass scores every connection against the pool's others
// (pool/health_score.hpp), recycles a connection that scored below health_recycle_below on two
// passes in a row, and keeps the marks checkout reads (pool/health_marks.hpp). Between passes, a
// connection that comes back from a stalled round trip is marked at once, so that the next
// acquires go elsewhere within a few requests, not a pass later.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/health_score.hpp"
#include "pool/long_leases.hpp"
#include "pool/maintenance_state.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

namespace securechannel {

using detail::ConnectionState;
using detail::PooledConnection;

std::size_t SecureChannelPool::score_connections_locked(Clock::time_point now, Deferred& deferred) {
  // Each connection's p95 once (a sort of its 32 samples): the median needs them all first.
  const auto& live = books_->live();
  std::vector<double> p95_of(live.size());
  std::vector<double> judged;
  for (std::size_t i = 0; i < live.size(); ++i) {
    p95_of[i] = detail::judged_p95_us(live[i]->stats());
    if (p95_of[i] > 0) judged.push_back(p95_of[i]);
  }
  const double median_us = detail::pool_median_p95_us(judged);
  maintenance_->health_marks.stall_us = static_cast<std::uint32_t>(
      std::min(detail::stall_threshold_us(median_us), static_cast<double>(std::numeric_limits<std::uint32_t>::max())));

  std::vector<PooledConnection*> recycle;
  for (std::size_t i = 0; i < live.size(); ++i) {
    PooledConnection& connection = *live[i];
    if (connection.state_ == ConnectionState::connecting) continue;
    const ConnectionStats& stats = connection.stats();
    const ConnectionHealth health = detail::connection_health(stats, p95_of[i], median_us,
                                                              long_leases_->take_failures(connection),
                                                              age_fraction_locked(connection, now));
    if (maintenance_->health_marks.record_pass(connection, health.score, config_.health_recycle_below, stats.round_trips()) >= 2) {
      recycle.push_back(&connection);
    }
  }
  std::size_t closed = 0;
  for (PooledConnection* connection : recycle) {
    if (connection->state_ == ConnectionState::idle) {
      remove_locked(*connection, CloseReason::unhealthy, deferred);
      ++closed;
    } else if (connection->state_ == ConnectionState::leased) {
      retire_locked(*connection, detail::RetireReason::unhealthy, deferred);
    }
  }
  return closed;
}

double SecureChannelPool::age_fraction_locked(const PooledConnection& connection, Clock::time_point now) const {
  return std::chrono::duration<double>(now - connection.created_) /
         std::chrono::duration<double>(limits_.max_lifetime);
}

PooledConnection* SecureChannelPool::healthiest_warm_idle_locked() const {
  const std::vector<PooledConnection*>& idle = books_->idle();
  if (idle.size() == 1) return idle.back();
  std::array<PooledConnection*, detail::HealthMarks::checkout_candidates> warmest{};
  const std::size_t count = std::min(idle.size(), warmest.size());
  for (std::size_t i = 0; i < count; ++i) warmest[i] = idle[idle.size() - 1 - i];
  return warmest[maintenance_->health_marks.healthiest(std::span(warmest.data(), count))];
}

void SecureChannelPool::note_release_health_locked(const PooledConnection& connection) {
  const ConnectionStats& stats = connection.stats();
  // Only a round trip of this lease: an older one was judged already.
  if (static_cast<std::uint32_t>(stats.round_trips()) == connection.round_trips_at_lease_) return;
  if (stats.last_round_trip_us() > maintenance_->health_marks.stall_us) maintenance_->health_marks.mark_stall(connection);
}

}  // namespace securechannel

// Health scores: each cleanup pass scores every connection against the pool's others
// (pool/health_score.hpp), recycles a connection that scored below health_recycle_below on two
// passes in a row, and keeps the marks checkout reads (pool/health_marks.hpp). Between passes, a
// connection that comes back from a stalled round trip is marked at once, so that the next
// acquires go elsewhere within a few requests, not a pass later.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/health_marks.hpp"
#include "pool/health_score.hpp"
#include "pool/long_leases.hpp"

#include <array>
#include <vector>

namespace securechannel {

using detail::ConnectionState;
using detail::PooledConnection;

void SecureChannelPool::score_connections_locked(Clock::time_point now, Deferred& deferred) {
  std::vector<double> p95s;
  for (const auto& connection : books_->live()) {
    if (const double p95 = detail::judged_p95_us(connection->stats()); p95 > 0) p95s.push_back(p95);
  }
  const double median_us = detail::pool_median_p95_us(p95s);
  health_->stall_us = static_cast<std::uint32_t>(detail::stall_ratio * median_us);

  std::vector<PooledConnection*> recycle;
  for (const auto& connection : books_->live()) {
    if (connection->state_ == ConnectionState::connecting) continue;
    const ConnectionHealth health =
        detail::connection_health(connection->stats(), median_us, long_leases_->recent_failures(*connection, true),
                                  age_fraction_locked(*connection, now));
    if (health_->record_pass(*connection, health.score, config_.health_recycle_below) >= 2) {
      recycle.push_back(connection.get());
    }
  }
  for (PooledConnection* connection : recycle) {
    if (connection->state_ == ConnectionState::idle) {
      remove_locked(*connection, CloseReason::unhealthy, deferred);
    } else if (connection->state_ == ConnectionState::leased) {
      retire_locked(*connection, detail::RetireReason::unhealthy, deferred);
    }
  }
}

double SecureChannelPool::age_fraction_locked(const PooledConnection& connection, Clock::time_point now) const {
  return std::chrono::duration<double>(now - connection.created_) /
         std::chrono::duration<double>(limits_.max_lifetime);
}

PooledConnection* SecureChannelPool::next_idle_locked() const {
  const std::vector<PooledConnection*>& idle = books_->idle();
  if (health_->empty() || idle.size() == 1) return idle.back();
  std::array<PooledConnection*, detail::HealthMarks::checkout_candidates> warmest{};
  const std::size_t count = std::min(idle.size(), warmest.size());
  for (std::size_t i = 0; i < count; ++i) warmest[i] = idle[idle.size() - 1 - i];
  return warmest[health_->healthiest(std::span(warmest.data(), count))];
}

void SecureChannelPool::note_release_health_locked(const PooledConnection& connection) {
  if (health_->stall_us != 0 && connection.stats().last_round_trip_us() > health_->stall_us) {
    health_->mark_stall(connection);
  }
}

}  // namespace securechannel

#include "monitor/auth_failure_limiter.hpp"

#include <algorithm>

namespace securechannel::monitor {

namespace {

std::chrono::milliseconds ceil_milliseconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::ceil<std::chrono::milliseconds>(duration);
}

}  // namespace

AuthFailureLimiter::Key AuthFailureLimiter::key_of(const boost::asio::ip::address& client) {
  if (client.is_v4()) return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, client.to_v4()).to_bytes();
  Key key = client.to_v6().to_bytes();
  if (client.to_v6().is_v4_mapped()) return key;
  std::fill(key.begin() + 8, key.end(), 0);  // the /64
  return key;
}

std::chrono::milliseconds AuthFailureLimiter::admit(const boost::asio::ip::address& client, TimePoint now) {
  if (allowance_.allowed == 0) return std::chrono::milliseconds::zero();
  const std::lock_guard lock(mutex_);
  const Key key = key_of(client);
  auto found = refilled_at_.find(key);
  if (found == refilled_at_.end()) {
    make_room(now);
    if (refilled_at_.size() < allowance_.max_addresses) found = refilled_at_.emplace(key, now).first;
  }
  TimePoint& refilled_at = found != refilled_at_.end() ? found->second : overflow_refilled_at_;
  // `allowed` failures in a row put refilled_at `allowed` intervals ahead; an attempt is open
  // again once it is no more than `allowed - 1` intervals ahead.
  const TimePoint open_at = refilled_at - (allowance_.allowed - 1) * allowance_.interval;
  if (open_at > now) return ceil_milliseconds(open_at - now);
  refilled_at = std::max(refilled_at, now) + allowance_.interval;
  return std::chrono::milliseconds::zero();
}

void AuthFailureLimiter::refund(const boost::asio::ip::address& client, TimePoint now) {
  if (allowance_.allowed == 0) return;
  const std::lock_guard lock(mutex_);
  const auto found = refilled_at_.find(key_of(client));
  if (found == refilled_at_.end()) {
    overflow_refilled_at_ -= allowance_.interval;
    return;
  }
  found->second -= allowance_.interval;
  if (found->second <= now) refilled_at_.erase(found);
}

void AuthFailureLimiter::make_room(TimePoint now) {
  // Under mutex_. Only addresses whose allowance has refilled go: forgetting one still over it
  // would hand it a fresh allowance.
  if (refilled_at_.size() < allowance_.max_addresses) return;
  std::erase_if(refilled_at_, [now](const auto& entry) { return entry.second <= now; });
}

std::size_t AuthFailureLimiter::addresses() const {
  const std::lock_guard lock(mutex_);
  return refilled_at_.size();
}

}  // namespace securechannel::monitor

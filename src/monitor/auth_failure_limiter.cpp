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

std::chrono::milliseconds AuthFailureLimiter::wait_before_attempt(const boost::asio::ip::address& client,
                                                                   TimePoint now) {
  if (allowance_.allowed == 0) return std::chrono::milliseconds::zero();
  const std::lock_guard lock(mutex_);
  const auto found = refilled_at_.find(key_of(client));
  if (found == refilled_at_.end()) return std::chrono::milliseconds::zero();
  // `allowed` failures in a row put refilled_at `allowed` intervals ahead; an attempt is open
  // again once it is no more than `allowed - 1` intervals ahead.
  const TimePoint open_at = found->second - (allowance_.allowed - 1) * allowance_.interval;
  return open_at > now ? ceil_milliseconds(open_at - now) : std::chrono::milliseconds::zero();
}

void AuthFailureLimiter::record_failure(const boost::asio::ip::address& client, TimePoint now) {
  if (allowance_.allowed == 0) return;
  const std::lock_guard lock(mutex_);
  const Key key = key_of(client);
  auto found = refilled_at_.find(key);
  if (found == refilled_at_.end()) {
    make_room(now);
    found = refilled_at_.emplace(key, now).first;
  }
  found->second = std::max(found->second, now) + allowance_.interval;
}

void AuthFailureLimiter::make_room(TimePoint now) {
  if (refilled_at_.size() < allowance_.max_addresses) return;
  std::erase_if(refilled_at_, [now](const auto& entry) { return entry.second <= now; });
  if (refilled_at_.size() < allowance_.max_addresses || refilled_at_.empty()) return;
  const auto closest = std::min_element(refilled_at_.begin(), refilled_at_.end(),
                                        [](const auto& a, const auto& b) { return a.second < b.second; });
  refilled_at_.erase(closest);
}

std::size_t AuthFailureLimiter::addresses() const {
  const std::lock_guard lock(mutex_);
  return refilled_at_.size();
}

}  // namespace securechannel::monitor

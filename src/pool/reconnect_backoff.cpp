#include "securechannel/reconnect_backoff.hpp"

#include <algorithm>

namespace securechannel {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                   std::shared_ptr<RandomSource> random)
    : base_(base), max_(max), random_(std::move(random)) {}

std::chrono::milliseconds ReconnectBackoff::ceiling(unsigned failures) const noexcept {
  if (failures == 0) return std::chrono::milliseconds(0);
  // Doubling stops once it passes max, so the shift never overflows.
  auto ceiling = base_;
  for (unsigned i = 1; i < failures && ceiling < max_; ++i) ceiling *= 2;
  return std::min(ceiling, max_);
}

std::chrono::milliseconds ReconnectBackoff::delay_after(unsigned failures) const noexcept {
  const double fraction = std::clamp(random_->uniform01(), 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(ceiling(failures).count()) * fraction));
}

}  // namespace securechannel

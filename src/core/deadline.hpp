// now + timeout without overflow. A timeout near its type's maximum (a caller's way to say "no
// limit", or a huge value from a config file) would wrap the clock's 64-bit nanoseconds into the
// past and fire at once; the sum saturates at the clock's last time point instead, which Asio's
// timers treat as "never". A negative timeout means now.
//
//   const auto deadline = securechannel::detail::deadline_after(std::chrono::steady_clock::now(), options.timeout);
#pragma once

#include <chrono>

namespace securechannel::detail {

template <class TimePoint, class Rep, class Period>
TimePoint deadline_after(TimePoint now, std::chrono::duration<Rep, Period> timeout) noexcept {
  using Duration = typename TimePoint::duration;
  if (timeout <= timeout.zero()) return now;
  const Duration room = TimePoint::max() - now;
  // Compared in the timeout's own unit, rounded down, so that the comparison itself cannot
  // overflow (room converted up to nanoseconds fits; the timeout converted down might not).
  if (timeout >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(room)) return TimePoint::max();
  return now + std::chrono::duration_cast<Duration>(timeout);
}

}  // namespace securechannel::detail

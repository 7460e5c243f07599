#include "core/free_memory_release.hpp"

#include <atomic>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace securechannel::detail {

bool release_free_memory(std::chrono::steady_clock::duration min_interval) {
#if defined(__GLIBC__)
  // Ticks of the last release; zero before the first.
  static std::atomic<std::chrono::steady_clock::rep> last_release{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto last = last_release.load(std::memory_order_relaxed);
  do {
    if (last != 0 && now - last < min_interval.count()) return false;
  } while (!last_release.compare_exchange_weak(last, now, std::memory_order_relaxed));
  ::malloc_trim(0);
  return true;
#else
  (void)min_interval;
  return false;
#endif
}

}  // namespace securechannel::detail

// Giving the C allocator's free memory back to the operating system after a burst, for the
// pools that cool many connections at once (SecureChannelPool, release_memory_at_rest).
#pragma once

#include <chrono>

namespace securechannel::detail {

// glibc keeps the pages of freed blocks in its arenas (one per thread that allocated), so a
// burst's TLS record buffers stay in the process's RSS after the pool has freed them.
// malloc_trim(0) hands the whole free pages back (MADV_DONTNEED). It walks every arena under
// its lock, so it runs at most once per `min_interval` across the process: false when it did
// not run (too soon after the last time, or not glibc).
bool release_free_memory(std::chrono::steady_clock::duration min_interval);

// Whether release_free_memory can ever do anything here (glibc's allocator).
#if defined(__GLIBC__)
inline constexpr bool free_memory_release_supported = true;
#else
inline constexpr bool free_memory_release_supported = false;
#endif

}  // namespace securechannel::detail

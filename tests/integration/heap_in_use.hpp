// glibc's heap in use (mallinfo2: allocated bytes, chunk headers included, mmapped blocks too),
// for tests that measure what a connection holds. A sanitizer replaces the allocator, and then
// such a test skips: SC_HEAP_REPLACED_BY_SANITIZER says so.
#pragma once

#include <malloc.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)  // GCC
#define SC_HEAP_REPLACED_BY_SANITIZER 1
#elif defined(__has_feature)  // clang
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SC_HEAP_REPLACED_BY_SANITIZER 1
#endif
#endif

namespace securechannel::testing {

// Large blocks (128 KiB and up, at first) are mmapped apart from the heap: counted too.
inline std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

}  // namespace securechannel::testing

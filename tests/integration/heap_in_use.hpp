// glibc's heap in use (mallinfo2: allocated bytes, chunk headers included, mmapped blocks too),
// for tests that measure what a connection holds. A sanitizer replaces the allocator, and then
// such a test skips: SC_HEAP_REPLACED_BY_SANITIZER says so.
#pragma once

#include <malloc.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SC_HEAP_REPLACED_BY_SANITIZER 1
#endif

namespace securechannel::testing {

// Large blocks (128 KiB and up, at first) are mmapped apart from the heap: counted too.
inline std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

}  // namespace securechannel::testing

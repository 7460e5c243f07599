// glibc's heap in use (mallinfo2: allocated bytes, chunk headers included), for tests that
// measure what a connection holds. A sanitizer replaces the allocator, and then such a test
// skips: SC_HEAP_REPLACED_BY_SANITIZER says so.
#pragma once

#include <malloc.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SC_HEAP_REPLACED_BY_SANITIZER 1
#endif

namespace securechannel::testing {

inline std::size_t heap_in_use() { return mallinfo2().uordblks; }

}  // namespace securechannel::testing

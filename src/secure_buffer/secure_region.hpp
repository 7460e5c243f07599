// The memory behind one SecureBuffer: its own anonymous mapping, laid out as
//
//   [guard page][canary fill ... ][secret][16 canary bytes][guard page]
//
// The secret sits against the trailing guard page, so an overrun reaches the canaries (seen by
// self_check) and then faults, instead of reading or writing a neighbour; an underrun crosses
// the canary fill first. The data pages are locked (mlock), excluded from core dumps
// (MADV_DONTDUMP) and, when the region goes, wiped before they are unlocked and unmapped.
#pragma once

#include "securechannel/secure_buffer.hpp"

#include <cstddef>
#include <shared_mutex>

namespace securechannel {

struct SecureBuffer::Region {
  // Maps, protects, locks and registers `secret_size` zero bytes (at least one). Throws
  // std::bad_alloc when the mapping cannot be made; a refused mlock only leaves it unlocked.
  explicit Region(std::size_t secret_size);
  ~Region();  // unregisters, wipes every data page, unlocks, unmaps
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // Every byte of the data pages outside the secret still holds the canary pattern. Reads no
  // secret byte, so it needs no lock: nothing but an overrun writes there after construction.
  bool canaries_intact() const noexcept;

  std::byte* mapping = nullptr;  // leading guard page first
  std::size_t mapping_size = 0;
  std::size_t page_size = 0;
  std::byte* data = nullptr;     // first data page
  std::size_t data_size = 0;     // whole pages between the guard pages
  std::byte* secret = nullptr;
  std::size_t size = 0;
  bool locked = false;           // mlock succeeded
  // Readers share it, writers (write, wipe) hold it alone.
  mutable std::shared_mutex mutex;
};

}  // namespace securechannel

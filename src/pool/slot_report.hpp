// What a holder that runs several exchanges at once over one lease (an HTTP/2 session, one
// stream per exchange) shows the pool: how many it takes at once, how many run now, and how many
// it has started. The pool reads it for status and for its cleanup pass, which closes a
// multiplexed connection that ran nothing for idle_timeout as it closes an idle one. Shared
// through LeaseInternals::share_slots; the pool holds it weakly, so it never keeps the holder.
//
// Threads: read by the pool from any thread, under the pool's lock; implementations read atomics.
#pragma once

#include <cstdint>

namespace securechannel::detail {

class SlotReport {
 public:
  virtual ~SlotReport() = default;
  // Exchanges it takes at once (HTTP/2: the peer's SETTINGS_MAX_CONCURRENT_STREAMS).
  virtual std::uint32_t slot_capacity() const noexcept = 0;
  virtual std::uint32_t slots_in_use() const noexcept = 0;
  // Exchanges started since the lease began: an idle spell ends when this moves.
  virtual std::uint64_t exchanges_started() const noexcept = 0;
  // Exchanges that failed and left the connection open (an HTTP/2 stream that timed out or that
  // the peer reset): what the connection's health score counts as its recent failures.
  virtual std::uint64_t exchanges_failed() const noexcept = 0;
};

}  // namespace securechannel::detail

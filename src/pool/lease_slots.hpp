// What a holder that runs several exchanges at once over one lease (an HTTP/2 session, one
// stream per exchange) shows the pool: how many it takes at once, how many it holds now, how
// many it started and how many failed. The pool reads them for status, for the idle rule of its
// cleanup pass and for the connection's health score.
//
// An object of its own, shared by the holder and the pool (LeaseInternals::share_slots): the
// pool never holds the holder, so nothing it reads under its lock can end the holder, whose
// lease would give its connection back to the pool under that same lock.
//
// Threads: written by the holder, read by the pool from any thread: atomics.
#pragma once

#include <atomic>
#include <cstdint>

namespace securechannel::detail {

struct LeaseSlots {
  // Exchanges it takes at once (HTTP/2: the peer's SETTINGS_MAX_CONCURRENT_STREAMS; 100 until
  // the peer's SETTINGS arrive).
  std::atomic<std::uint32_t> capacity{0};
  // Slots taken: exchanges running and slots reserved for exchanges about to start.
  std::atomic<std::uint32_t> in_use{0};
  // Exchanges started since the lease began: an idle spell ends when this moves.
  std::atomic<std::uint64_t> started{0};
  // Exchanges that went out, then failed and left the connection open (an HTTP/2 stream that
  // timed out or that the peer reset): the health score's recent failures.
  std::atomic<std::uint64_t> failed{0};
};

}  // namespace securechannel::detail

// Connection affinity: a caller that keeps state per connection (a subscription, a session, an
// ordering guarantee) names it with a key, and the pool hands that key the same connection for
// as long as the connection lives (docs/POOL.md, "Connection affinity").
//
//   pool->async_acquire(Affinity{.key = "session-42"}, [](error_code ec, Lease lease) {
//     if (!ec && lease.affinity() != AffinityOutcome::kept) subscribe_again(lease);
//   });
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace securechannel {

// Keys longer than this fail the acquire with errc::affinity_key_too_long: the pool remembers
// keys (PoolConfig::affinity_max_keys of them), and a hostile caller's keys must not cost it
// more than that many times this.
inline constexpr std::size_t max_affinity_key_bytes = 256;

struct Affinity {
  std::string key;  // empty: no affinity
  // When the key's connection is leased: false waits for it (up to acquire_timeout, ahead of
  // callers without a key); true takes another connection as any caller would, and the key
  // moves to it.
  bool may_move = false;
};

// What an acquire with a key got (Lease::affinity()).
enum class AffinityOutcome : std::uint8_t {
  none,     // no key was given
  new_key,  // the key had no connection: its first use, or it was forgotten (the least recently
            // used beyond affinity_max_keys)
  kept,     // the key's own connection
  moved,    // the key's connection closed, or was busy and the caller allowed a move: state the
            // caller kept on the old connection is not on this one
};

// "none", "new_key", "kept", "moved".
std::string_view to_string(AffinityOutcome outcome) noexcept;

}  // namespace securechannel

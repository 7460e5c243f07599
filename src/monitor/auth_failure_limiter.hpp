// Token attempts, per client address: an address may present `allowed` wrong tokens in a row,
// then one per `interval` (a token bucket of failures, kept as one time per address: GCRA).
// Every attempt is admitted under one lock and counted as a failure until it proves right, so
// requests sent in parallel cannot all be compared before any is counted; while an address is
// over its allowance the server answers 429 without comparing the token, so a guesser gets at
// most one try per interval whatever its request rate.
//
//   AuthFailureLimiter limiter({.allowed = 10, .interval = 1s});
//   if (auto wait = limiter.admit(client, now); wait > 0ms) return too_many(wait);
//   if (token_matches(presented)) limiter.refund(client, now); else return unauthorized();
//
// An IPv6 client is counted by its /64, the block one host or one customer usually holds, so
// walking through its own addresses gains nothing; an IPv4-mapped address counts as its IPv4
// address. At most `max_addresses` are remembered; an address whose allowance has refilled is the
// same as one never seen and is forgotten first. When every remembered address is still over its
// allowance, the addresses that find no room share one allowance: many addresses guessing at
// once slow each other down instead of pushing the others out. Thread-safe.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace securechannel::monitor {

struct AuthFailureAllowance {
  std::uint32_t allowed = 10;               // failures in a row before the interval applies; 0: no limit
  std::chrono::milliseconds interval{1000};  // then one attempt per interval
  std::size_t max_addresses = 4096;          // addresses remembered at once
};

class AuthFailureLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit AuthFailureLimiter(AuthFailureAllowance allowance) : allowance_(allowance) {}

  // Zero when `client` may present a token now, counting it as a failure until refund();
  // otherwise how long until it may, and nothing is counted.
  std::chrono::milliseconds admit(const boost::asio::ip::address& client, TimePoint now);
  // The admitted token was right: the failure admit() counted is taken back.
  void refund(const boost::asio::ip::address& client, TimePoint now);
  // Addresses remembered now (for tests and the bound).
  std::size_t addresses() const;

 private:
  using Key = std::array<unsigned char, 16>;
  static Key key_of(const boost::asio::ip::address& client);
  void make_room(TimePoint now);

  const AuthFailureAllowance allowance_;
  mutable std::mutex mutex_;
  // Per address, when its allowance is whole again: each failure moves it one interval further
  // (from now, if it had already passed).
  std::map<Key, TimePoint> refilled_at_;
  TimePoint overflow_refilled_at_{};  // the shared allowance of addresses that found no room
};

}  // namespace securechannel::monitor

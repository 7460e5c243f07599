// RetryPolicy: whether a failed attempt of an HttpClient request is sent again, when, and what
// the caller is told when it is not. A pure decision over what the attempt saw; the client does
// the sending.
//
//   RetryPolicy policy(random);
//   const RetryDecision next = policy.after(FailedAttempt{.error = error, .reused = true, ...});
//   switch (next.action) { case RetryAction::give_up: fail(next.error); ... }
//
// Two failures are sent again:
//   - a refused HTTP/2 stream (REFUSED_STREAM, or above a GOAWAY's last stream id): the server
//     never processed it, so any request may go again; the second send goes at once (usually a
//     graceful GOAWAY, and the next connection serves), later ones after a jittered backoff, up
//     to max_attempts_when_refused sends;
//   - a connection that had served before and failed before any byte of the response came (the
//     server closed it at its keep-alive timeout while the request was on its way): once, for a
//     request that may be replayed (idempotent, or replay_non_idempotent).
// Never once a body went to the caller's sink or was read from its source.
#pragma once

#include "securechannel/clock.hpp"
#include "securechannel/reconnect_backoff.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>

namespace securechannel::detail {

struct FailedAttempt {
  boost::system::error_code error;
  bool reused = false;            // its connection had served a request before
  bool response_started = false;  // the response's head arrived: the server acted on it
  int attempts = 1;               // sends so far, this one included
  bool method_replayable = true;  // idempotent, or HttpRequestOptions::replay_non_idempotent
  bool body_source = false;       // the body comes from the caller's source (it cannot be rewound)
  bool callbacks_used = false;    // a body reached the caller's sink or was read from its source
};

enum class RetryAction { give_up, send_again, send_again_later };

struct RetryDecision {
  RetryAction action = RetryAction::give_up;
  std::chrono::milliseconds delay{0};  // send_again_later
  boost::system::error_code error;     // give_up: what the caller is told
};

class RetryPolicy {
 public:
  // A server that closes connections after a few streams (nginx's keepalive_requests) refuses a
  // burst's tail on each, so a stream may be refused by several connections in a row; the bound
  // stops a server that refuses everything from costing more than a handful of connections per
  // request.
  static constexpr int max_attempts_when_refused = 16;
  // The waits between those attempts: uniform(0, min(1 s, 25 ms * 2^(n-1))) before the (n+1)-th.
  static constexpr std::chrono::milliseconds refused_backoff_base{25};
  static constexpr std::chrono::milliseconds refused_backoff_max{1000};

  explicit RetryPolicy(std::shared_ptr<RandomSource> random);

  RetryDecision after(const FailedAttempt& attempt) const;
  // What a failed attempt that is not sent again reports: request_not_replayed when only its
  // method, or its body source, kept a request that never reached the server from going again.
  static boost::system::error_code error_reported(const FailedAttempt& attempt);

 private:
  ReconnectBackoff refused_backoff_;
};

// Failures that say the connection was gone rather than that the server answered badly.
bool connection_failure(const boost::system::error_code& error);

}  // namespace securechannel::detail

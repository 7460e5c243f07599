#include "http/retry_policy.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/error.hpp>

namespace securechannel::detail {

namespace asio = boost::asio;
using boost::system::error_code;

bool connection_failure(const error_code& error) {
  return error == errc::connection_closed || error == asio::error::eof || error == asio::error::connection_reset ||
         error == asio::error::broken_pipe || error == asio::error::not_connected ||
         error == asio::error::connection_aborted || error == errc::protocol_error;
}

RetryPolicy::RetryPolicy(std::shared_ptr<RandomSource> random)
    : refused_backoff_(refused_backoff_base, refused_backoff_max, std::move(random)) {}

RetryDecision RetryPolicy::after(const FailedAttempt& attempt) const {
  const RetryDecision give_up{.action = RetryAction::give_up, .delay = {}, .error = error_reported(attempt)};
  // Part of the response body is in the caller's hands already (sending the request again would
  // hand them the start of another response after it), or the request body source was read.
  if (attempt.callbacks_used) return give_up;
  if (attempt.error == errc::stream_refused) {
    if (attempt.attempts >= max_attempts_when_refused) return give_up;
    // The first refusal is usually a graceful GOAWAY: the next connection serves. A server that
    // refuses again and again is not met with a connection per round trip (Go's Transport backs
    // off the same way): later sends wait, with full jitter.
    if (attempt.attempts >= 2) {
      return {.action = RetryAction::send_again_later,
              .delay = refused_backoff_.delay_after(static_cast<unsigned>(attempt.attempts - 1)),
              .error = {}};
    }
    return {.action = RetryAction::send_again, .delay = {}, .error = {}};
  }
  // A connection that had served before may have been closed by the server meanwhile (its
  // keep-alive timeout): the request never reached it. Once, and only when nothing came back.
  if (!attempt.reused || attempt.response_started || attempt.attempts > 1 || !connection_failure(attempt.error)) {
    return give_up;
  }
  if (!attempt.method_replayable) return give_up;
  return {.action = RetryAction::send_again, .delay = {}, .error = {}};
}

error_code RetryPolicy::error_reported(const FailedAttempt& attempt) {
  const bool not_replayable = !attempt.method_replayable || attempt.body_source;
  const bool unsafe_to_replay =
      attempt.reused && !attempt.response_started && connection_failure(attempt.error) && not_replayable;
  return unsafe_to_replay ? error_code(errc::request_not_replayed) : attempt.error;
}

}  // namespace securechannel::detail

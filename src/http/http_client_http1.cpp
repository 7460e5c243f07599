// HttpClient's attempts over HTTP/1.1: each takes a connection of its own from the pool for the
// exchange, on the caller's thread when an idle one is at hand.
#include "http/http1_exchange.hpp"
#include "http/http_client_core.hpp"
#include "http/pending_request.hpp"
#include "pool/lease_internals.hpp"
#include "securechannel/secure_channel.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>

#include <optional>
#include <utility>

namespace securechannel::detail {

namespace asio = boost::asio;
using boost::system::error_code;

void HttpClientCore::acquire_for_http1(const PendingPointer& pending) {
  // An idle connection at hand is taken at once, on this thread: the asynchronous path costs a
  // handler allocation and a completion posted through the pool's executor, per request.
  const Affinity& affinity = pending->options.affinity;
  if (std::optional<Lease> idle = pool_->try_acquire(affinity)) return use_lease(pending, std::move(*idle));
  // Under lease_mutex, which abandon() takes to cancel: the cancellation slot is connected before
  // anyone can emit on it, and a request abandoned before this point does not join the line.
  std::lock_guard lock(pending->lease_mutex);
  if (pending->done) return;
  pending->acquiring = true;
  auto on_lease = [self = shared_from_this(), pending](error_code error, Lease lease) {
    {
      std::lock_guard acquired(pending->lease_mutex);
      pending->acquiring = false;
    }
    if (pending->done) return;  // abandoned meanwhile (its wait cancelled, or the lease goes back unused)
    if (error) return self->complete(pending, error);
    self->use_lease(pending, std::move(lease));
  };
  pool_->async_acquire(affinity, asio::bind_cancellation_slot(pending->acquire_cancel.slot(),
                                                             asio::bind_executor(strand_, std::move(on_lease))));
}

void HttpClientCore::use_lease(const PendingPointer& pending, Lease lease) {
  if (lease.channel().negotiated_alpn() == "h2") {
    // The upstream speaks HTTP/2 after all (it changed, or the protocol was not known yet):
    // sessions live on the strand.
    protocol_.store(HttpProtocol::http2, std::memory_order_relaxed);
    asio::dispatch(strand_, [self = shared_from_this(), pending, lease = std::move(lease)]() mutable {
      self->start_session(std::move(lease));
      --pending->attempts;  // dispatch counts it again
      if (!pending->done) self->dispatch(pending);
    });
    return;
  }
  run_http1(pending, std::move(lease));
}

void HttpClientCore::run_http1(const PendingPointer& pending, Lease lease) {
  const bool reused = lease.reused();
  // Bytes may have come while the connection sat idle: a reply nobody asked for (a hostile or
  // broken server), or its close. The pool probes only connections idle longer than
  // validate_after_inactivity, and a request written now would take such a reply for its own.
  // One recv(MSG_PEEK) tells; nothing was sent yet, so any request may go on another connection.
  // Under load a connection comes back within microseconds of the read that emptied its socket,
  // which saw what a probe would: that one system call of four per request is skipped.
  if (reused && !detail::LeaseInternals::emptied_moments_ago(lease) &&
      detail::LeaseInternals::channel(lease).probe_idle() != IdleHealth::healthy) {
    lease.mark_broken();
    lease.release();
    --pending->attempts;  // dispatch_anywhere counts it again
    return dispatch_anywhere(pending);
  }
  note_attempt(*pending, lease.connection_id(), reused, HttpProtocol::http1_1, lease.affinity());
  {
    std::lock_guard lock(pending->lease_mutex);
    if (pending->done) return;  // timed out meanwhile: the lease goes back unused
    pending->lease = std::move(lease);
  }
  start_http1_exchange(
      pending->lease, pending->request(), pending->options,
      [self = shared_from_this(), pending, reused](Http1Outcome&& outcome) {
        Lease finished;
        {
          std::lock_guard lock(pending->lease_mutex);
          finished = std::move(pending->lease);
        }
        finished.release();  // marked broken by the exchange unless it can serve again
        if (pending->done) return;
        if (outcome.error) return self->retry_or_fail(pending, outcome.error, reused, outcome.response_started);
        outcome.response.exchange.time_to_first_byte = outcome.time_to_first_byte;
        self->complete_with_response(pending, std::move(outcome.response), reused);
      });
}

}  // namespace securechannel::detail

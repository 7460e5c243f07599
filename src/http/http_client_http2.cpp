// HttpClient's attempts over HTTP/2, and the discovery of the protocol: requests take stream
// slots on the sessions of Http2Connections, wait in line when every slot is taken, and a new
// connection opens when they wait. On the core's strand.
#include "http/http_client_core.hpp"
#include "http/pending_request.hpp"
#include "pool/lease_internals.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cassert>
#include <utility>

namespace securechannel::detail {

namespace asio = boost::asio;
using boost::system::error_code;

bool HttpClientCore::try_http2_slot(const PendingPointer& pending) {
  const Affinity& affinity = pending->options.affinity;
  if (affinity.key.empty()) {
    const auto chosen = http2_.reserve_stream();
    if (!chosen) return false;
    submit_stream(chosen, pending, AffinityOutcome::none);
    return true;
  }
  // The key's session first; while it is full the request waits for a slot there, unless it
  // may move. A key whose connection closed (or is another client's) goes to any session.
  bool own_full = false;
  std::shared_ptr<Http2Session> chosen;
  if (const std::uint64_t own = LeaseInternals::affinity_connection_id(*pool_, affinity.key); own != 0) {
    chosen = http2_.reserve_stream_on(own, own_full);
  }
  pending->waits_for_own_session = !chosen && own_full && !affinity.may_move;
  if (pending->waits_for_own_session) return false;
  if (!chosen) chosen = http2_.reserve_stream();
  if (!chosen) return false;
  submit_stream(chosen, pending, LeaseInternals::bind_affinity(*pool_, affinity.key, chosen->connection_id()));
  return true;
}

void HttpClientCore::submit_stream(const std::shared_ptr<Http2Session>& session, const PendingPointer& pending,
                                   AffinityOutcome affinity) {
  const bool reused = session->streams_started() > 0;
  pending->session = session;
  note_attempt(*pending, session->connection_id(), reused, HttpProtocol::http2, affinity);
  // Shared with the pending request, not copied (a refused stream is sent again from it). The
  // session runs on strand_ (start_session), so the handler needs no executor of its own.
  assert(session->runs_on(strand_));
  session->submit(
      std::shared_ptr<const HttpRequest>(pending, &pending->request()), pending->options, pending->deadline,
      [self = shared_from_this(), pending, reused](error_code error, HttpResponse response, bool response_started) {
        self->serve_waiting();  // a slot is free
        if (pending->done) return;
        if (error) return self->retry_or_fail(pending, error, reused, response_started);
        self->complete_with_response(pending, std::move(response), reused);
      },
      Http2Session::HandlerRuns::on_session_strand);
}

void HttpClientCore::open_http2_connection_if_needed() {
  if (shut_down_ || connections_opening_ > 0) return;
  // Only a request that any session could take calls for a new connection.
  if (std::none_of(waiting_.begin(), waiting_.end(), [](const PendingPointer& pending) {
        return !pending->waits_for_own_session;
      })) {
    return;
  }
  http2_.forget_closed();  // a closed session no longer holds a pool connection
  // A draining session (GOAWAY, or its max_requests_per_connection streams reserved) takes no
  // more streams: its replacement is opened now, and the pool's acquire waits for capacity when
  // it is still holding the last connection allowed.
  if (http2_.accepting() >= pool_->limits().max_connections) return;  // wait for a slot to free up
  open_http2_connection();
}

void HttpClientCore::open_http2_connection() {
  ++connections_opening_;
  pool_->async_acquire(asio::bind_executor(strand_, [self = shared_from_this()](error_code error, Lease lease) {
    self->on_discovery_lease(error, std::move(lease));
  }));
}

void HttpClientCore::on_discovery_lease(error_code error, Lease lease) {
  --connections_opening_;
  if (shut_down_ || error) http2_.retire_replaced();  // no replacement: they drain anyway
  if (shut_down_) return;
  if (error) {
    // Waiting behind a draining session that still holds the last connection allowed (its long
    // stream not done yet): its close frees the place, and the requests keep their own deadlines.
    if (error == errc::acquire_timeout && http2_.draining_open()) return open_http2_connection_if_needed();
    // Like the pool: each failure answers the oldest caller; the others get their own attempt.
    if (!waiting_.empty()) complete(waiting_.front(), error);
    return open_http2_connection_if_needed();
  }
  if (lease.channel().negotiated_alpn() == "h2") {
    protocol_.store(HttpProtocol::http2, std::memory_order_relaxed);
    start_session(std::move(lease));
    http2_.retire_replaced();  // the new session takes their streams from now on
    serve_waiting();
    return open_http2_connection_if_needed();
  }
  // HTTP/1.1: every request takes its own connection from now on; this one serves the oldest.
  http2_.retire_replaced();
  protocol_.store(HttpProtocol::http1_1, std::memory_order_relaxed);
  std::deque<PendingPointer> waiting;
  waiting.swap(waiting_);
  for (const auto& pending : waiting) pending->waiting = false;
  bool first = true;
  for (const auto& pending : waiting) {
    if (pending->done) continue;
    if (first) {
      first = false;
      // A request with an affinity key takes its key's connection from the pool: this one goes
      // back first, for it or for another.
      if (pending->options.affinity.key.empty()) {
        run_http1(pending, std::move(lease));
        continue;
      }
      lease.release();
    }
    acquire_for_http1(pending);
  }
}

void HttpClientCore::start_session(Lease lease) {
  // On our strand: a request goes from dispatch() into nghttp2, and a response from nghttp2 to
  // complete(), without crossing strands (each crossing is a post and a strand hand-off).
  Http2SessionOptions session_options;
  session_options.idle_ping_after = pool_->config().http2_ping_after;  // liveness: a blackholed peer
  session_options.ping_timeout = pool_->config().http2_ping_timeout;   // fails its streams in seconds
  session_options.max_streams = pool_->config().max_requests_per_connection;
  // The pool wants the connection back (max_lifetime, reload_tls, latency, idle, its shutdown):
  // heard on the strand, where the session is known by then (a listener called at once is posted too).
  auto known_as = std::make_shared<std::weak_ptr<Http2Session>>();
  LeaseInternals::on_retire(lease, [core = weak_from_this(), known_as, strand = strand_](RetireReason reason) {
    asio::post(strand, [core, known_as, reason] {
      if (auto self = core.lock()) self->on_retire_requested(known_as->lock(), reason);
    });
  });
  auto session = Http2Session::start(std::move(lease), std::move(session_options), strand_);
  *known_as = session;
  http2_.add(std::move(session));
}

void HttpClientCore::on_retire_requested(const std::shared_ptr<Http2Session>& session, RetireReason reason) {
  if (!session || session->is_closed() || session->retiring()) return;
  // Idle for the pool's idle_timeout, unless a stream began since the pool looked: nothing needs
  // a replacement; a request that comes later opens a session as the first one did.
  if (reason == RetireReason::idle) {
    if (waiting_.empty()) session->retire_if_idle();
    return;
  }
  http2_.forget_closed();
  // The only session taking streams keeps taking them until its replacement is open: capacity
  // never drops to nothing while the replacement connects, and a request arriving meanwhile
  // does not wait for a handshake (a client between two requests is busy all the same). With
  // another session open, or no room for one more connection, it drains now.
  if (shut_down_ || http2_.another_accepts(session) ||
      http2_.size() + connections_opening_ >= pool_->limits().max_connections) {
    return session->retire();
  }
  http2_.retire_when_replaced(session);
  if (connections_opening_ > 0) return;  // the connection on its way replaces it
  open_http2_connection();
}

void HttpClientCore::serve_waiting() {
  // In order; a request waiting for its key's full session is passed over (the others take other
  // sessions' slots), while one that found no slot anywhere stops the round.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    const PendingPointer pending = *it;
    if (try_http2_slot(pending)) {
      pending->waiting = false;
      it = waiting_.erase(it);
    } else if (pending->waits_for_own_session) {
      ++it;
    } else {
      break;
    }
  }
  open_http2_connection_if_needed();
}

}  // namespace securechannel::detail

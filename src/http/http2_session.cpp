// Http2Session: its streams and what their outcomes mean for the session. The I/O loop is in
// http2_session_io.cpp; the nghttp2 session, its callbacks (which turn frames into stream
// events) and the stream table are the codec's (http2_client_codec.cpp,
// http2_session_callbacks.cpp); its timers are in http2_session_timers.cpp.
#include "http/http2_session.hpp"

#include "core/strand_calls.hpp"
#include "http/http2_session_stream.hpp"
#include "pool/lease_internals.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <utility>

namespace securechannel::detail {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Until the peer's SETTINGS arrive (RFC 9113 6.5.2 recommends at least 100).
constexpr std::uint32_t kAssumedPeerMaxConcurrentStreams = 100;

}  // namespace

std::shared_ptr<Http2Session> Http2Session::start(Lease lease, Http2SessionOptions options) {
  Strand strand = asio::make_strand(lease.get_executor());
  return start(std::move(lease), options, std::move(strand));
}

std::shared_ptr<Http2Session> Http2Session::start(Lease lease, Http2SessionOptions options, Strand strand) {
  std::shared_ptr<Http2Session> session(new Http2Session(std::move(lease), options, std::move(strand)));
  LeaseInternals::share_slots(session->lease_, session->slots_);
  asio::post(session->strand_, [session] { session->begin(); });
  return session;
}

Http2Session::Http2Session(Lease lease, Http2SessionOptions options, Strand strand)
    : options_(options),
      connection_id_(lease.connection_id()),
      strand_(std::move(strand)),
      lease_(std::move(lease)),
      deadline_timer_(strand_),
      ping_timer_(strand_),
      cool_timer_(strand_) {
  slots_->capacity = kAssumedPeerMaxConcurrentStreams;
}

Http2Session::~Http2Session() {
  // Only reached with the session ended (pending operations hold it), or never begun.
  codec_.close();
  if (lease_) lease_.mark_broken();
}

void Http2Session::begin() {
  if (begun_ || state_.load(std::memory_order_relaxed) != State::open) return;
  begun_ = true;
  const std::string_view scheme = LeaseInternals::channel(lease_).plain() ? "http" : "https";
  if (!codec_.open(options_.stream_window, options_.connection_window, kAssumedPeerMaxConcurrentStreams, scheme)) {
    return end(make_error_code(errc::http_protocol_error), true);
  }
  last_received_ = Clock::now();
  if (options_.idle_ping_after.count() > 0) arm_ping_timer(last_received_ + options_.idle_ping_after);
  if (streams_in_flight_.load(std::memory_order_acquire) == 0) note_idle();  // opened ahead of its streams
  after_io();  // the preface and SETTINGS go out; reading starts
}

bool Http2Session::try_reserve_stream() noexcept {
  if (state_.load(std::memory_order_acquire) != State::open || retiring()) return false;
  std::uint32_t used = slots_->in_use.load(std::memory_order_relaxed);
  do {
    if (used >= slots_->capacity.load(std::memory_order_relaxed)) return false;
  } while (!slots_->in_use.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel));
  if (options_.max_streams != 0 &&
      streams_reserved_.fetch_add(1, std::memory_order_acq_rel) >= options_.max_streams) {
    // This connection has carried its share. Given back the way a reservation is, so that a
    // last stream finishing meanwhile (which saw this slot taken) still has the session closed.
    release_reservation();
    return false;
  }
  return true;
}

bool Http2Session::retiring() const noexcept {
  return retired_.load(std::memory_order_acquire) ||
         (options_.max_streams != 0 && streams_reserved_.load(std::memory_order_acquire) >= options_.max_streams);
}

void Http2Session::retire() noexcept {
  if (retired_.exchange(true, std::memory_order_acq_rel)) return;
  // With nothing reserved or in flight no stream end will close it: close now. A reservation
  // racing with this sees the flag when its slot comes back, or finds the session draining.
  if (slots_->in_use.load(std::memory_order_acquire) == 0) {
    post_on_strand(strand_, [self = shared_from_this()] { self->shutdown_now(); });
  }
}

void Http2Session::retire_if_idle() noexcept {
  if (state_.load(std::memory_order_acquire) != State::open || retiring() ||
      slots_->in_use.load(std::memory_order_acquire) != 0) {
    return;
  }
  LeaseInternals::retiring_for(lease_, RetireReason::idle);
  retire();
}

void Http2Session::release_reservation() noexcept {
  if (slots_->in_use.fetch_sub(1, std::memory_order_acq_rel) == 1 && retiring() &&
      streams_in_flight_.load(std::memory_order_acquire) == 0) {
    post_on_strand(strand_, [self = shared_from_this()] { self->shutdown_now(); });
  }
}

void Http2Session::submit(std::shared_ptr<const HttpRequest> request, const HttpRequestOptions& options,
                          std::chrono::steady_clock::time_point deadline, ResponseHandler handler, HandlerRuns runs) {
  streams_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  // Inline when the caller runs on our strand (HttpClient shares it): start_stream never invokes
  // the handler, it only posts it.
  if (strand_.running_in_this_thread()) {
    return start_stream(std::move(request), options, deadline, std::move(handler), runs);
  }
  post_on_strand(strand_, [self = shared_from_this(), request = std::move(request), options, deadline,
                           handler = std::move(handler), runs]() mutable {
    self->start_stream(std::move(request), std::move(options), deadline, std::move(handler), runs);
  });
}

void Http2Session::start_stream(std::shared_ptr<const HttpRequest> request, HttpRequestOptions options,
                                Clock::time_point deadline, ResponseHandler handler, HandlerRuns runs) {
  auto stream = std::make_unique<Stream>(std::move(request), std::move(options), deadline, std::move(handler));
  stream->handler_on_session_strand = runs == HandlerRuns::on_session_strand;
  // A caller on our strand may submit before the posted begin() ran.
  begin();
  if (state_.load(std::memory_order_relaxed) != State::open || !codec_.session()) {
    return finish(*stream, errc::stream_refused);  // never sent: the caller may send it elsewhere
  }
  if (deadline <= Clock::now()) return finish(*stream, errc::request_timeout);  // not worth sending
  if (!warm_.load(std::memory_order_relaxed)) {
    LeaseInternals::channel(lease_).set_warm(true);
    warm_.store(true, std::memory_order_relaxed);
  }
  const std::int32_t id = codec_.submit(stream);
  if (id < 0) {
    // Stream ids exhausted (after about a billion streams): this connection has done its work.
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
      finish(*stream, errc::stream_refused);
      return shutdown_now();
    }
    return finish(*stream, errc::http_protocol_error);
  }
  slots_->started.fetch_add(1, std::memory_order_relaxed);
  if (deadline != Clock::time_point::max()) watch_deadline(deadline);
  after_io_soon();
}

void Http2Session::after_io_soon() {
  if (after_io_posted_) return;
  after_io_posted_ = true;
  // Behind what the strand already holds: the other streams of this burst are submitted first.
  post_on_strand(strand_, [self = shared_from_this()] {
    self->after_io_posted_ = false;
    self->after_io();
  });
}

void Http2Session::reset_stream(std::int32_t stream_id, const error_code& error) {
  const auto found = codec_.streams().find(stream_id);
  if (found == codec_.streams().end() || !found->second->handler) return;
  finish(*found->second, error);
  // The entry stays until nghttp2 closes the stream: the body may still be referenced.
  nghttp2_submit_rst_stream(codec_.session(), NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
}

void Http2Session::cancel_stream(const HttpRequest& request) {
  if (!codec_.session()) return;
  // A linear search: cancelling is rare, and a session holds at most its peer's stream limit.
  const auto& streams = codec_.streams();
  const auto found = std::find_if(streams.begin(), streams.end(),
                                  [&](const auto& entry) { return entry.second->request.get() == &request; });
  if (found == streams.end()) return;
  reset_stream(found->first, asio::error::operation_aborted);
  after_io();  // the RST_STREAM goes out now
}

void Http2Session::shutdown() {
  post_on_strand(strand_, [self = shared_from_this()] { self->shutdown_now(); });
}

void Http2Session::shutdown_now() {
  if (state_.load(std::memory_order_relaxed) != State::open || !codec_.session()) return;
  // A client has no peer-initiated streams to account for: last stream id 0 (RFC 9113 6.8).
  nghttp2_submit_goaway(codec_.session(), NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(codec_.session()),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  transition(State::draining);
  after_io();  // ends the session at once when no stream is in flight
}

void Http2Session::close() {
  post_on_strand(strand_, [self = shared_from_this()] { self->end(asio::error::operation_aborted, true); });
}

bool Http2Session::accepts_new_streams() const noexcept {
  return state_.load(std::memory_order_acquire) == State::open && !retiring();
}
bool Http2Session::is_closed() const noexcept { return state_.load(std::memory_order_acquire) == State::closed; }
std::size_t Http2Session::streams_in_flight() const noexcept {
  return streams_in_flight_.load(std::memory_order_acquire);
}
std::uint32_t Http2Session::peer_max_concurrent_streams() const noexcept {
  return slots_->capacity.load(std::memory_order_acquire);
}
std::uint64_t Http2Session::streams_started() const noexcept {
  return slots_->started.load(std::memory_order_relaxed);
}
std::uint64_t Http2Session::goaways_received() const noexcept {
  return goaways_received_.load(std::memory_order_relaxed);
}
std::uint64_t Http2Session::writes() const noexcept { return writes_.load(std::memory_order_relaxed); }

void Http2Session::transition(State next) noexcept {
  const State current = state_.load(std::memory_order_relaxed);
  switch (next) {
    case State::open:
      return;  // the initial state only: a session never reopens
    case State::draining:
      if (current != State::open) return;
      break;
    case State::closed:
      if (current == State::closed) return;
      break;
  }
  state_.store(next, std::memory_order_release);
}

// --- Completion ---

void Http2Session::finish(Stream& stream, const error_code& error) {
  if (!stream.handler) return;
  HttpResponse response = error ? HttpResponse{} : std::move(stream.response.response());
  const bool response_started = stream.response_started;
  if (response_started) {
    // From the stream's start; HttpClient adds the time the request waited for it.
    response.exchange.time_to_first_byte =
        std::chrono::duration_cast<std::chrono::microseconds>(stream.first_byte_at - stream.created);
  }
  ResponseHandler handler = std::move(stream.handler);
  stream.handler = {};
  // A stream that went out and then timed out or was reset by the peer counts against the
  // connection's health; one refused, or never sent, says nothing about the connection.
  if (stream.headers_sent && (error == errc::request_timeout || error == errc::http_protocol_error)) {
    slots_->failed.fetch_add(1, std::memory_order_relaxed);
  }
  const bool last_in_flight = streams_in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  // The stream's slot goes back as a reservation does: a session that has carried its share
  // closes once its last slot is back, with the shutdown posted before the handler so that the
  // client finds the session closed when the handler asks for a new stream.
  release_reservation();
  if (last_in_flight && !retiring()) note_idle();
  // Posted, never invoked here: we may be inside nghttp2, and the handler may call us back.
  if (stream.handler_on_session_strand) {
    return post_on_strand(strand_, [handler = std::move(handler), error, response = std::move(response),
                                    response_started]() mutable {
      std::move(handler)(error, std::move(response), response_started);
    });
  }
  // From the strand it goes to its own executor (any_completion_executor cannot be posted to).
  post_on_strand(strand_, [strand = strand_, handler = std::move(handler), error, response = std::move(response),
                       response_started]() mutable {
    const auto executor = asio::get_associated_executor(handler, strand);
    asio::dispatch(executor, [handler = std::move(handler), error, response = std::move(response),
                              response_started]() mutable {
      std::move(handler)(error, std::move(response), response_started);
    });
  });
}

void Http2Session::on_peer_settings(std::uint32_t max_concurrent_streams) {
  slots_->capacity.store(max_concurrent_streams, std::memory_order_release);
}

void Http2Session::on_goaway_received() {
  goaways_received_.fetch_add(1, std::memory_order_relaxed);
  transition(State::draining);
}

void Http2Session::fail(const error_code& error) {
  // A close without close_notify already reads as connection_closed; a clean EOF means the same.
  end(error == asio::error::eof ? make_error_code(errc::connection_closed) : error, false);
}

// Never called from inside nghttp2: it deletes the nghttp2 session.
void Http2Session::end(const error_code& error, bool aborted) {
  if (state_.load(std::memory_order_relaxed) == State::closed) return;
  ping_timer_.cancel();
  deadline_timer_.cancel();
  deadline_timer_at_ = {};
  for (auto& [id, stream] : codec_.streams()) {
    // A stream whose HEADERS never left cannot have been processed: safe to send elsewhere.
    finish(*stream, (aborted || stream->headers_sent) ? error : make_error_code(errc::stream_refused));
  }
  codec_.close();
  cool_timer_.cancel();  // after the streams, whose ends may have armed it
  // Drained cleanly after carrying its max_streams: the pool counts it as it counts a connection
  // that carried max_requests_per_connection leases (a reason the pool gave first stays).
  if (!aborted && error == errc::connection_closed && options_.max_streams != 0 &&
      streams_reserved_.load(std::memory_order_acquire) >= options_.max_streams) {
    LeaseInternals::retiring_for(lease_, RetireReason::max_requests);
  }
  // An HTTP/2 connection can serve nothing after its session: never back to the pool idle.
  lease_.mark_broken();
  lease_.release();
  transition(State::closed);
}

}  // namespace securechannel::detail

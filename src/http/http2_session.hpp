// One HTTP/2 connection: an Http2ClientCodec (nghttp2's session with our callbacks, a pure state
// machine: it does no I/O) driven by our reads and writes on a pooled lease, many request
// streams multiplexed on it. HttpClient owns the sessions and picks one with a free stream slot;
// this class knows nothing about the pool.
//
//   auto session = detail::Http2Session::start(std::move(lease), {});   // ALPN said "h2"
//   if (session->try_reserve_stream())
//     session->submit(std::move(request), options, deadline, handler);  // void(error_code, HttpResponse, bool)
//
// Threading: every public member may be called from any thread. All nghttp2 calls run on the
// session's strand (made over the lease's executor, or the caller's: HttpClient shares its own,
// so that a request reaches nghttp2 without crossing strands); handlers are invoked through their
// associated executor (on the session's strand when submitted with HandlerRuns::on_session_strand),
// never inline from submit().
//
// Writes are coalesced: a stream submitted while others are being submitted (a burst of requests
// from one batch of completions) does not write at once; the frames of all of them go out in one
// write once the strand has run what was queued. One wake-up of the server then carries many
// requests, as h2load's event loop does it.
#pragma once

#include "http/http2_client_codec.hpp"
#include "pool/lease_slots.hpp"
#include "securechannel/http_message.hpp"
#include "securechannel/lease.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace securechannel::detail {

struct Http2SessionOptions {
  // Our receive windows: large enough that a fast upstream is not throttled by WINDOW_UPDATE
  // round trips (nghttp2 sends WINDOW_UPDATE by itself as data is consumed).
  std::uint32_t stream_window = 1u << 20;      // SETTINGS_INITIAL_WINDOW_SIZE
  std::uint32_t connection_window = 16u << 20;  // connection-level window
  // PING after this long without any frame from the peer, and when a stream times out; a PING
  // unanswered for ping_timeout closes the session (its streams fail with connection_closed).
  // Zero disables both.
  std::chrono::milliseconds idle_ping_after{0};
  std::chrono::milliseconds ping_timeout{5'000};
  // A session without a stream for this long gives its connection's TLS record buffers back
  // (about 34 KB; the pool's cold idle connections do the same), and its next stream takes
  // them again. Not at once: a caller with one request at a time would pay for them on every
  // request. Zero keeps them for the session's life.
  std::chrono::milliseconds cool_after{1'000};
  // Streams this session carries at most (PoolConfig::max_requests_per_connection); once they
  // are reserved it takes no more, and when the last is done it sends GOAWAY and closes. 0: no limit.
  std::uint64_t max_streams = 0;
};

class Http2Session final : public std::enable_shared_from_this<Http2Session>, private Http2ClientCodec::Owner {
 public:
  // The third argument, response_started: a HEADERS frame of the response arrived (the server
  // acted on the request), so a failed request must not be sent again automatically.
  using ResponseHandler = Http2ResponseHandler;

  // Takes a lease whose connection negotiated ALPN "h2": sends the connection preface and our
  // SETTINGS and starts reading. The lease is released, marked broken, when the session ends: an
  // HTTP/2 connection serves nothing after its session (GOAWAY either way, or an error), so it
  // never goes back to the pool idle.
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  static std::shared_ptr<Http2Session> start(Lease lease, Http2SessionOptions options);
  // The same on `strand`, which the caller may share with its own work (it must be a strand over
  // the lease's executor or one that runs the same io_context).
  static std::shared_ptr<Http2Session> start(Lease lease, Http2SessionOptions options, Strand strand);

  // Reserves one stream slot when the session takes new streams: open, no GOAWAY received or
  // sent, and streams in flight + reserved < the peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until
  // the peer's SETTINGS say otherwise). Each successful reservation must be followed by exactly
  // one submit() (or release_reservation()).
  bool try_reserve_stream() noexcept;
  void release_reservation() noexcept;

  // Sends `request` on a new stream (a reserved slot). Pseudo-headers come from the request:
  // :method, :path = target, :scheme = https, :authority = Host header (removed as a header);
  // connection-specific headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade,
  // Proxy-Connection) are dropped as RFC 9113 8.2.2 requires. The body is sent with flow control.
  // The handler gets the response (status, headers, body; trailers appended as fields), or:
  //   errc::stream_refused      the server did not process it (REFUSED_STREAM, or the stream id is
  //                             above a GOAWAY's last stream id, or the session closed before
  //                             the stream was sent): the caller may send it elsewhere;
  //   errc::request_timeout     `deadline` passed (the stream is reset with CANCEL);
  //   errc::response_too_large  body above options.max_response_body (stream reset);
  //   errc::response_body_aborted options.body_sink said stop (stream reset, session kept);
  //   errc::content_decoding_failed a streamed body (body_sink with decode_content) did not decode;
  //   errc::http_protocol_error malformed response, or RST_STREAM with another code;
  //   errc::connection_closed / an I/O error: the connection failed after the stream was sent
  //                             (response_started says whether its response had begun).
  // With options.body_sink the body goes to (a copy of) the sink as DATA arrives, decoded when
  // options.decode_content, and the response's body stays empty. With options.body_source the
  // request body is read from (a copy of) the source as flow control lets DATA out; a failing
  // source resets the stream (errc::request_body_aborted).
  // The request is shared, not copied: a stream refused here is sent again on another connection
  // from the same object, and the caller keeps it until the handler runs anyway.
  // The handler runs on its associated executor (this session's strand when it has none), or,
  // with HandlerRuns::on_session_strand, on this session's strand whatever its associated
  // executor: for a caller that shares the strand (HttpClient), which spares the type-erased
  // executor asking for it would build for each request.
  enum class HandlerRuns { on_its_executor, on_session_strand };
  bool runs_on(const Strand& strand) const noexcept { return strand_ == strand; }
  void submit(std::shared_ptr<const HttpRequest> request, const HttpRequestOptions& options,
              std::chrono::steady_clock::time_point deadline, ResponseHandler handler,
              HandlerRuns runs = HandlerRuns::on_its_executor);
  void submit(HttpRequest request, const HttpRequestOptions& options, std::chrono::steady_clock::time_point deadline,
              ResponseHandler handler) {
    submit(std::make_shared<const HttpRequest>(std::move(request)), options, deadline, std::move(handler));
  }

  // On the session's strand: ends the stream sending `request` (the object given to submit), if
  // it is still in flight, with operation_aborted and resets it (RST_STREAM CANCEL); the session
  // goes on with its other streams.
  void cancel_stream(const HttpRequest& request);

  // Sends GOAWAY, lets streams in flight finish, then closes the connection. Idempotent.
  void shutdown();
  // Closes at once: streams in flight fail with operation_aborted. Idempotent.
  void close();

  // Takes no new stream from now on, lets those in flight finish, then sends GOAWAY and closes:
  // the pool wants the connection back (Lease::on_retire). Any thread; idempotent.
  void retire() noexcept;
  // The pool suggests the session close for idleness (RetireReason::idle): agreed, and retired
  // as above with the pool told why, only when no slot is taken. On the strand, where slots are
  // reserved.
  void retire_if_idle() noexcept;

  // Open and takes new streams (no GOAWAY either way, max_streams not reached, not retired).
  bool accepts_new_streams() const noexcept;
  // Reserved its max_streams, or retired: takes no more, closes when those it has are done.
  bool retiring() const noexcept;
  // Everything about it is finished: closed, and no stream in flight.
  bool is_closed() const noexcept;
  std::size_t streams_in_flight() const noexcept;
  std::uint32_t peer_max_concurrent_streams() const noexcept;
  std::uint64_t connection_id() const noexcept { return connection_id_; }
  // Whether the connection keeps its TLS record buffers: while streams run, and for
  // options.cool_after after the last one ended.
  bool warm() const noexcept { return warm_.load(std::memory_order_relaxed); }

  ~Http2Session();

  // Counters since start, readable from any thread.
  std::uint64_t streams_started() const noexcept;
  std::uint64_t goaways_received() const noexcept;
  // Writes handed to the connection: far fewer than streams when frames are coalesced.
  std::uint64_t writes() const noexcept;

 private:
  using Stream = Http2Stream;
  // Changed only by transition(), on the strand; read from any thread.
  enum class State {
    open,      // streams may start
    draining,  // GOAWAY sent or received: streams in flight finish, no new ones
    closed,    // the connection is released; every stream has completed
  };

  Http2Session(Lease lease, Http2SessionOptions options, Strand strand);

  // All of these run on the strand.
  void begin();  // once; later calls do nothing
  void shutdown_now();
  void start_stream(std::shared_ptr<const HttpRequest> request, HttpRequestOptions options,
                    std::chrono::steady_clock::time_point deadline, ResponseHandler handler, HandlerRuns runs);
  void transition(State next) noexcept;
  // Cooled with no stream in flight: waits for readability first (holding no buffer), then reads.
  void read();
  void read_some();
  void on_readable(const boost::system::error_code& error);
  void on_read(const boost::system::error_code& error, std::size_t bytes);
  void flush();
  void write_rest();
  void on_write(const boost::system::error_code& error, std::size_t bytes);
  void after_io();  // sends what nghttp2 has, ends the session when nothing is left to do
  void after_io_soon();  // after_io() once the strand has run what is queued (write coalescing)
  // Stream deadlines: one timer for the session, set to the earliest deadline it knows of (a
  // timer per stream costs a timer-queue insertion and a cancelled wait per request).
  void watch_deadline(std::chrono::steady_clock::time_point deadline);
  void on_deadline_timer();
  // Ends the stream with `error` and resets it (CANCEL).
  void reset_stream(std::int32_t stream_id, const boost::system::error_code& error);
  // Cooling (options_.cool_after): one timer wait per idle period, not one per stream.
  void note_idle();
  void arm_cool_timer(std::chrono::steady_clock::time_point at);
  void on_cool_timer();
  void arm_ping_timer(std::chrono::steady_clock::time_point at);
  void on_ping_timer();
  void send_ping(std::chrono::steady_clock::time_point now);  // ends the session if none is unanswered by ping_timeout
  // Http2ClientCodec::Owner: what the frames the codec received mean for the session.
  void finish(Stream& stream, const boost::system::error_code& error) override;
  void on_peer_settings(std::uint32_t max_concurrent_streams) override;
  void on_goaway_received() override;
  void on_ping_ack() override;
  void end(const boost::system::error_code& error, bool aborted);
  void fail(const boost::system::error_code& error);  // a connection-level failure

  const Http2SessionOptions options_;
  const std::uint64_t connection_id_;
  Strand strand_;
  Lease lease_;
  Http2ClientCodec codec_{*this};  // the nghttp2 session (null until begin() and after end()) and the streams
  // kReadBufferSize bytes, never zeroed; made for the first read, freed when the session cools.
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  std::vector<std::uint8_t> write_buffer_;  // frames coalesced into one write
  std::size_t written_ = 0;                 // of write_buffer_
  bool begun_ = false;  // begin() ran (posted by start(), or first called by start_stream())
  bool reading_ = false;       // a read or a wait for readability is pending
  bool read_pending_ = false;  // a read into read_buffer_ is pending
  bool writing_ = false;
  bool after_io_posted_ = false;
  boost::asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_timer_at_{};  // time_point{} when not armed
  // Idle PING (options_.idle_ping_after).
  boost::asio::steady_timer ping_timer_;
  std::chrono::steady_clock::time_point last_received_{};
  std::chrono::steady_clock::time_point ping_deadline_{};
  bool ping_outstanding_ = false;
  bool ping_answered_ = false;  // an ACK came in: the next PING is due idle_ping_after from now
  // Cooling.
  boost::asio::steady_timer cool_timer_;
  bool cool_timer_armed_ = false;
  std::chrono::steady_clock::time_point idle_since_{};  // when the last stream ended
  std::atomic<bool> warm_{true};  // a leased connection arrives warm

  std::atomic<State> state_{State::open};
  // Shared with the pool (LeaseInternals::share_slots): the slots in use (reserved plus streams
  // submitted and not yet completed, compared with the peer's limit, its capacity), the streams
  // started, and those that failed.
  const std::shared_ptr<LeaseSlots> slots_ = std::make_shared<LeaseSlots>();
  std::atomic<std::size_t> streams_in_flight_{0};
  std::atomic<std::uint64_t> goaways_received_{0};
  std::atomic<std::uint64_t> streams_reserved_{0};  // ever, against options_.max_streams
  std::atomic<bool> retired_{false};
  std::atomic<std::uint64_t> writes_{0};
};

}  // namespace securechannel::detail

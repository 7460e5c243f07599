// The nghttp2 client session with our callbacks, and the request streams it carries: the pure
// HTTP/2 state machine under Http2Session, which feeds it the bytes it reads and writes the
// frames it produces. No I/O, no timers, no executor: tests/fuzz/http2_frames_fuzzer.cpp drives
// it with a hostile server's bytes exactly as the session does. What the frames mean for a
// stream (its response, its limits, its outcome) is decided here, in the callbacks
// (http2_session_callbacks.cpp); what the owner does with an outcome is the owner's.
//
//   class Session : Http2ClientCodec::Owner { void finish(Http2Stream&, const error_code&) override; ... };
//   Http2ClientCodec codec(session);
//   codec.open(1 << 20, 16 << 20, 100);            // preface and SETTINGS queued
//   codec.submit(stream);                          // std::unique_ptr<Http2Stream>&: the request
//   nghttp2_session_mem_send(codec.session(), &frames);       // what to write
//   nghttp2_session_mem_recv(codec.session(), bytes, size);   // what was read: callbacks run
#pragma once

#include "securechannel/http_message.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>

struct nghttp2_session;  // <nghttp2/nghttp2.h> stays out of this header

namespace securechannel::detail {

// Completes a request: the response (when the error is none), and whether a HEADERS frame of
// the response arrived (the server acted on the request, so it must not be sent again
// automatically).
using Http2ResponseHandler =
    boost::asio::any_completion_handler<void(boost::system::error_code, HttpResponse, bool response_started)>;

struct Http2Stream;  // http2_session_stream.hpp

class Http2ClientCodec {
 public:
  // What the callbacks report. They run inside nghttp2 (mem_recv, mem_send): the owner may
  // submit frames from them, never close the codec.
  class Owner {
   public:
    // Ends `stream` with `error` (none: its response is complete), when its handler is still
    // set; the owner empties the handler. The stream stays in streams() until nghttp2 closes it.
    virtual void finish(Http2Stream& stream, const boost::system::error_code& error) = 0;
    // The peer's SETTINGS (not an ACK) arrived.
    virtual void on_peer_settings(std::uint32_t max_concurrent_streams) = 0;
    // GOAWAY arrived: no new streams; nghttp2 refuses those above its last stream id itself.
    virtual void on_goaway_received() = 0;
    // A PING ACK arrived.
    virtual void on_ping_ack() = 0;

   protected:
    ~Owner() = default;
  };

  // Out of line, as the destructor: both need Http2Stream complete.
  explicit Http2ClientCodec(Owner& owner) noexcept;
  Http2ClientCodec(const Http2ClientCodec&) = delete;
  Http2ClientCodec& operator=(const Http2ClientCodec&) = delete;
  ~Http2ClientCodec();

  // Makes the nghttp2 client session and queues the connection preface with our SETTINGS:
  // no server push, `stream_window` per stream, `connection_window` for the connection;
  // `assumed_peer_max_concurrent_streams` until the peer's SETTINGS say; requests carry
  // :scheme `scheme` ("https", or "http" over a plain connection). False when nghttp2 could not
  // (no memory).
  bool open(std::uint32_t stream_window, std::uint32_t connection_window,
            std::uint32_t assumed_peer_max_concurrent_streams, std::string_view scheme);
  // Null before open() and after close().
  nghttp2_session* session() const noexcept { return session_.get(); }

  // Submits the request of `stream` (its body, if any, through our data provider): the new
  // stream's id, the codec then keeping the stream; or nghttp2's error (negative), the stream
  // left with the caller.
  std::int32_t submit(std::unique_ptr<Http2Stream>& stream);
  // The streams submitted and not yet closed by nghttp2, by id; a finished stream stays until
  // then (its request body may still be referenced).
  std::unordered_map<std::int32_t, std::unique_ptr<Http2Stream>>& streams() noexcept { return streams_; }

  // nghttp2 sent a GOAWAY with an error code: the peer broke the protocol.
  bool sent_goaway_error() const noexcept { return sent_goaway_error_; }

  // Deletes the nghttp2 session, then the streams (its data providers point into them). Not
  // from inside a callback; the owner finishes the streams first.
  void close() noexcept;

 private:
  struct Callbacks;  // nghttp2's callbacks, befriended through this (http2_session_stream.hpp)
  struct NghttpDeleter {
    void operator()(nghttp2_session* session) const noexcept;
  };

  Owner& owner_;
  std::unordered_map<std::int32_t, std::unique_ptr<Http2Stream>> streams_;  // by stream id
  std::unique_ptr<nghttp2_session, NghttpDeleter> session_;  // declared after streams_: deleted first
  std::string_view scheme_ = "https";  // a literal
  bool sent_goaway_error_ = false;
};

}  // namespace securechannel::detail

// Http2Session's I/O loop: one read and at most one write in flight, and nghttp2 only sees bytes.
// A cooled session between streams waits for the peer without a read buffer.
#include "http/http2_session.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/bind_executor.hpp>

#include <nghttp2/nghttp2.h>

#include <utility>

namespace securechannel::detail {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Plaintext handed over per read: what OpenSSL holds plus one receive block (a TLS record, see
// ReceivedBytes) decrypts to at most two records' worth, which an 8 MiB download does fill. More
// would never be written, yet be held (and zeroed) by every session.
constexpr std::size_t kReadBufferSize = 32 * 1024;
// Frames coalesced into one write, at most: bounds the copy while large bodies stream out.
constexpr std::size_t kMaxCoalescedWrite = 256 * 1024;

}  // namespace

void Http2Session::read() {
  reading_ = true;
  if (!warm_.load(std::memory_order_relaxed) && streams_in_flight_.load(std::memory_order_acquire) == 0) {
    // Cooled and between streams: wait for the peer's next bytes (a response to a stream
    // submitted meanwhile, a PING, a GOAWAY) holding neither the read buffer nor a receive
    // block. A warm session reads as before: a caller with one stream at a time would pay a
    // wake-up more per request for the wait (measured: 10 % more CPU).
    read_buffer_.reset();
    lease_.async_wait_readable(asio::bind_executor(strand_, [self = shared_from_this()](const error_code& error) {
      self->on_readable(error);
    }));
    return;
  }
  read_some();
}

void Http2Session::read_some() {
  read_pending_ = true;
  if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<std::uint8_t[]>(kReadBufferSize);
  lease_.async_read_some(asio::buffer(read_buffer_.get(), kReadBufferSize),
                         asio::bind_executor(strand_, [self = shared_from_this()](const error_code& error,
                                                                                 std::size_t bytes) {
                           self->on_read(error, bytes);
                         }));
}

void Http2Session::on_readable(const error_code& error) {
  if (!codec_.session()) {  // ended while the wait was pending
    reading_ = false;
    return;
  }
  if (error) {
    reading_ = false;
    return fail(error);
  }
  read_some();  // still reading_: bytes are there, whatever the streams
}

void Http2Session::on_read(const error_code& error, std::size_t bytes) {
  reading_ = false;
  read_pending_ = false;
  if (!codec_.session()) return;  // ended while the read was pending
  if (error) return fail(error);
  last_received_ = Clock::now();
  const auto consumed = nghttp2_session_mem_recv(codec_.session(), read_buffer_.get(), bytes);
  // Peer protocol errors are not returned here: nghttp2 queues a GOAWAY for them. A negative
  // result is fatal (out of memory, a flood, a callback failure).
  if (consumed < 0) return fail(make_error_code(errc::http_protocol_error));
  if (std::exchange(ping_answered_, false)) arm_ping_timer(last_received_ + options_.idle_ping_after);
  after_io();
}

void Http2Session::flush() {
  if (writing_ || !codec_.session()) return;
  write_buffer_.clear();
  written_ = 0;
  while (write_buffer_.size() < kMaxCoalescedWrite) {
    const std::uint8_t* data = nullptr;
    const auto size = nghttp2_session_mem_send(codec_.session(), &data);
    if (size < 0) return fail(make_error_code(errc::http_protocol_error));
    if (size == 0) break;
    write_buffer_.insert(write_buffer_.end(), data, data + size);  // valid until the next mem_send
  }
  if (write_buffer_.empty()) return;
  writing_ = true;
  writes_.fetch_add(1, std::memory_order_relaxed);
  write_rest();
}

void Http2Session::write_rest() {
  lease_.async_write_some(asio::buffer(write_buffer_.data() + written_, write_buffer_.size() - written_),
                          asio::bind_executor(strand_, [self = shared_from_this()](const error_code& error,
                                                                                  std::size_t bytes) {
                            self->on_write(error, bytes);
                          }));
}

void Http2Session::on_write(const error_code& error, std::size_t bytes) {
  if (!codec_.session()) return;  // ended while the write was pending; the lease is gone
  if (error) return fail(error);
  written_ += bytes;
  if (written_ < write_buffer_.size()) return write_rest();
  writing_ = false;
  after_io();
}

void Http2Session::after_io() {
  if (!codec_.session()) return;
  flush();
  if (!codec_.session()) return;
  const bool wants_read = nghttp2_session_want_read(codec_.session()) != 0;
  if (!wants_read && !writing_ && nghttp2_session_want_write(codec_.session()) == 0) {
    // GOAWAY sent or received and no stream left (or the session was terminated): done.
    return end(codec_.sent_goaway_error() ? make_error_code(errc::http_protocol_error)
                                   : make_error_code(errc::connection_closed),
               false);
  }
  if (wants_read && !reading_) read();
}

}  // namespace securechannel::detail

// One TCP + TLS connection to an upstream, as an Asio AsyncReadStream/AsyncWriteStream; a plain
// TCP connection when its context has TLS off (TlsOptions::enabled, http:// upstreams).
//
//   securechannel::SecureChannel channel(io.get_executor(), tls_context);
//   channel.async_connect("relay.example.com", "443", std::chrono::seconds(5),
//       [&](boost::system::error_code ec) {
//         if (ec) std::cerr << ec.message() << ": " << channel.tls_failure().describe() << "\n";
//       });
//
// OpenSSL runs directly on the non-blocking socket and Asio only waits for readiness, so an idle
// connection holds no record buffers (ARCHITECTURE.md: memory per connection). Like any Asio
// stream, a SecureChannel must outlive its pending operations and is not thread-safe: use it from
// one strand. Pools hand connections out as Lease objects, which keep them alive on their own.
#pragma once

#include "securechannel/client_tls_context.hpp"
#include "securechannel/detail/ticket_destination.hpp"
#include "securechannel/detail/tls_io_op.hpp"
#include "securechannel/tls_failure.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

struct ssl_st;

namespace securechannel {
namespace detail {
struct ChannelFailure;
struct ReceivedBytes;
struct SocketBioAccess;
}  // namespace detail

// What an idle connection looks like from the outside, checked before it is handed out again.
enum class IdleHealth {
  healthy,          // nothing to read, still connected
  closed_by_peer,   // EOF, close_notify or reset: the peer is gone
  unexpected_data,  // application bytes arrived while nobody was reading: the protocol state is unknown
};

class SecureChannel {
 public:
  using executor_type = boost::asio::any_io_executor;

  SecureChannel(executor_type executor, std::shared_ptr<const ClientTlsContext> context);
  ~SecureChannel();  // closes abruptly; use async_shutdown for a graceful close
  // The TLS material this channel was made with.
  const std::shared_ptr<const ClientTlsContext>& context() const noexcept { return context_; }
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }
  SecureChannel& channel() noexcept { return *this; }

  // Resolves `host`, races its addresses (Happy Eyeballs: families alternating, a new attempt
  // every 250 ms until one connects; TCP_NODELAY on), then runs the TLS handshake with SNI and
  // host-name verification. `timeout` bounds the whole sequence, the name lookup
  // included: a resolver that does not answer ends it with dns_timeout (the lookup runs on, on a
  // thread of its own). Addresses looked up less than `address_max_age` ago are reused (30 s in
  // the overload without it; the pool passes its dns_refresh_interval).
  // Handler: void(boost::system::error_code). Errors: dns_failed, dns_timeout, connect_refused,
  // connect_timeout, certificate_verify_failed, tls_handshake_failed (see tls_failure()).
  template <class Token>
  auto async_connect(std::string host, std::string port, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds address_max_age, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, std::string h, std::string p, std::chrono::milliseconds t, std::chrono::milliseconds age) {
          start_connect(std::move(h), std::move(p), t, age, std::move(handler));
        },
        token, std::move(host), std::move(port), timeout, address_max_age);
  }
  template <class Token>
  auto async_connect(std::string host, std::string port, std::chrono::milliseconds timeout, Token&& token) {
    return async_connect(std::move(host), std::move(port), timeout, std::chrono::milliseconds(30'000),
                         std::forward<Token>(token));
  }

  // Handler: void(boost::system::error_code, std::size_t). A peer's close_notify reads as
  // asio::error::eof; a close without it as errc::connection_closed (possible truncation).
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    const auto buffer = detail::first_non_empty_buffer<boost::asio::mutable_buffer>(buffers);
    return detail::async_tls_io(
        detail::TlsIoOp<SecureChannel*>{this, detail::IoDirection::read, buffer.data(), buffer.size()},
        std::forward<Token>(token));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    auto source = detail::gather_for_write(buffers);
    return detail::async_tls_io(
        detail::TlsIoOp<SecureChannel*>{this, detail::IoDirection::write, const_cast<void*>(source.bytes.data()),
                                        source.bytes.size(), std::move(source.gathered)},
        std::forward<Token>(token));
  }

  // Graceful close: sends close_notify (without waiting for the peer's), shuts the TCP socket
  // down and closes it. `timeout` bounds the wait for a writable socket. Handler: void(error_code).
  template <class Token>
  auto async_shutdown(std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, std::chrono::milliseconds t) { start_shutdown(t, std::move(handler)); }, token,
        timeout);
  }

  // Closes the socket at once, without close_notify. Pending operations complete with
  // operation_aborted. Not thread-safe, like any socket close.
  void close() noexcept;
  // Ends the connection from any thread while operations may be pending on another: shuts the
  // TCP connection down (pending waits wake with an error) and makes every later step fail, but
  // keeps the descriptor until close() or destruction, so its number cannot be reused under a
  // pending operation.
  void abort() noexcept;

  bool is_open() const noexcept { return socket_.is_open(); }
  // True when the context has TLS off: bytes go over TCP as they are, no handshake, no identity.
  // From the context, which never changes: read by snapshots on other threads, so it must not
  // live in a bit-field beside flags the I/O thread writes.
  bool plain() const noexcept { return context_ != nullptr && !context_->tls_enabled(); }
  // True once the handshake succeeded and no fatal error happened since.
  bool usable() const noexcept { return established_ && !fatal_.load(std::memory_order_acquire); }

  // Non-blocking look at an idle connection: processes TLS records that arrived meanwhile (TLS 1.3
  // session tickets are normal), and reports whether the connection can be handed out again. On a
  // connection nothing was ever written or read on (`never_used`) that negotiated HTTP/2, the
  // server's preface is expected: it is left for the session, and what comes after it is judged.
  IdleHealth probe_idle(bool never_used = false) noexcept;
  // Sends a FIN after the bytes written so far (a plain connection's half-close). Safe while
  // another thread runs an operation on the socket, as abort() is.
  void shutdown_send() noexcept;

  // A warm connection keeps OpenSSL's record buffers and its receive block between operations
  // instead of freeing each whenever it is empty: about 50 KB held, in exchange for not
  // allocating and freeing three 17 KB blocks per request and response. Cold (the default, and
  // what every new TLS session starts as) is what keeps an idle connection near 15 KB. The pool
  // warms a connection while it is leased and cools it once it sinks below the most recently
  // used few of its idle connections. Not thread-safe: call it while no operation is pending.
  void set_warm(bool warm) noexcept;
  bool warm() const noexcept { return warm_; }

  // True when OpenSSL holds decrypted bytes nobody has read yet.
  bool has_buffered_input() const noexcept;
  // True when OpenSSL holds bytes of any kind (records read ahead but not processed yet, too).
  bool has_unprocessed_input() const noexcept;
  // True when the last receive from the socket found it empty (it returned less than there was
  // room for), nothing was written or waited for since, nothing received is left unprocessed and
  // the peer has not closed (no FIN, no close_notify or alert read along): whatever is in the
  // socket now came after that receive. HttpClient uses it to skip the probe before reusing a
  // connection whose last response was read moments ago (docs/HTTP.md).
  bool emptied_by_last_read() const noexcept;
  // True when a read can only wait for the socket: nothing received is unprocessed, and the
  // connection is open both ways as far as TLS knows. The composed read then receives first
  // instead of asking OpenSSL, which would only say "want read" (and cost an SSL_read, an
  // error-queue clear and a look at it).
  bool must_receive_first() const noexcept;

  const TlsFailure& tls_failure() const noexcept;
  // How long the TLS handshake of the last successful connect took (TCP connect excluded).
  std::chrono::nanoseconds handshake_duration() const noexcept { return std::chrono::microseconds(handshake_micros_); }
  // True when the last handshake resumed an earlier session (TlsOptions::session_resumption):
  // the certificate was verified by the connection that received the ticket, not re-sent.
  bool resumed_session() const noexcept;
  // The ALPN protocol the server chose; on a plain connection "h2" when its context speaks
  // HTTP/2 with prior knowledge (h2c), else empty.
  std::string_view negotiated_alpn() const noexcept;
  std::string_view negotiated_protocol_version() const noexcept;
  ssl_st* native_handle() const noexcept { return ssl_; }

 private:
  using ConnectHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  // The composed operations (detail::TlsIoOp, Lease::write_some_now) reach these through
  // detail::TlsSteps.
  friend struct detail::TlsSteps;

  // One step of OpenSSL work each.
  detail::TlsStep step_read(void* data, std::size_t size, std::size_t& transferred,
                            boost::system::error_code& error) noexcept;
  detail::TlsStep step_write(const void* data, std::size_t size, std::size_t& transferred,
                             boost::system::error_code& error) noexcept;
  detail::TlsStep step_handshake(boost::system::error_code& error) noexcept;
  detail::TlsStep step_shutdown(boost::system::error_code& error) noexcept;
  // Where the composed read lets Asio receive bytes for OpenSSL after step_read wanted more, and
  // what came (end of stream reaches OpenSSL through the BIO).
  boost::asio::mutable_buffer prepare_receive();
  void commit_receive(const boost::system::error_code& error, std::size_t bytes) noexcept;
  void note_socket_emptied(bool emptied) noexcept { emptied_by_last_read_ = emptied; }
  // TlsIoOp's hooks: a bare channel keeps no statistics (a pooled connection does).
  void on_io_start(detail::IoDirection) noexcept {}
  void on_io_complete(detail::IoDirection, const boost::system::error_code&, std::size_t) noexcept {}

  void start_connect(std::string host, std::string port, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds address_max_age, ConnectHandler handler);
  void start_shutdown(std::chrono::milliseconds timeout, ConnectHandler handler);
  // The steps of a plain connection (plain_stream.cpp): recv(2) and send(2), non-blocking; called
  // by step_read/step_write once the channel is usable and the buffer not empty.
  detail::TlsStep step_plain_read(void* data, std::size_t size, std::size_t& transferred,
                                  boost::system::error_code& error) noexcept;
  detail::TlsStep step_plain_write(const void* data, std::size_t size, std::size_t& transferred,
                                   boost::system::error_code& error) noexcept;
  // A failed system call's errno as the channel's cause; the channel is unusable from now on.
  boost::system::error_code plain_failure(int error_number) noexcept;
  IdleHealth probe_plain_idle(bool never_used) noexcept;
  // After an HTTP/2 server's preface was found waiting: stale if anything came after it.
  IdleHealth health_behind_tls_preface() noexcept;
  // Creates the SSL object for `host` (SNI unless it is an IP literal, verification name) and
  // offers a cached session for it.
  boost::system::error_code prepare_tls(const std::string& host, const std::string& port);
  // True when a ticket from this server would be worth a short wait after the handshake.
  bool wants_session_tickets() const;
  // Lets OpenSSL process records that arrived after the handshake (session tickets) without
  // consuming application data; returns whether a ticket for this server is now cached.
  bool absorb_session_tickets() noexcept;
  // Frees OpenSSL's copies of the verified name once the handshake no longer needs them.
  void forget_verified_name() noexcept;
  // Names a failed OpenSSL call's error and keeps it as the channel's cause (below).
  boost::system::error_code classify_failure(int ssl_error) noexcept;
  boost::system::error_code diagnose_failure(int ssl_error) noexcept;
  // What a read or write on an unusable channel fails with: the failure that made it so, or
  // not_connected (closed, aborted, never connected).
  boost::system::error_code unusable_error() const noexcept;
  // mTLS over TLS 1.3: our side of the handshake ends before the server has checked our
  // certificate; it answers with tickets or data (accepted) or an alert (refused) about one round
  // trip later. True when the server asked for a certificate on a full handshake, so that
  // answer is worth waiting for before the connection is handed out.
  bool awaits_certificate_verdict() const noexcept;
  // Processes what the server sent since (application data stays unread): done when it accepted
  // us, want_read while nothing telling has arrived, failed with the named error otherwise.
  detail::TlsStep read_certificate_verdict(boost::system::error_code& error) noexcept;
  // After the server asked for our certificate, its alert as client_certificate_required or
  // client_certificate_rejected (and the reason spelled out); empty for any other failure.
  boost::system::error_code client_certificate_failure(unsigned long first_error) noexcept;
  TlsFailure& failure();
  friend struct ConnectSequence;
  friend struct detail::SocketBioAccess;

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<const ClientTlsContext> context_;
  ssl_st* ssl_ = nullptr;
  // Allocated only when something failed: most connections never need one (memory per idle
  // connection, ARCHITECTURE.md). Holds the TlsFailure and the error that made the channel unusable.
  std::unique_ptr<detail::ChannelFailure> failure_;
  // Where this connection's session tickets go ("name:port" as verified, and whether its
  // identity is confirmed yet); OpenSSL's callback finds it through the SSL's app data.
  detail::TicketDestination ticket_destination_;
  // Received for OpenSSL and not read by it yet; null when empty (idle connections hold none).
  std::unique_ptr<detail::ReceivedBytes> received_;
  std::uint32_t handshake_micros_ = 0;  // beside the flags: 8 bytes less than a duration of its own
  bool established_ = false;
  // Packed into the padding beside the flags above (memory per connection).
  bool reading_through_asio_ : 1 = false;  // inside step_read: the BIO must not call recv(2) itself
  bool receive_pending_ : 1 = false;       // an async_receive into received_ is in flight
  bool input_closed_ : 1 = false;          // the peer's FIN came through async_receive
  bool warm_ : 1 = false;                  // set_warm(): buffers kept while empty
  bool emptied_by_last_read_ : 1 = false;  // emptied_by_last_read(), before its other checks
  // Set after a fatal TLS error (OpenSSL then forbids SSL_shutdown), close() or abort(); atomic
  // because abort() may come from another thread.
  std::atomic<bool> fatal_{false};
  // A spin lock (in the last byte of padding) around every change of the socket's descriptor
  // (open, close) and abort()'s use of it: abort() may run on another thread, and shutting down
  // a number that was just closed could hit whatever socket the kernel gave that number next.
  std::atomic<bool> descriptor_locked_{false};
  class DescriptorLock;
};

}  // namespace securechannel

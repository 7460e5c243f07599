// Connection establishment and teardown for SecureChannel. Establishment is one coroutine:
// resolve, try each address, handshake; every wait races one shared deadline.
#include "securechannel/secure_channel.hpp"

#include "securechannel/error.hpp"
#include "core/deadline.hpp"
#include "channel/channel_failure.hpp"
#include "channel/connection_race.hpp"
#include "channel/host_resolver.hpp"
#include "channel/received_bytes.hpp"
#include "channel/socket_bio.hpp"
#include "tls/tls_session_cache.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>

#include <algorithm>
#include <limits>
#include <string>
#include <thread>
#include <variant>
#include <vector>

// GCC 12 says Asio's awaitable frames are freed by a mismatched operator delete when one
// coroutine is inlined into another here (GCC bug 109224, a false positive: the frame's operator
// new and delete are Asio's own pair). Clang, which builds the sanitizer runs, does not warn.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace securechannel {

namespace asio = boost::asio;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

SecureChannel::SecureChannel(executor_type executor, std::shared_ptr<const ClientTlsContext> context)
    : socket_(std::move(executor)), context_(std::move(context)) {}

SecureChannel::~SecureChannel() {
  close();
  SSL_free(ssl_);
}

// Held only around a descriptor's open, close or ::shutdown: a few system calls, never a wait.
class SecureChannel::DescriptorLock {
 public:
  explicit DescriptorLock(std::atomic<bool>& locked) noexcept : locked_(locked) {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  ~DescriptorLock() { locked_.store(false, std::memory_order_release); }
  DescriptorLock(const DescriptorLock&) = delete;
  DescriptorLock& operator=(const DescriptorLock&) = delete;

 private:
  std::atomic<bool>& locked_;
};

void SecureChannel::close() noexcept {
  fatal_.store(true, std::memory_order_release);
  DescriptorLock lock(descriptor_locked_);
  error_code ignored;
  socket_.close(ignored);
}

void SecureChannel::abort() noexcept {
  fatal_.store(true, std::memory_order_release);
  // ::shutdown(2) on the descriptor, not socket_.shutdown(): no Asio state is touched, so this
  // is safe while another thread runs an operation on the socket. The lock keeps the number from
  // being closed (and handed to another socket) under us; a connect in progress sees fatal_ at
  // its next step and stops there.
  DescriptorLock lock(descriptor_locked_);
  const int descriptor = socket_.native_handle();
  if (descriptor >= 0) ::shutdown(descriptor, SHUT_RDWR);
}

void SecureChannel::shutdown_send() noexcept {
  DescriptorLock lock(descriptor_locked_);
  const int descriptor = socket_.native_handle();
  if (descriptor >= 0) ::shutdown(descriptor, SHUT_WR);
}

error_code SecureChannel::prepare_tls(const std::string& host, const std::string& port) {
  SSL_free(ssl_);
  ssl_ = SSL_new(context_->native_handle());
  // One record at a time, whatever the context says: the idle probe relies on what follows a
  // record still being in the receive block or the socket.
  if (ssl_) SSL_set_read_ahead(ssl_, 0);
  received_.reset();
  warm_ = false;  // a new session starts cold, as its context's RELEASE_BUFFERS mode says
  receive_pending_ = false;
  input_closed_ = false;
  BIO* socket_bio = ssl_ ? detail::new_socket_bio(*this) : nullptr;
  if (socket_bio == nullptr) {
    failure().reason = "cannot create the OpenSSL connection object";
    ERR_clear_error();
    return errc::tls_handshake_failed;
  }
  SSL_set_bio(ssl_, socket_bio, socket_bio);  // the SSL owns it now
  const std::string& name = context_->options().server_name.empty() ? host : context_->options().server_name;
  error_code parse_error;
  auto literal = asio::ip::make_address(name, parse_error);
  bool identity_set = false;
  if (!parse_error) {
    // IP literals are verified against the certificate's IP SANs and are never sent as SNI
    // (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted"). A zone ("%eth0") is
    // not part of the address OpenSSL compares, and would make it reject the check silently.
    if (literal.is_v6()) {
      auto v6 = literal.to_v6();
      v6.scope_id(0);
      literal = v6;
    }
    identity_set = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), literal.to_string().c_str()) == 1;
  } else {
    // subjectAltName only, never the subject's CN (RFC 9525 6.3, the CA/Browser Forum baseline):
    // OpenSSL otherwise falls back to the CN of a certificate that has no DNS name.
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    identity_set = SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1 && SSL_set1_host(ssl_, name.c_str()) == 1;
  }
  if (!identity_set) {
    // Without an identity to check, any certificate from a trusted CA would pass: fail closed.
    ERR_clear_error();
    failure().reason = "cannot set '" + name + "' as the name to verify";
    return errc::tls_handshake_failed;
  }
  detail::TlsSessionCache* cache = context_->session_cache();
  const std::string* server = cache != nullptr ? cache->intern(name + ":" + port) : nullptr;
  // The handshake's own verification is the whole identity check, pins included, and OpenSSL
  // reports a TLS 1.2 session only after it passed.
  ticket_destination_.reset(server);
  SSL_set_app_data(ssl_, &ticket_destination_);
  if (cache != nullptr) {
    if (SSL_SESSION* session = cache->take(*ticket_destination_.server())) {
      SSL_set_session(ssl_, session);  // takes its own reference
      SSL_SESSION_free(session);
    }
  }
  return {};
}

void SecureChannel::forget_verified_name() noexcept {
  // The name served the handshake's SNI and certificate check; OpenSSL would keep its copies
  // until SSL_free (160+ bytes per connection for a typical host name). A TLS 1.3 connection
  // never verifies again, and the session keeps its own copy for resumption.
  X509_VERIFY_PARAM* parameters = SSL_get0_param(ssl_);
  X509_VERIFY_PARAM_set1_host(parameters, nullptr, 0);
  X509_VERIFY_PARAM_set1_ip(parameters, nullptr, 0);
  SSL_set_tlsext_host_name(ssl_, nullptr);
}

bool SecureChannel::wants_session_tickets() const {
  const detail::TlsSessionCache* cache = context_->session_cache();
  return cache != nullptr && SSL_version(ssl_) == TLS1_3_VERSION && cache->wants_tickets(*ticket_destination_.server());
}

bool SecureChannel::absorb_session_tickets() noexcept {
  detail::TlsSessionCache* cache = context_->session_cache();
  if (cache == nullptr || !usable()) return false;
  const std::uint64_t received_before = cache->tickets_received(*ticket_destination_.server());
  char byte = 0;
  std::size_t peeked = 0;
  ERR_clear_error();
  // SSL_peek processes every complete record (tickets reach the cache through OpenSSL's callback)
  // and leaves application data where it is: a server that speaks first loses nothing.
  if (SSL_peek_ex(ssl_, &byte, 1, &peeked) != 1) {
    if (SSL_get_error(ssl_, 0) == SSL_ERROR_WANT_READ) SSL_free_buffers(ssl_);
    // A closure or error shows up again, and is handled, when the connection is next used.
    ERR_clear_error();
  }
  const bool received = cache->tickets_received(*ticket_destination_.server()) != received_before;
  cache->record_ticket_wait(*ticket_destination_.server(), received);
  return received;
}

// The shortest wait for a TLS 1.3 server's verdict on our client certificate (see below): long
// enough for a server to verify a certificate chain and a signature even on a loaded machine.
constexpr std::chrono::milliseconds certificate_verdict_wait_floor{50};

// Runs with the channel alive (the caller keeps it so until the handler runs).
struct ConnectSequence {
  static asio::awaitable<error_code> run(SecureChannel& channel, std::string host, std::string port,
                                         std::chrono::milliseconds timeout, std::chrono::milliseconds address_max_age) {
    const auto deadline = detail::deadline_after(std::chrono::steady_clock::now(), timeout);
    asio::steady_timer timer(channel.socket_.get_executor());
    auto expired = [&]() -> asio::awaitable<void> {
      timer.expires_at(deadline);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    };

    std::vector<asio::ip::tcp::endpoint> endpoints;
    error_code literal_error;
    const auto literal = asio::ip::make_address(host, literal_error);
    if (!literal_error) {
      // An IP literal needs no resolver (Asio's runs getaddrinfo on a helper thread).
      endpoints.emplace_back(literal, static_cast<unsigned short>(std::stoul(port)));
    } else {
      // Not Asio's resolver: it waits for getaddrinfo, which cannot be cancelled (host_resolver.hpp).
      detail::ResolvedHost resolved = co_await detail::HostResolver::shared()->resolve(
          host, port, deadline, address_max_age, [&channel] { return channel.fatal_.load(std::memory_order_acquire); });
      if (resolved.error == asio::error::operation_aborted) co_return resolved.error;
      if (resolved.error == errc::dns_timeout) {
        channel.failure().reason = std::move(resolved.reason);
        co_return errc::dns_timeout;
      }
      if (resolved.error) {
        channel.failure().reason = "cannot resolve " + host + ": " + resolved.reason;
        co_return errc::dns_failed;
      }
      endpoints = std::move(resolved.endpoints);
    }

    // Happy Eyeballs over the addresses (connection_race.hpp). The attempts' sockets are not
    // socket_, so abort() cannot shut them down: the race asks fatal_ every 100 ms instead.
    detail::RaceOutcome raced =
        co_await detail::race_connections(detail::interleave_families(endpoints), channel.socket_.get_executor(),
                                          deadline, [&channel] { return channel.fatal_.load(std::memory_order_acquire); });
    if (raced.error) co_return raced.error;
    {
      // Adopted under the lock abort() takes; once aborted (the pool shuts down), the connected
      // socket is closed rather than adopted.
      SecureChannel::DescriptorLock lock(channel.descriptor_locked_);
      if (channel.fatal_.load(std::memory_order_acquire)) co_return asio::error::operation_aborted;
      error_code ignored;
      channel.socket_.close(ignored);
      channel.socket_ = std::move(*raced.socket);
    }

    error_code option_error;
    channel.socket_.set_option(asio::ip::tcp::no_delay(true), option_error);
    channel.socket_.non_blocking(true, option_error);
    if (option_error) co_return option_error;
    if (channel.plain()) {
      channel.established_ = true;  // nothing more to agree on
      co_return error_code{};
    }
    const auto handshake_started = std::chrono::steady_clock::now();
    if (error_code tls_error = channel.prepare_tls(host, port)) co_return tls_error;

    for (;;) {
      error_code handshake_error;
      const detail::TlsStep step = channel.step_handshake(handshake_error);
      if (step == detail::TlsStep::done) {
        channel.handshake_micros_ = static_cast<std::uint32_t>(std::min<std::int64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - handshake_started)
                .count(),
            std::numeric_limits<std::uint32_t>::max()));
        channel.forget_verified_name();
        break;
      }
      if (step == detail::TlsStep::failed) co_return handshake_error;
      const auto wait_type =
          step == detail::TlsStep::want_read ? asio::socket_base::wait_read : asio::socket_base::wait_write;
      auto waited = co_await (channel.socket_.async_wait(wait_type, asio::as_tuple(asio::use_awaitable)) || expired());
      if (waited.index() == 1) co_return errc::connect_timeout;
      if (auto [wait_error] = std::get<0>(waited); wait_error) co_return wait_error;
      if (channel.fatal_.load(std::memory_order_acquire)) co_return asio::error::operation_aborted;
    }

    // mTLS on TLS 1.3: the server judges our certificate after our Finished and answers with
    // tickets (or data) or an alert one round trip later. Wait for that answer, so that a refused
    // certificate fails the connect with its own error instead of a lease's first read. A server
    // that issues no tickets and waits for us to speak gives no answer: after twice the
    // handshake's time (at least certificate_verdict_wait_floor) silence counts as acceptance.
    if (channel.awaits_certificate_verdict()) {
      const auto grace = std::max<std::chrono::steady_clock::duration>(2 * channel.handshake_duration(),
                                                                        certificate_verdict_wait_floor);
      timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + grace));
      for (;;) {
        error_code verdict_error;
        const detail::TlsStep verdict = channel.read_certificate_verdict(verdict_error);
        if (verdict == detail::TlsStep::failed) co_return verdict_error;
        if (verdict == detail::TlsStep::done) break;
        auto waited = co_await (channel.socket_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (waited.index() == 1) break;
        if (auto [wait_error] = std::get<0>(waited); wait_error) co_return wait_error;
      }
    }

    // A TLS 1.3 server sends its tickets about one round trip after our Finished, and OpenSSL only
    // sees them when the connection next reads. A connection that goes idle would not read for a
    // while, so when no ticket for this server is cached, wait for them here, one handshake's time
    // at most (a handshake takes at least one round trip), so the pool's next connects can resume.
    if (channel.wants_session_tickets()) {
      const auto grace = std::max<std::chrono::steady_clock::duration>(channel.handshake_duration(),
                                                                        std::chrono::milliseconds(1));
      const auto ticket_deadline = std::min(deadline, std::chrono::steady_clock::now() + grace);
      timer.expires_at(ticket_deadline);
      auto waited = co_await (channel.socket_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                              timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (waited.index() == 0) {
        channel.absorb_session_tickets();
      } else {
        channel.context_->session_cache()->record_ticket_wait(*channel.ticket_destination_.server(), false);
      }
    }
    co_return error_code{};
  }
};

void SecureChannel::start_connect(std::string host, std::string port, std::chrono::milliseconds timeout,
                                  std::chrono::milliseconds address_max_age, ConnectHandler handler) {
  failure_.reset();
  established_ = false;
  fatal_ = false;
  auto executor = socket_.get_executor();
  // On a strand of its own: each `||` below runs two coroutines whose completions emit
  // cancellation at each other, and cancellation slots are not thread-safe. On an io_context run
  // by several threads (a caller's; the daemon runs one) they would otherwise race.
  asio::co_spawn(asio::make_strand(executor),
                 ConnectSequence::run(*this, std::move(host), std::move(port), timeout, address_max_age),
                 [this, handler = std::move(handler), executor](std::exception_ptr exception, error_code ec) mutable {
                   if (exception) ec = errc::tls_handshake_failed;  // only allocation failure can throw here
                   if (ec) {
                     close();
                     if (failure().reason.empty()) failure().reason = ec.message();
                   }
                   auto handler_executor = asio::get_associated_executor(handler, executor);
                   asio::dispatch(handler_executor, asio::append(std::move(handler), ec));
                 });
}

void SecureChannel::start_shutdown(std::chrono::milliseconds timeout, ConnectHandler handler) {
  auto executor = socket_.get_executor();
  asio::co_spawn(
      asio::make_strand(executor),  // as start_connect's, for its `||`
      [this, timeout]() -> asio::awaitable<error_code> {
        asio::steady_timer timer(socket_.get_executor(), timeout);
        error_code result;
        for (;;) {
          const detail::TlsStep step = step_shutdown(result);
          if (step != detail::TlsStep::want_write) break;
          auto waited = co_await (socket_.async_wait(asio::socket_base::wait_write, asio::as_tuple(asio::use_awaitable)) ||
                                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
          if (waited.index() == 1) {
            result = errc::connect_timeout;
            break;
          }
        }
        error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        close();
        co_return result;
      },
      [handler = std::move(handler), executor](std::exception_ptr, error_code ec) mutable {
        auto handler_executor = asio::get_associated_executor(handler, executor);
        asio::dispatch(handler_executor, asio::append(std::move(handler), ec));
      });
}

}  // namespace securechannel

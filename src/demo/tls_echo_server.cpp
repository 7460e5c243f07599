#include "demo/tls_echo_server.hpp"

#include "demo/server_thread.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace securechannel::demo {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

constexpr std::chrono::seconds kHandshakeTimeout{10};
// How long an idle close waits for the peer's close_notify before closing TCP anyway: long
// enough for a reading client to answer, short enough that tests see the close promptly.
constexpr std::chrono::milliseconds kShutdownTimeout{500};
// After an accept error such as EMFILE, retry later instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

class EchoConnection;

// What connections share with the server. The atomics are read from any thread; the map is
// only touched on the server thread.
struct ServerState {
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> completed_handshakes{0};
  std::atomic<std::size_t> resumed_handshakes{0};
  std::atomic<std::size_t> failed_handshakes{0};
  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> max_open{0};
  std::atomic<std::size_t> bytes_received{0};
  std::unordered_map<EchoConnection*, std::shared_ptr<EchoConnection>> connections;

  void add(std::shared_ptr<EchoConnection> connection) {
    EchoConnection* key = connection.get();
    connections.emplace(key, std::move(connection));
    const std::size_t now_open = open.fetch_add(1) + 1;
    if (now_open > max_open.load()) max_open.store(now_open);  // only this thread writes it
  }

  void remove(EchoConnection* connection) {
    if (connections.erase(connection) != 0) open.fetch_sub(1);
  }

  void close_all();
};

// One accepted connection: handshake, then read_some -> write back, until EOF, error, idle
// timeout or close(). Kept alive by ServerState::connections and by its pending handlers.
class EchoConnection : public std::enable_shared_from_this<EchoConnection> {
 public:
  EchoConnection(tcp::socket socket, ssl::context& context, ServerState& server,
                 const TlsEchoServerOptions& options)
      : stream_(std::move(socket), context),
        timer_(stream_.get_executor()),
        server_(server),
        idle_close_after_(options.idle_close_after),
        echo_delay_(options.echo_delay),
        rewrite_prefix_(options.rewrite_prefix) {}

  void start() {
    server_.add(shared_from_this());
    arm_timer(kHandshakeTimeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
  }

  void close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    timer_.cancel();
    error_code ignored;
    stream_.lowest_layer().close(ignored);  // completes every pending operation with an error
    server_.remove(this);                   // the caller's handler still holds a reference
  }

 private:
  enum class Phase {
    handshaking,   // the handshake timer is armed
    reading,       // a read is pending; the idle timer is armed if idle_close_after > 0
    delaying,      // holding what was read for echo_delay before echoing it
    writing,       // echoing what was read; no timer
    idle_expired,  // the idle timer fired and cancelled the read; shutdown follows
    shutting_down, // close_notify sent, waiting at most kShutdownTimeout for the peer's
    closed,        // socket closed; late handlers return at once
  };

  void arm_timer(std::chrono::steady_clock::duration timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
  }

  void on_timer(const error_code& ec) {
    if (ec == asio::error::operation_aborted || phase_ == Phase::closed) return;
    // Re-armed after this expiry was already queued: the newer wait decides.
    if (timer_.expiry() > std::chrono::steady_clock::now()) return;
    switch (phase_) {
      case Phase::handshaking:
        server_.failed_handshakes.fetch_add(1);
        close();
        return;
      case Phase::reading:
        if (idle_close_after_.count() <= 0) return;
        phase_ = Phase::idle_expired;
        stream_.lowest_layer().cancel();  // on_read then starts the shutdown
        return;
      case Phase::shutting_down:
        close();
        return;
      case Phase::delaying:
        echo(held_bytes_);
        return;
      case Phase::writing:
      case Phase::idle_expired:
      case Phase::closed:
        return;
    }
  }

  void on_handshake(const error_code& ec) {
    if (phase_ == Phase::closed) return;  // timed out or closed by the server
    timer_.cancel();
    if (ec) {
      server_.failed_handshakes.fetch_add(1);
      close();
      return;
    }
    server_.completed_handshakes.fetch_add(1);
    if (SSL_session_reused(stream_.native_handle()) == 1) server_.resumed_handshakes.fetch_add(1);
    read();
  }

  void read() {
    phase_ = Phase::reading;
    if (idle_close_after_.count() > 0) arm_timer(idle_close_after_);
    stream_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const error_code& ec, std::size_t bytes) {
    if (phase_ == Phase::closed) return;
    if (phase_ == Phase::idle_expired) {
      shutdown();  // bytes that raced the idle timeout are dropped, as a real server would
      return;
    }
    timer_.cancel();
    if (ec) {  // eof (peer's close_notify), stream_truncated (TCP FIN only), reset, ...
      close();
      return;
    }
    server_.bytes_received.fetch_add(bytes);
    if (echo_delay_.count() > 0) {
      phase_ = Phase::delaying;
      held_bytes_ = bytes;
      arm_timer(echo_delay_);
      return;
    }
    echo(bytes);
  }

  void echo(std::size_t bytes) {
    phase_ = Phase::writing;
    asio::const_buffer reply(buffer_.data(), bytes);
    const auto& [from, to] = rewrite_prefix_;
    if (!from.empty() && std::string_view(buffer_.data(), bytes).starts_with(from)) {
      rewritten_ = to;
      rewritten_.append(buffer_.data() + from.size(), bytes - from.size());
      reply = asio::buffer(rewritten_);
    }
    asio::async_write(stream_, reply,
                      [self = shared_from_this()](const error_code& write_error, std::size_t) {
                        if (self->phase_ == Phase::closed) return;
                        if (write_error) {
                          self->close();
                        } else {
                          self->read();
                        }
                      });
  }

  void shutdown() {
    phase_ = Phase::shutting_down;
    arm_timer(kShutdownTimeout);
    // Ends with eof or stream_truncated when the peer simply closes TCP; either way we close.
    stream_.async_shutdown([self = shared_from_this()](const error_code&) { self->close(); });
  }

  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  ServerState& server_;
  const std::chrono::milliseconds idle_close_after_;
  const std::chrono::milliseconds echo_delay_;
  std::size_t held_bytes_ = 0;  // read and not yet echoed (Phase::delaying)
  const std::pair<std::string, std::string> rewrite_prefix_;
  std::string rewritten_;  // a rewritten reply being written
  Phase phase_ = Phase::handshaking;
  std::array<char, 16 * 1024> buffer_{};
};

void ServerState::close_all() {
  // close() erases from the map, so iterate over a copy.
  std::vector<std::shared_ptr<EchoConnection>> snapshot;
  snapshot.reserve(connections.size());
  for (const auto& entry : connections) snapshot.push_back(entry.second);
  for (const auto& connection : snapshot) connection->close();
}

// ALPN wire format: each protocol as a length byte followed by its name.
std::string alpn_wire_format(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      throw std::runtime_error("TlsEchoServer: invalid ALPN protocol '" + protocol + "'");
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                unsigned int offered_length, void* accepted_wire) {
  const auto& accepted = *static_cast<const std::string*>(accepted_wire);
  unsigned char* selected = nullptr;
  unsigned char selected_length = 0;
  if (SSL_select_next_proto(&selected, &selected_length, reinterpret_cast<const unsigned char*>(accepted.data()),
                            static_cast<unsigned int>(accepted.size()), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  *out = selected;
  *out_length = selected_length;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

class TlsEchoServer::Impl {
 public:
  explicit Impl(TlsEchoServerOptions options)
      : options_(std::move(options)), alpn_wire_(alpn_wire_format(options_.alpn)) {
    configure_tls();
    listen();
    start_accept();
    thread_.start("TlsEchoServer " + endpoint());
  }

  ~Impl() {
    thread_.stop([this] {
      stopping_ = true;
      error_code ignored;
      acceptor_.close(ignored);
      accept_retry_timer_.cancel();
      state_.close_all();
    });
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::uint16_t port() const { return port_; }

  std::string endpoint() const {
    const std::string host = address_.is_v6() ? "[" + address_.to_string() + "]" : address_.to_string();
    return host + ":" + std::to_string(port_);
  }

  const ServerState& state() const { return state_; }

  void replace_certificate(const std::filesystem::path& certificate_file, const std::filesystem::path& key_file) {
    // On the server thread, between two handshakes: SSL objects copy the context's certificate
    // when they are made, so open connections are not affected.
    std::string problem;
    thread_.run_and_wait([&] {
      try {
        ssl_context_.use_certificate_chain_file(certificate_file.string());
        ssl_context_.use_private_key_file(key_file.string(), ssl::context::pem);
      } catch (const boost::system::system_error& error) {
        problem = error.what();
      }
    });
    if (!problem.empty()) {
      throw std::runtime_error("TlsEchoServer: loading " + certificate_file.string() + " / " + key_file.string() +
                               ": " + problem);
    }
  }

  void close_all_connections() {
    thread_.run_and_wait([this] { state_.close_all(); });
  }

 private:
  void configure_tls() {
    ssl_context_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    try {
      ssl_context_.use_certificate_chain_file(options_.certificate_file.string());
      ssl_context_.use_private_key_file(options_.key_file.string(), ssl::context::pem);
    } catch (const boost::system::system_error& error) {
      throw std::runtime_error("TlsEchoServer: loading " + options_.certificate_file.string() + " / " +
                               options_.key_file.string() + ": " + error.what());
    }
    if (!alpn_wire_.empty()) {
      // OpenSSL's callback argument is a void*; select_alpn only reads through it.
      SSL_CTX_set_alpn_select_cb(ssl_context_.native_handle(), select_alpn, const_cast<std::string*>(&alpn_wire_));
    }
  }

  void listen() {
    try {
      address_ = asio::ip::make_address(options_.bind_address);
      const tcp::endpoint endpoint(address_, options_.port);
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(tcp::acceptor::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen(asio::socket_base::max_listen_connections);
      port_ = acceptor_.local_endpoint().port();
    } catch (const boost::system::system_error& error) {
      throw std::runtime_error("TlsEchoServer: cannot listen on " + options_.bind_address + ":" + std::to_string(options_.port) + ": " + error.what());
    }
  }

  void start_accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        spdlog::warn("TlsEchoServer {}: accept failed: {}", endpoint(), ec.message());
        accept_retry_timer_.expires_after(kAcceptRetryDelay);
        accept_retry_timer_.async_wait([this](const error_code& timer_error) {
          if (!timer_error && !stopping_) start_accept();
        });
        return;
      }
      state_.accepted.fetch_add(1);
      std::make_shared<EchoConnection>(std::move(socket), ssl_context_, state_, options_)
        ->start();
      start_accept();
    });
  }

  const TlsEchoServerOptions options_;
  const std::string alpn_wire_;  // read by select_alpn during handshakes
  ssl::context ssl_context_{ssl::context::tls_server};
  ServerThread thread_;  // before the acceptor and timer, which use its io_context
  tcp::acceptor acceptor_{thread_.io()};
  asio::steady_timer accept_retry_timer_{thread_.io()};
  asio::ip::address address_;
  std::uint16_t port_ = 0;
  ServerState state_;
  bool stopping_ = false;  // server thread only
};

TlsEchoServer::TlsEchoServer(TlsEchoServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
TlsEchoServer::~TlsEchoServer() = default;

std::uint16_t TlsEchoServer::port() const { return impl_->port(); }
std::string TlsEchoServer::endpoint() const { return impl_->endpoint(); }
std::size_t TlsEchoServer::accepted_connections() const { return impl_->state().accepted.load(); }
std::size_t TlsEchoServer::completed_handshakes() const { return impl_->state().completed_handshakes.load(); }
std::size_t TlsEchoServer::resumed_handshakes() const { return impl_->state().resumed_handshakes.load(); }
std::size_t TlsEchoServer::failed_handshakes() const { return impl_->state().failed_handshakes.load(); }
std::size_t TlsEchoServer::open_connections() const { return impl_->state().open.load(); }
std::size_t TlsEchoServer::max_open_connections() const { return impl_->state().max_open.load(); }
std::size_t TlsEchoServer::bytes_received() const { return impl_->state().bytes_received.load(); }
void TlsEchoServer::close_all_connections() { impl_->close_all_connections(); }
void TlsEchoServer::replace_certificate(const std::filesystem::path& certificate_file,
                                        const std::filesystem::path& key_file) {
  impl_->replace_certificate(certificate_file, key_file);
}

}  // namespace securechannel::demo

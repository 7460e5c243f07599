#include "testing/websocket_echo_server.hpp"

#include "demo/server_thread.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace securechannel::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

// TLS handshake plus the upgrade request must arrive within this.
constexpr std::chrono::seconds kHandshakeTimeout{10};

class EchoSession;

// Shared by the sessions; the atomics are read from any thread, the map only on the server thread.
struct ServerState {
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> upgrades{0};
  std::atomic<std::size_t> rejected{0};
  std::atomic<std::size_t> messages{0};
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::size_t> pings{0};
  std::atomic<std::size_t> clean_closes{0};
  std::atomic<std::size_t> idle_timeouts{0};
  std::atomic<std::size_t> open{0};
  std::unordered_map<EchoSession*, std::shared_ptr<EchoSession>> sessions;

  void close_all();
};

// TLS handshake -> HTTP request -> 404 or upgrade -> read a message, write it back, repeat.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  EchoSession(tcp::socket socket, ssl::context& context, ServerState& server, const WebSocketEchoServerOptions& options)
      : ws_(std::move(socket), context),
        timer_(ws_.get_executor()),
        idle_timer_(ws_.get_executor()),
        server_(server),
        options_(options) {}

  void start() {
    server_.sessions.emplace(this, shared_from_this());
    server_.open.fetch_add(1);
    timer_.expires_after(kHandshakeTimeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec && !self->upgraded_) self->close();
    });
    ws_.next_layer().async_handshake(ssl::stream_base::server, [self = shared_from_this()](const error_code& ec) {
      if (ec) return self->close();
      self->read_request();
    });
  }

  // Abrupt: no close frame, no close_notify. Pending operations end with an error.
  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    idle_timer_.cancel();
    error_code ignored;
    boost::beast::get_lowest_layer(ws_).close(ignored);
    if (server_.sessions.erase(this) != 0) server_.open.fetch_sub(1);
  }

 private:
  void read_request() {
    http::async_read(ws_.next_layer(), buffer_, request_, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (ec || self->closed_) return self->close();
      if (self->request_.target() != self->options_.echo_path || !websocket::is_upgrade(self->request_)) {
        return self->reject();
      }
      self->accept();
    });
  }

  void reject() {
    server_.rejected.fetch_add(1);
    response_.result(http::status::not_found);
    response_.version(request_.version());
    response_.set(http::field::content_type, "text/plain");
    response_.keep_alive(false);
    response_.body() = "no WebSocket endpoint at this path\n";
    response_.prepare_payload();
    http::async_write(ws_.next_layer(), response_, [self = shared_from_this()](const error_code&, std::size_t) {
      self->close();
    });
  }

  void accept() {
    // Beast's own idle timeout (without keep-alive pings) ends a read that waited that long for
    // a *message*, pings or not; a server's idle timeout counts any frame, so it is ours.
    websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(boost::beast::role_type::server);
    timeouts.idle_timeout = websocket::stream_base::none();
    ws_.set_option(timeouts);
    ws_.control_callback([this](websocket::frame_type kind, boost::beast::string_view) {
      last_frame_ = std::chrono::steady_clock::now();
      if (kind == websocket::frame_type::ping) server_.pings.fetch_add(1);
    });
    ws_.async_accept(request_, [self = shared_from_this()](const error_code& ec) {
      if (ec || self->closed_) return self->close();
      self->upgraded_ = true;
      self->timer_.cancel();
      self->server_.upgrades.fetch_add(1);
      self->last_frame_ = std::chrono::steady_clock::now();
      if (self->options_.idle_timeout.count() > 0) self->arm_idle_timer(self->last_frame_ + self->options_.idle_timeout);
      self->read_message();
    });
  }

  void read_message() {
    buffer_.clear();
    ws_.async_read(buffer_, [self = shared_from_this()](const error_code& ec, std::size_t bytes) {
      if (self->closed_) return;
      // A close frame from the client, whatever the TLS shutdown after it reported.
      if (self->ws_.reason().code != websocket::close_code::none) self->server_.clean_closes.fetch_add(1);
      if (ec) return self->close();
      self->last_frame_ = std::chrono::steady_clock::now();
      self->server_.messages.fetch_add(1);
      self->server_.bytes.fetch_add(bytes);
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(), [self](const error_code& write_error, std::size_t) {
        if (write_error || self->closed_) return self->close();
        self->read_message();
      });
    });
  }

  void arm_idle_timer(std::chrono::steady_clock::time_point deadline) {
    idle_timer_.expires_at(deadline);
    idle_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->closed_) return;
      const auto deadline_now = self->last_frame_ + self->options_.idle_timeout;
      if (std::chrono::steady_clock::now() < deadline_now) return self->arm_idle_timer(deadline_now);
      self->server_.idle_timeouts.fetch_add(1);
      self->close();
    });
  }

  websocket::stream<ssl::stream<tcp::socket>, false> ws_;
  asio::steady_timer timer_;       // TLS handshake and upgrade request
  asio::steady_timer idle_timer_;  // options_.idle_timeout after the upgrade
  std::chrono::steady_clock::time_point last_frame_{};
  ServerState& server_;
  const WebSocketEchoServerOptions& options_;
  boost::beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool upgraded_ = false;
  bool closed_ = false;
};

void ServerState::close_all() {
  std::vector<std::shared_ptr<EchoSession>> snapshot;  // close() erases from the map
  snapshot.reserve(sessions.size());
  for (const auto& entry : sessions) snapshot.push_back(entry.second);
  for (const auto& session : snapshot) session->close();
}

}  // namespace

class WebSocketEchoServer::Impl {
 public:
  explicit Impl(WebSocketEchoServerOptions options) : options_(std::move(options)) {
    ssl_context_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    try {
      ssl_context_.use_certificate_chain_file(options_.certificate_file.string());
      ssl_context_.use_private_key_file(options_.key_file.string(), ssl::context::pem);
      const tcp::endpoint endpoint(asio::ip::make_address(options_.bind_address), 0);
      acceptor_.open(endpoint.protocol());
      acceptor_.bind(endpoint);
      acceptor_.listen(asio::socket_base::max_listen_connections);
      port_ = acceptor_.local_endpoint().port();
    } catch (const boost::system::system_error& error) {
      throw std::runtime_error(std::string("WebSocketEchoServer: ") + error.what());
    }
    start_accept();
    thread_.start("WebSocketEchoServer " + endpoint());
  }

  ~Impl() {
    thread_.stop([this] {
      stopping_ = true;
      error_code ignored;
      acceptor_.close(ignored);
      state_.close_all();
    });
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return options_.bind_address + ":" + std::to_string(port_); }
  const ServerState& state() const { return state_; }

  void close_all_connections() {
    thread_.run_and_wait([this] { state_.close_all(); });
  }

 private:
  void start_accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) return;
      if (!ec) {
        state_.accepted.fetch_add(1);
        std::make_shared<EchoSession>(std::move(socket), ssl_context_, state_, options_)->start();
      }
      start_accept();
    });
  }

  const WebSocketEchoServerOptions options_;
  ssl::context ssl_context_{ssl::context::tls_server};
  demo::ServerThread thread_;  // before the acceptor, which uses its io_context
  tcp::acceptor acceptor_{thread_.io()};
  std::uint16_t port_ = 0;
  ServerState state_;
  bool stopping_ = false;  // server thread only
};

WebSocketEchoServer::WebSocketEchoServer(WebSocketEchoServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
WebSocketEchoServer::~WebSocketEchoServer() = default;

std::uint16_t WebSocketEchoServer::port() const { return impl_->port(); }
std::string WebSocketEchoServer::endpoint() const { return impl_->endpoint(); }
std::size_t WebSocketEchoServer::accepted_connections() const { return impl_->state().accepted.load(); }
std::size_t WebSocketEchoServer::upgrades() const { return impl_->state().upgrades.load(); }
std::size_t WebSocketEchoServer::rejected_upgrades() const { return impl_->state().rejected.load(); }
std::size_t WebSocketEchoServer::messages_echoed() const { return impl_->state().messages.load(); }
std::size_t WebSocketEchoServer::bytes_echoed() const { return impl_->state().bytes.load(); }
std::size_t WebSocketEchoServer::pings_received() const { return impl_->state().pings.load(); }
std::size_t WebSocketEchoServer::clean_closes() const { return impl_->state().clean_closes.load(); }
std::size_t WebSocketEchoServer::idle_timeouts() const { return impl_->state().idle_timeouts.load(); }
std::size_t WebSocketEchoServer::open_connections() const { return impl_->state().open.load(); }
void WebSocketEchoServer::close_all_connections() { impl_->close_all_connections(); }

}  // namespace securechannel::testing

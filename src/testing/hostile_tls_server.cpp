#include "testing/hostile_tls_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace securechannel::testing {

std::string HostileConnection::read_until(std::string_view delimiter, std::size_t limit) {
  while (pending_.find(delimiter) == std::string::npos) {
    if (pending_.size() > limit) return {};
    std::string more = read_some();
    if (more.empty()) return {};
    pending_ += more;
  }
  const std::size_t end = pending_.find(delimiter) + delimiter.size();
  std::string head = pending_.substr(0, end);
  pending_.erase(0, end);
  return head;
}

std::string HostileConnection::read_exactly(std::size_t count) {
  while (pending_.size() < count) {
    std::string more = read_some();
    if (more.empty()) return {};
    pending_ += more;
  }
  std::string bytes = pending_.substr(0, count);
  pending_.erase(0, count);
  return bytes;
}

namespace {

using Clock = std::chrono::steady_clock;

// How often a blocked step looks at the stop flag: bounds how long the destructor waits.
constexpr std::chrono::milliseconds kStopPoll{50};

std::string openssl_error() {
  char text[256] = "unknown OpenSSL error";
  if (const unsigned long code = ERR_get_error(); code != 0) ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Waits for `events` on `fd` for at most one stop-poll interval.
void wait_for(int fd, short events) {
  pollfd watched{.fd = fd, .events = events, .revents = 0};
  ::poll(&watched, 1, static_cast<int>(kStopPoll.count()));
}

// After an OpenSSL call on the non-blocking socket returned `result`: waits for what it needs
// and says true, or says false when the connection failed (or the peer closed it).
bool waited_for_socket(SSL* ssl, int fd, int result) {
  const int error = SSL_get_error(ssl, result);
  if (error == SSL_ERROR_WANT_READ) {
    wait_for(fd, POLLIN);
  } else if (error == SSL_ERROR_WANT_WRITE) {
    wait_for(fd, POLLOUT);
  } else {
    return false;
  }
  return true;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                unsigned int offered_length, void* argument) {
  const auto* wire = static_cast<const std::string*>(argument);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned int>(wire->size()), offered, offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

class Connection final : public HostileConnection {
 public:
  Connection(int fd, SSL* ssl, std::chrono::milliseconds io_timeout, const std::atomic<bool>& stop)
      : fd_(fd), ssl_(ssl), io_timeout_(io_timeout), stop_(stop) {}
  ~Connection() override {
    SSL_free(ssl_);
    ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The server side of the handshake, within io_timeout.
  bool handshake() {
    const auto deadline = Clock::now() + io_timeout_;
    while (!stopping() && Clock::now() < deadline) {
      const int result = SSL_accept(ssl_);
      if (result == 1) return true;
      if (!waited_for_socket(ssl_, fd_, result)) return false;
    }
    return false;
  }

  std::string read_some() override {
    std::string bytes;
    read_step(Clock::now() + io_timeout_, bytes);
    return bytes;
  }

  bool write(std::string_view bytes) override {
    auto deadline = Clock::now() + io_timeout_;
    while (!bytes.empty()) {
      if (stopping() || Clock::now() >= deadline || broken_) return false;
      const int result = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
      if (result > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(result));
        written_ += static_cast<std::size_t>(result);
        deadline = Clock::now() + io_timeout_;
        continue;
      }
      if (!waited_for_socket(ssl_, fd_, result)) {
        broken_ = true;
        return false;
      }
    }
    return true;
  }

  bool peer_closes_within(std::chrono::milliseconds limit) override {
    const auto deadline = Clock::now() + limit;
    std::string discarded;
    while (Clock::now() < deadline) {
      discarded.clear();
      switch (read_step(deadline, discarded)) {
        case Step::closed: return true;
        case Step::data: continue;
        case Step::quiet:
        case Step::stopping: return false;
      }
    }
    return false;
  }

  bool stopping() const override { return stop_.load(); }

  std::string alpn() const override {
    const unsigned char* selected = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_, &selected, &length);
    return selected == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(selected), length);
  }

  std::size_t bytes_written() const override { return written_; }

 private:
  enum class Step { data, closed, quiet, stopping };

  Step read_step(Clock::time_point deadline, std::string& out) {
    char buffer[16 * 1024];
    while (true) {
      if (broken_) return Step::closed;
      if (stopping()) return Step::stopping;
      if (Clock::now() >= deadline) return Step::quiet;
      const int result = SSL_read(ssl_, buffer, sizeof buffer);
      if (result > 0) {
        out.append(buffer, static_cast<std::size_t>(result));
        return Step::data;
      }
      if (!waited_for_socket(ssl_, fd_, result)) {
        broken_ = true;  // close_notify, FIN, reset or a TLS error: the peer is gone either way
        return Step::closed;
      }
    }
  }

  const int fd_;
  SSL* const ssl_;
  const std::chrono::milliseconds io_timeout_;
  const std::atomic<bool>& stop_;
  bool broken_ = false;
  std::size_t written_ = 0;
};

}  // namespace

class HostileTlsServer::Impl {
 public:
  Impl(HostileTlsServerOptions options, HostileScript script)
      : options_(std::move(options)), script_(std::move(script)), context_(SSL_CTX_new(TLS_server_method())) {
    if (context_ == nullptr) throw std::runtime_error("HostileTlsServer: SSL_CTX_new: " + openssl_error());
    if (SSL_CTX_use_certificate_chain_file(context_, options_.certificate_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(context_, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      const std::string why = openssl_error();
      SSL_CTX_free(context_);
      throw std::runtime_error("HostileTlsServer: cannot load " + options_.certificate_file.string() + ": " + why);
    }
    SSL_CTX_set_mode(context_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    for (const std::string& protocol : options_.alpn) {
      alpn_wire_ += static_cast<char>(protocol.size());
      alpn_wire_ += protocol;
    }
    if (!alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(context_, select_alpn, &alpn_wire_);

    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 128) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      const std::string why = std::strerror(errno);
      if (listener_ >= 0) ::close(listener_);
      SSL_CTX_free(context_);
      throw std::runtime_error("HostileTlsServer: cannot listen on 127.0.0.1: " + why);
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~Impl() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> scripts;
    {
      std::lock_guard lock(mutex_);
      scripts.swap(scripts_);
    }
    for (std::thread& script : scripts) script.join();
    ::close(listener_);
    SSL_CTX_free(context_);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t accepted() const { return accepted_.load(); }
  std::size_t finished() const { return finished_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        wait_for(listener_, POLLIN);
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mutex_);
      scripts_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    // OpenSSL writes with write(2): to a peer that left, that raises SIGPIPE, which would end
    // the test process. Blocked on this thread only, it stays pending here and write fails
    // with EPIPE instead; the process's own disposition is left alone.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    SSL* ssl = SSL_new(context_);
    if (ssl == nullptr) {
      ::close(fd);
    } else {
      SSL_set_fd(ssl, fd);
      Connection connection(fd, ssl, options_.io_timeout, stop_);
      if (connection.handshake()) script_(connection);
    }
    ++finished_;
  }

  const HostileTlsServerOptions options_;
  const HostileScript script_;
  SSL_CTX* const context_;
  std::string alpn_wire_;  // read by select_alpn during handshakes
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> finished_{0};
  std::mutex mutex_;
  std::vector<std::thread> scripts_;  // one per accepted connection, joined at destruction
  std::thread acceptor_;
};

HostileTlsServer::HostileTlsServer(HostileTlsServerOptions options, HostileScript script)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(script))) {}

HostileTlsServer::~HostileTlsServer() = default;

std::uint16_t HostileTlsServer::port() const { return impl_->port(); }

std::string HostileTlsServer::endpoint() const { return "127.0.0.1:" + std::to_string(impl_->port()); }

std::size_t HostileTlsServer::accepted_connections() const { return impl_->accepted(); }

std::size_t HostileTlsServer::finished_scripts() const { return impl_->finished(); }

}  // namespace securechannel::testing

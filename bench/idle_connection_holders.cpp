#include "idle_connection_holders.hpp"

#include "run_io_until.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// RSS after giving freed heap back to the kernel, so that what a variant freed on its way (e.g.
// handshake buffers under SSL_MODE_RELEASE_BUFFERS) does not count against it.
std::size_t trimmed_resident_bytes() {
  ::malloc_trim(0);
  return testing::resident_set_bytes();
}

// Diagnostic only: what malloc has handed out and not had back, over all arenas.
std::size_t heap_in_use_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

double slope(std::size_t with_first, std::size_t with_all, std::size_t connections) {
  if (connections < 2 || with_all == 0) return 0;
  return (static_cast<double>(with_all) - static_cast<double>(with_first)) / static_cast<double>(connections - 1);
}

// The columns of one reading, in this order: RSS before the trim (what malloc_trim would hide),
// RSS after it (the main figure), then heap in use.
void read_memory_after_first(IdleMemorySample& sample) {
  sample.untrimmed_rss_after_first = testing::resident_set_bytes();
  sample.rss_after_first = trimmed_resident_bytes();
  sample.heap_after_first = heap_in_use_bytes();
}

void read_memory_after_all(IdleMemorySample& sample) {
  sample.untrimmed_rss_after_all = testing::resident_set_bytes();
  sample.rss_after_all = trimmed_resident_bytes();
  sample.heap_after_all = heap_in_use_bytes();
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::chrono::milliseconds time_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

// What the pool does for an IP-literal endpoint: check the certificate's IP SAN (SNI is not
// sent for IP literals, RFC 6066 3), or the DNS name otherwise.
void require_peer_identity(SSL* connection, const std::string& host) {
  in6_addr ignored{};
  if (::inet_pton(AF_INET, host.c_str(), &ignored) == 1 || ::inet_pton(AF_INET6, host.c_str(), &ignored) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(connection), host.c_str());
  } else {
    SSL_set_tlsext_host_name(connection, host.c_str());
    SSL_set1_host(connection, host.c_str());
  }
}

// Independent of how the connection was made: did it end in a verified TLS 1.3 session?
bool verified_tls13(const SSL* connection) {
  return SSL_version(connection) == TLS1_3_VERSION && (SSL_get_verify_mode(connection) & SSL_VERIFY_PEER) != 0 &&
         SSL_get_verify_result(connection) == X509_V_OK && SSL_get0_peer_certificate(connection) != nullptr;
}

void finish(IdleMemorySample& sample) {
  if (sample.error.empty() && sample.verified_tls13 != sample.requested) {
    sample.error = std::to_string(sample.verified_tls13) + " of " + std::to_string(sample.requested) +
                   " connections completed a verified TLS 1.3 handshake";
  }
}

}  // namespace

double IdleMemorySample::marginal_bytes_per_connection() const {
  return slope(rss_after_first, rss_after_all, requested);
}

double IdleMemorySample::probed_bytes_per_connection() const {
  return slope(rss_after_first, rss_after_probe, requested);
}

double IdleMemorySample::marginal_heap_bytes_per_connection() const {
  return slope(heap_after_first, heap_after_all, requested);
}

double IdleMemorySample::untrimmed_bytes_per_connection() const {
  return slope(untrimmed_rss_after_first, untrimmed_rss_after_all, requested);
}

double IdleMemorySample::probed_heap_bytes_per_connection() const {
  return slope(heap_after_first, heap_after_probe, requested);
}

double IdleMemorySample::average_bytes_per_connection() const {
  if (requested == 0) return 0;
  return (static_cast<double>(rss_after_all) - static_cast<double>(rss_after_setup)) / static_cast<double>(requested);
}

IdleMemorySample hold_idle_pool_connections(const IdleTarget& target, Establishment establishment) {
  IdleMemorySample sample{.requested = target.connections};
  asio::io_context io;
  // The pool as a user would configure it for this job; defaults everywhere else.
  auto pool = SecureChannelPool::builder(target.host + ":" + target.port)
                  .with_system_trust_store(false)
                  .with_ca_file(target.ca_file)
                  .with_max_connections(target.connections)
                  .with_min_idle(target.connections)
                  .build(io.get_executor());
  sample.rss_after_setup = trimmed_resident_bytes();

  {
    bool acquired = false;
    error_code error;
    pool->async_acquire([&](error_code ec, Lease) {  // the lease goes straight back: one idle connection
      error = ec;
      acquired = true;
    });
    if (!run_io_until(io, [&] { return acquired; }, target.time_limit) || error) {
      sample.error = "first connection: " + pool->last_connect_failure().describe();
      return sample;
    }
  }
  read_memory_after_first(sample);

  const auto start = Clock::now();
  const auto deadline = start + target.time_limit;
  if (establishment == Establishment::one_at_a_time) {
    std::vector<Lease> held;
    while (held.size() + 1 < target.connections && Clock::now() < deadline) {
      std::optional<Lease> lease;
      pool->async_acquire([&](error_code, Lease acquired) { lease.emplace(std::move(acquired)); });
      if (!run_io_until(io, [&] { return lease.has_value(); }, 10s) || !*lease) break;
      held.push_back(std::move(*lease));
    }
  }  // the held leases go back: all of them idle
  pool->warm_up();
  while (pool->stats().idle_connections < target.connections && Clock::now() < deadline) {
    run_io_until(io, [&] { return pool->stats().idle_connections == target.connections; }, 50ms);
    // A failed connect is not retried by itself: top up again once the pool's backoff allows.
    if (pool->stats().connecting_connections == 0) pool->warm_up();
  }
  sample.establish_seconds = seconds_since(start);
  const PoolStats stats = pool->stats();
  sample.established = stats.idle_connections;
  sample.connect_failures = stats.connect_failures;
  read_memory_after_all(sample);

  if (const std::size_t closed = pool->run_cleanup_once(); closed != 0) {
    sample.error = std::to_string(closed) + " idle connections were found dead by the probe";
  }
  sample.rss_after_probe = trimmed_resident_bytes();
  sample.heap_after_probe = heap_in_use_bytes();

  // Check out every connection (nothing else holds one) and look at its OpenSSL session.
  std::vector<Lease> leases;
  while (std::optional<Lease> lease = pool->try_acquire()) {
    if (verified_tls13(lease->channel().native_handle())) ++sample.verified_tls13;
    if (lease->channel().resumed_session()) ++sample.resumed;
    leases.push_back(std::move(*lease));
  }
  leases.clear();

  bool closed = false;
  pool->async_shutdown(0ms, [&](error_code) { closed = true; });
  run_io_until(io, [&] { return closed; }, 10s);
  finish(sample);
  return sample;
}

IdleMemorySample hold_idle_asio_ssl_streams(const IdleTarget& target, Establishment establishment) {
  IdleMemorySample sample{.requested = target.connections};
  asio::io_context io;
  // What a user of bare Asio writes; Asio itself sets SSL_MODE_RELEASE_BUFFERS on every stream,
  // but keeps its own two 17 KB buffers and a BIO pair per stream regardless.
  ssl::context context(ssl::context::tls_client);
  context.load_verify_file(target.ca_file);
  context.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_3_VERSION);
  const tcp::endpoint endpoint(asio::ip::make_address(target.host),
                               static_cast<unsigned short>(std::stoul(target.port)));
  std::vector<std::unique_ptr<ssl::stream<tcp::socket>>> streams;
  std::size_t finished = 0;
  sample.rss_after_setup = trimmed_resident_bytes();

  auto open_stream = [&] {
    ssl::stream<tcp::socket>* stream =
        streams.emplace_back(std::make_unique<ssl::stream<tcp::socket>>(io, context)).get();
    require_peer_identity(stream->native_handle(), target.host);
    stream->next_layer().async_connect(endpoint, [&, stream](error_code connect_error) {
      if (connect_error) {
        ++sample.connect_failures;
        ++finished;
        return;
      }
      error_code ignored;
      stream->next_layer().set_option(tcp::no_delay(true), ignored);
      stream->async_handshake(ssl::stream_base::client, [&, stream](error_code handshake_error) {
        ++finished;
        if (handshake_error) {
          ++sample.connect_failures;
          return;
        }
        ++sample.established;
        if (verified_tls13(stream->native_handle())) ++sample.verified_tls13;
      });
    });
  };

  open_stream();
  if (!run_io_until(io, [&] { return finished == 1; }, target.time_limit) || sample.established != 1) {
    sample.error = "first connection failed";
    return sample;
  }
  read_memory_after_first(sample);

  const auto start = Clock::now();
  const auto deadline = start + target.time_limit;
  for (std::size_t i = 1; i < target.connections; ++i) {
    open_stream();
    if (establishment == Establishment::one_at_a_time) {
      run_io_until(io, [&] { return finished == i + 1; }, time_left(deadline));
    }
  }
  run_io_until(io, [&] { return finished == target.connections; }, time_left(deadline));
  sample.establish_seconds = seconds_since(start);
  read_memory_after_all(sample);
  if (finished != target.connections) sample.error = "handshakes still running at the time limit";
  streams.clear();  // closes every socket (no close_notify: nothing is measured after this)
  finish(sample);
  return sample;
}

namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};

// One blocking socket with its SSL object; closed abruptly when destroyed.
class RawTlsConnection {
 public:
  RawTlsConnection(int fd, SSL* connection) : fd_(fd), ssl_(connection) {}
  RawTlsConnection(RawTlsConnection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), ssl_(std::exchange(other.ssl_, nullptr)) {}
  RawTlsConnection& operator=(RawTlsConnection&&) = delete;
  ~RawTlsConnection() {
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  SSL* native_handle() const noexcept { return ssl_; }

 private:
  int fd_;
  SSL* ssl_;
};

// connect() and SSL_connect() on a blocking socket whose timeouts bound every wait.
std::optional<RawTlsConnection> connect_raw(SSL_CTX* context, const sockaddr_in& address, const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const timeval timeout{.tv_sec = 10, .tv_usec = 0};
  const int no_delay = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay));
  RawTlsConnection connection(fd, SSL_new(context));
  if (connection.native_handle() == nullptr || SSL_set_fd(connection.native_handle(), fd) != 1) return std::nullopt;
  require_peer_identity(connection.native_handle(), host);
  if (SSL_connect(connection.native_handle()) != 1) return std::nullopt;
  return connection;
}

}  // namespace

IdleMemorySample hold_idle_raw_openssl_connections(const IdleTarget& target) {
  IdleMemorySample sample{.requested = target.connections};
  std::unique_ptr<SSL_CTX, SslCtxDeleter> context(SSL_CTX_new(TLS_client_method()));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoul(target.port)));
  if (!context || ::inet_pton(AF_INET, target.host.c_str(), &address.sin_addr) != 1 ||
      SSL_CTX_load_verify_locations(context.get(), target.ca_file.c_str(), nullptr) != 1) {
    sample.error = "cannot set up the OpenSSL context (the raw client takes an IPv4 literal host)";
    return sample;
  }
  SSL_CTX_set_min_proto_version(context.get(), TLS1_3_VERSION);
  SSL_CTX_set_mode(context.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  std::vector<RawTlsConnection> connections;
  sample.rss_after_setup = trimmed_resident_bytes();

  // One at a time: blocking sockets are sequential by nature.
  auto open_connection = [&] {
    std::optional<RawTlsConnection> connection = connect_raw(context.get(), address, target.host);
    if (!connection) {
      ++sample.connect_failures;
      return false;
    }
    if (verified_tls13(connection->native_handle())) ++sample.verified_tls13;
    connections.push_back(std::move(*connection));
    return true;
  };
  if (!open_connection()) {
    sample.error = "first connection failed";
    return sample;
  }
  read_memory_after_first(sample);

  const auto start = Clock::now();
  const auto deadline = start + target.time_limit;
  // Bounded twice: by the time limit and by a failure budget as large as the target itself.
  while (connections.size() < target.connections && Clock::now() < deadline &&
         sample.connect_failures < target.connections) {
    open_connection();
  }
  sample.establish_seconds = seconds_since(start);
  sample.established = connections.size();
  read_memory_after_all(sample);
  connections.clear();
  finish(sample);
  return sample;
}

}  // namespace securechannel::bench

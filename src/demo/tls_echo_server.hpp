// A real TLS upstream for tests, benchmarks and `scpool demo`: it accepts on loopback (port 0),
// handshakes (TLS 1.2 or 1.3, optional ALPN), and echoes every byte back. It runs on its own
// thread and io_context, so a test can drive it from any thread, and it counts what it saw so
// tests can assert on reuse, concurrency and leaks from the server's side.
//
//   auto ca = securechannel::demo::CertificateAuthority::create();
//   auto cert = ca.issue("server");
//   securechannel::demo::TlsEchoServer server({.certificate_file = cert.certificate_file,
//                                              .key_file = cert.key_file,
//                                              .idle_close_after = std::chrono::seconds(2)});
//   connect_and_echo(server.endpoint());            // "127.0.0.1:41234"
//   EXPECT_EQ(server.accepted_connections(), 1u);   // the connection was reused
//   server.close_all_connections();                 // the upstream "restarts"
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace securechannel::demo {

struct TlsEchoServerOptions {
  std::filesystem::path certificate_file{};  // PEM chain (leaf first)
  std::filesystem::path key_file{};          // PEM private key
  std::string bind_address = "127.0.0.1";  // IPv4 or IPv6 literal
  // 0 (the default): any free port. Non-zero only to bring an upstream back on the port it had,
  // as the circuit-breaker tests do with a port this process held a moment before.
  std::uint16_t port = 0;
  // > 0: close a connection that was idle this long, with close_notify first, the way a server's
  // keep-alive timeout does. Lets tests exercise a pool reusing a connection the peer dropped.
  std::chrono::milliseconds idle_close_after{0};
  // > 0: hold each read this long before echoing it, as a slow upstream would: lets tests give up
  // on a reply that is still on its way.
  std::chrono::milliseconds echo_delay{0};
  // Non-empty: each read that begins with `rewrite_prefix.first` is echoed with it replaced by
  // `.second`. Lets a test script what a client's parser sees: a request line "RESPOND 200 ..."
  // comes back as the status line "HTTP/1.1 200 ...", which no valid request could start with.
  std::pair<std::string, std::string> rewrite_prefix{};
  // Protocols the server accepts, in its order of preference; empty = no ALPN. A client that
  // offers ALPN but none of these gets a no_application_protocol alert (RFC 7301).
  std::vector<std::string> alpn{};
};

class TlsEchoServer {
 public:
  // Binds bind_address:0 and starts accepting. Throws std::runtime_error when the address
  // cannot be bound or the certificate or key cannot be loaded.
  explicit TlsEchoServer(TlsEchoServerOptions options);
  // Stops accepting, closes every connection and joins the server thread.
  ~TlsEchoServer();

  TlsEchoServer(const TlsEchoServer&) = delete;
  TlsEchoServer& operator=(const TlsEchoServer&) = delete;

  std::uint16_t port() const;
  std::string endpoint() const;  // "127.0.0.1:<port>", IPv6 as "[::1]:<port>"

  // Counters, readable from any thread; they only ever grow except open_connections.
  std::size_t accepted_connections() const;  // TCP accepts so far
  std::size_t completed_handshakes() const;
  std::size_t resumed_handshakes() const;    // of those, resumed sessions (as the server saw them)
  std::size_t failed_handshakes() const;     // includes handshakes that timed out (10 s)
  std::size_t open_connections() const;      // TCP connections open right now
  std::size_t max_open_connections() const;  // high-water mark of open_connections
  std::size_t bytes_received() const;        // application bytes received (and echoed back)

  // Closes every open connection now, abruptly (TCP FIN without close_notify), as an upstream
  // that crashed or restarted would, and returns once they are closed. Thread-safe; the server
  // keeps accepting new connections.
  void close_all_connections();

  // Serves another certificate chain and key (PEM, leaf first) to connections accepted from now
  // on, as a server that reloads a renewed certificate does; open connections keep theirs.
  // Returns once the switch is made. Throws std::runtime_error when the files do not load.
  void replace_certificate(const std::filesystem::path& certificate_file, const std::filesystem::path& key_file);

 private:
  class Impl;  // Asio and OpenSSL stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace securechannel::demo

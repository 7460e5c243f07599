// A real WebSocket upstream over TLS for tests: Beast's WebSocket server on asio::ssl, on
// loopback (port 0). It upgrades requests for one path and answers 404 to any other, echoes
// every message back with its type (text or binary), answers pings, and counts what it saw.
// It runs on its own thread and io_context, like TlsEchoServer.
//
//   auto ca = securechannel::demo::CertificateAuthority::create();
//   auto cert = ca.issue("server");
//   securechannel::testing::WebSocketEchoServer server({.certificate_file = cert.certificate_file,
//                                                       .key_file = cert.key_file});
//   connect_to(server.endpoint(), "/echo");        // "127.0.0.1:41234"
//   server.close_all_connections();                // the upstream "crashes"
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace securechannel::testing {

struct WebSocketEchoServerOptions {
  std::filesystem::path certificate_file{};  // PEM chain (leaf first)
  std::filesystem::path key_file{};          // PEM private key
  std::string bind_address = "127.0.0.1";
  // The only target that is upgraded (query strings included in the comparison); any other
  // gets "404 Not Found" and the connection is closed.
  std::string echo_path = "/echo";
  // > 0: drop a WebSocket on which nothing (not even a ping) arrived for this long, as a server's
  // idle timeout does. The server itself never pings.
  std::chrono::milliseconds idle_timeout{0};
};

class WebSocketEchoServer {
 public:
  // Binds bind_address:0 and starts accepting. Throws std::runtime_error when the address cannot
  // be bound or the certificate or key cannot be loaded.
  explicit WebSocketEchoServer(WebSocketEchoServerOptions options);
  // Stops accepting, closes every connection and joins the server thread.
  ~WebSocketEchoServer();

  WebSocketEchoServer(const WebSocketEchoServer&) = delete;
  WebSocketEchoServer& operator=(const WebSocketEchoServer&) = delete;

  std::uint16_t port() const;
  std::string endpoint() const;  // "127.0.0.1:<port>"

  // Counters, readable from any thread; they only ever grow except open_connections.
  std::size_t accepted_connections() const;  // TCP accepts
  std::size_t upgrades() const;              // WebSocket handshakes completed
  std::size_t rejected_upgrades() const;     // requests answered with 404
  std::size_t messages_echoed() const;
  std::size_t bytes_echoed() const;          // payload bytes
  std::size_t pings_received() const;
  std::size_t clean_closes() const;          // close handshakes started by the client
  std::size_t idle_timeouts() const;         // WebSockets dropped by idle_timeout
  std::size_t open_connections() const;

  // Closes every open connection now, abruptly (TCP close, no close frame, no close_notify), as
  // a crashed upstream would, and returns once they are closed. The server keeps accepting.
  void close_all_connections();

 private:
  class Impl;  // Asio, Beast and OpenSSL stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace securechannel::testing

// A TLS server that misbehaves on purpose, for the hostile-peer tests: it accepts on loopback
// (port 0), handshakes (optionally with ALPN), and hands each connection to a script the test
// writes, on a thread of its own, with blocking reads and writes that never wait forever. The
// script sends whatever bytes the attack needs (a 1 MiB header, a CONTINUATION flood, a masked
// WebSocket frame), which no well-behaved server library would produce.
//
//   HostileTlsServer server({.certificate_file = cert.certificate_file, .key_file = cert.key_file},
//                           [](HostileConnection& connection) {
//                             connection.read_until("\r\n\r\n");
//                             connection.write("HTTP/1.1 200 OK\r\n");
//                             while (connection.write("X-Flood: 1\r\n")) {}  // until the client leaves
//                           });
//
// Plain POSIX sockets and OpenSSL, no Asio: a script is a straight sequence of blocking steps,
// and every step gives up after the server's io_timeout, or when the server is being destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::testing {

struct HostileTlsServerOptions {
  std::filesystem::path certificate_file{};  // PEM chain (leaf first)
  std::filesystem::path key_file{};          // PEM private key
  // Protocols the server selects from, in its order of preference; empty = no ALPN.
  std::vector<std::string> alpn{};
  // A read or write that makes no progress this long fails (the script then usually returns).
  std::chrono::milliseconds io_timeout{5'000};
};

// One accepted, handshaken connection, as the script sees it. Used only by its script's thread.
class HostileConnection {
 public:
  virtual ~HostileConnection() = default;

  // The bytes that arrived (at least one), or "" when the peer closed, failed or went quiet
  // for io_timeout.
  virtual std::string read_some() = 0;
  // Reads until `delimiter` has arrived and returns everything read (delimiter included), or ""
  // when the peer closed first, or more than `limit` bytes came without it.
  std::string read_until(std::string_view delimiter, std::size_t limit = 1 << 20);
  // Exactly `count` bytes, or "" when the peer closed first.
  std::string read_exactly(std::size_t count);
  // Writes all of `bytes`: false once the peer is gone (or took nothing for io_timeout).
  virtual bool write(std::string_view bytes) = 0;
  // Waits up to `limit` for the peer to close the connection (or reset it), discarding what it
  // sends meanwhile: true when it did.
  virtual bool peer_closes_within(std::chrono::milliseconds limit) = 0;
  // True once the server is being destroyed: a script that loops should stop.
  virtual bool stopping() const = 0;
  // The protocol ALPN selected ("" when none).
  virtual std::string alpn() const = 0;
  // Application bytes this connection has written so far.
  virtual std::size_t bytes_written() const = 0;

 protected:
  std::string pending_;  // read past what read_until / read_exactly returned
};

using HostileScript = std::function<void(HostileConnection&)>;

class HostileTlsServer {
 public:
  // Binds 127.0.0.1:0 and starts accepting; each handshaken connection runs `script` on its own
  // thread, and is closed when the script returns. Throws std::runtime_error when the
  // certificate or key do not load or the address cannot be bound.
  HostileTlsServer(HostileTlsServerOptions options, HostileScript script);
  // Stops accepting, tells running scripts to stop (their pending reads and writes fail within
  // ~50 ms) and joins every thread.
  ~HostileTlsServer();

  HostileTlsServer(const HostileTlsServer&) = delete;
  HostileTlsServer& operator=(const HostileTlsServer&) = delete;

  std::uint16_t port() const;
  std::string endpoint() const;  // "127.0.0.1:<port>"

  // Readable from any thread.
  std::size_t accepted_connections() const;  // TCP accepts so far
  std::size_t finished_scripts() const;      // connections whose script has returned

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace securechannel::testing

// Debian's `openssl s_server` as a TLS upstream for tests that need a server we did not write,
// or one configured in ways our fixtures refuse: only TLS 1.1, only non-ECDHE or CBC suites,
// RSA-1024 or SHA-1 certificates (with "-cipher DEFAULT:@SECLEVEL=0" so that it loads them).
// It runs as a child process on 127.0.0.1 with a port the kernel picks, and writes every
// application byte it receives to its standard output, verbatim, which output() returns.
//
//   if (!securechannel::testing::OpenSslServer::available()) GTEST_SKIP() << "no openssl binary";
//   securechannel::testing::OpenSslServer server({.certificate_file = leaf.certificate_file,
//                                                 .key_file = leaf.key_file,
//                                                 .arguments = {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}});
//   connect_to(server.endpoint());                          // "127.0.0.1:40889"
//   EXPECT_EQ(server.completed_handshakes(), 0u);
//   EXPECT_EQ(server.output().find("marker"), std::string::npos);
//
// s_server serves one connection at a time, in order; enough for a pool of one. type_line()
// drives it as its terminal would ("r": renegotiate).
#pragma once

#include "demo/child_process.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::testing {

struct OpenSslServerOptions {
  std::filesystem::path certificate_file{};  // PEM, the leaf (-cert)
  std::filesystem::path key_file{};          // PEM (-key)
  // PEM intermediates sent after the leaf (-cert_chain); empty: the server sends its leaf alone.
  std::filesystem::path chain_file{};
  // More s_server arguments: protocol and suite limits, e.g. {"-tls1_2", "-cipher", "AES128-SHA"}.
  std::vector<std::string> arguments{};
};

class OpenSslServer {
 public:
  // True when /usr/bin/openssl is present and executable; tests skip otherwise.
  static bool available();

  // Starts s_server on 127.0.0.1 port 0 and returns once it reports the port it listens on.
  // Throws std::runtime_error, with s_server's output, if it exits or does not listen within 10 s.
  explicit OpenSslServer(OpenSslServerOptions options);
  // SIGTERM, SIGKILL to the process group after 2 s; then removes the temporary directory.
  ~OpenSslServer();

  OpenSslServer(const OpenSslServer&) = delete;
  OpenSslServer& operator=(const OpenSslServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string endpoint() const;  // "127.0.0.1:<port>"

  // Everything s_server wrote to its standard output so far: its notes on each connection
  // ("CIPHER is ...", "ERROR", "CONNECTION CLOSED") and the application bytes it received.
  std::string output() const;
  // Handshakes s_server completed (it prints "CIPHER is <suite>" after each).
  std::size_t completed_handshakes() const;
  // Polls output() until it contains `text` or `limit` passes.
  bool wait_for_output(std::string_view text, std::chrono::milliseconds limit) const;
  // Standard output and error, for failure messages.
  std::string diagnostics() const;

  // Types a line on s_server's terminal (its standard input): "r" asks the client to
  // renegotiate (TLS 1.2), "Q" ends the server, any other line is sent to the client.
  void type_line(std::string_view line);

 private:
  demo::TemporaryDirectory directory_;  // declared first: removed only after s_server is gone
  int stdin_writer_ = -1;         // keeps s_server's standard input open (see the constructor)
  std::uint16_t port_ = 0;
  demo::ChildProcess process_;
};

}  // namespace securechannel::testing

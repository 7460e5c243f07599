// The real nginx (Debian nginx-light, /usr/sbin/nginx) as a local HTTPS (or plain HTTP) upstream, for tests
// and benchmarks that must hold up against a production server rather than our own fixture:
// its keep-alive timeout, HTTP/2, connection limits and memory use. It runs as a child process
// with every path (config, logs, pid, temp dirs) in a private temporary directory.
//
//   if (!securechannel::demo::NginxServer::available()) GTEST_SKIP() << "no nginx";
//   auto ca = securechannel::demo::CertificateAuthority::create();
//   auto cert = ca.issue("nginx");
//   securechannel::demo::NginxServer nginx({.certificate_file = cert.certificate_file,
//                                           .key_file = cert.key_file,
//                                           .keepalive_timeout_seconds = 2});
//   // GET https://<nginx.endpoint()>/      -> 200 "hello\n"
//   // GET https://<nginx.endpoint()>/close -> 200, then "Connection: close"
//   // With .generated_file_bytes = N: GET /big -> N bytes, byte i == generated_file_byte(i);
//   //   GET /slow -> the same file at 1 KiB/s (a response that does not finish in time).
//   //   GET /gzip -> the same file gzip-compressed when asked (chunked on HTTP/1.1, with a
//   //   trailer "X-Served-By: nginx").
//   // PUT /upload/<name> -> 201, the body stored as document_root() / "upload" / <name>.
#pragma once

#include "demo/child_process.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace securechannel::demo {

struct NginxOptions {
  std::filesystem::path certificate_file{};  // PEM, readable by nginx workers
  std::filesystem::path key_file{};          // PEM, readable by nginx workers
  int keepalive_timeout_seconds = 75;      // nginx's default; tests lower it to see idle closes
  int worker_processes = 1;
  int worker_connections = 4096;
  bool http2 = true;                       // offer h2 by ALPN next to http/1.1
  // Plain HTTP, no TLS (the certificate files are not needed): HTTP/1.1, or with http2 HTTP/2
  // with prior knowledge only (h2c).
  bool plain = false;
  std::string ssl_protocols = "TLSv1.2 TLSv1.3";
  // Requests per connection before nginx closes it (HTTP/2: sends GOAWAY after the Nth stream;
  // nginx 1.22 replaced http2_max_requests by keepalive_requests). 0 keeps the default, 1000000.
  int max_requests_per_connection = 0;
  int http2_max_concurrent_streams = 0;  // 0: nginx's default, 128
  std::size_t generated_file_bytes = 0;  // > 0: writes the file served at /big and /slow
};

// The byte at `offset` of the file served at /big: a pattern with a period (251, prime) that
// no power-of-two frame or buffer size divides, so shifted or repeated chunks are detected.
inline char generated_file_byte(std::size_t offset) { return static_cast<char>('!' + offset % 251 % 90); }

class NginxServer {
 public:
  // True when the nginx binary is present and executable; tests skip otherwise.
  static bool available();

  // Starts nginx on 127.0.0.1 with a port picked at run time, and returns once it accepts TCP
  // connections. Throws std::runtime_error, with nginx's error log, if it does not come up
  // within about 10 s.
  explicit NginxServer(NginxOptions options);
  // Graceful stop (SIGQUIT), SIGKILL to the process group after about 5 s, then removes the
  // temporary directory.
  ~NginxServer();

  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  std::uint16_t port() const;
  bool plain() const { return options_.plain; }  // no TLS: http://
  std::string endpoint() const;  // "127.0.0.1:<port>"
  pid_t pid() const;             // the master process
  std::filesystem::path error_log() const;
  // The `root` of the server: /big is generated_file_bytes long, PUT bodies land in upload/.
  std::filesystem::path document_root() const;

 private:
  // Writes nginx.conf for `port`, starts nginx and waits for it. False when the port was
  // taken meanwhile (worth another try); throws on any other failure.
  bool try_start(std::uint16_t port);
  std::string diagnostics() const;  // error log and stderr, for exception messages
  void stop() noexcept;

  NginxOptions options_;
  TemporaryDirectory directory_;  // declared before process_: removed only after nginx is gone
  std::uint16_t port_ = 0;
  ChildProcess process_;  // the master process
};

}  // namespace securechannel::demo

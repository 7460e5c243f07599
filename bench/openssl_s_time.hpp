// The reference client of the handshake benchmark: `openssl s_time -new` (full handshakes, one
// at a time, each connection closed right after) run as a child process, and `openssl
// s_client -brief` once, to show which protocol, cipher suite and group the openssl CLI
// negotiates with the same server.
//
//   STimeResult reference = run_openssl_s_time({.openssl = "openssl", .host_port = "127.0.0.1:8443",
//                                               .ca_file = ca, .seconds = 5});
//   double per_connection = reference.wall_seconds / reference.connections;
#pragma once

#include <cstddef>
#include <string>

namespace securechannel::bench {

struct OpensslCommand {
  std::string openssl = "openssl";  // the binary (PATH lookup)
  std::string host_port{};          // "127.0.0.1:8443"
  std::string ca_file{};
  int seconds = 5;                  // s_time -time
};

struct STimeResult {
  std::string command{};
  std::size_t connections = 0;  // "N connections in T real seconds"
  long real_seconds = 0;        // s_time's own wall time, whole seconds only (time(NULL))
  double user_seconds = 0;      // s_time's own figure: the client's user CPU time
  double wall_seconds = 0;      // measured here around the child: start to exit
  double cpu_seconds = 0;       // the child's user + system CPU time (getrusage)
  std::string error{};          // empty on success; else what went wrong and s_time's output
};

// Runs `openssl s_time -connect <host_port> -new -time <seconds> -CAfile <ca> -verify 2` under
// timeout(1), so it ends even if the server stops answering.
STimeResult run_openssl_s_time(const OpensslCommand& command);

struct NegotiatedParameters {
  std::string protocol{};  // "TLSv1.3"
  std::string cipher{};    // "TLS_AES_256_GCM_SHA384"
  std::string group{};     // "X25519"
  std::string error{};
};

// One `openssl s_client -brief` connection: what the openssl CLI's defaults negotiate.
NegotiatedParameters describe_openssl_client(const OpensslCommand& command);

}  // namespace securechannel::bench

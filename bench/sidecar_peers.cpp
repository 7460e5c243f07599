#include "sidecar_peers.hpp"

#include "demo/loopback_port.hpp"
#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace securechannel::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* kHaproxy = "/usr/sbin/haproxy";
constexpr const char* kStunnel = "/usr/bin/stunnel4";

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

// Neither peer can bind port 0 and tell us the port, so: ports that were free a moment ago, the
// peer started on them, and another try with other ports when it exits at once (a port was
// taken meanwhile). Returns once every port accepts; throws with `log`'s text otherwise.
template <std::size_t N, class Start>
demo::ChildProcess start_on_free_ports(std::array<std::uint16_t, N>& ports, const std::string& name,
                                          const fs::path& log, Start start) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    for (std::size_t i = 0; i < N; ++i) {
      do {
        ports[i] = demo::pick_free_tcp_port();
      } while (std::find(ports.begin(), ports.begin() + static_cast<std::ptrdiff_t>(i), ports[i]) !=
               ports.begin() + static_cast<std::ptrdiff_t>(i));
    }
    demo::ChildProcess process = start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && process.is_running()) {
      if (std::all_of(ports.begin(), ports.end(), accepts_connections)) return process;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (process.is_running()) break;  // up but not listening: not a port race
  }
  throw std::runtime_error(name + " did not start:\n" + demo::read_text_file(log));
}

}  // namespace

SidecarUpstream::SidecarUpstream(std::size_t big_file_bytes)
    : authority(demo::CertificateAuthority::create("securechannel sidecar bench CA")),
      certificate(authority.issue("nginx")),
      nginx(demo::NginxOptions{.certificate_file = certificate.certificate_file,
                                  .key_file = certificate.key_file,
                                  .worker_connections = 4096,
                                  .http2 = true,
                                  .ssl_protocols = "TLSv1.3",
                                  .generated_file_bytes = big_file_bytes}) {}

std::string scpool_config(const std::string& upstream, const std::string& ca_file, std::size_t h1_connections) {
  const auto pool = [&](const std::string& name, const std::string& limits, const std::string& alpn,
                        const std::string& mode) {
    return "[[pool]]\nnamespace = \"" + name + "\"\nendpoints = [\"" + upstream + "\"]\n" + limits +
           "[pool.tls]\nsystem_trust_store = false\nca_file = \"" + ca_file + "\"\nalpn = [" + alpn +
           "]\n[[pool.listener]]\nmode = \"" + mode + "\"\nlisten = \"127.0.0.1:0\"\n\n";
  };
  // Warnings only: stunnel logs errors only, haproxy nothing.
  return "[monitor]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"warn\"\n\n" +
         pool("sidecar_h2", "max_connections = 4\nmin_idle = 1\n", "\"h2\", \"http/1.1\"", "http") +
         pool("sidecar_h1", "max_connections = " + std::to_string(h1_connections) + "\n", "\"http/1.1\"", "http") +
         pool("sidecar_tcp", "max_connections = 64\nmin_idle = 8\n", "\"http/1.1\"", "tcp");
}

std::string scpool_listener(const std::string& summary, const std::string& pool_namespace, const std::string& mode) {
  const auto pool_line = summary.find("pool " + pool_namespace + ":");
  if (pool_line == std::string::npos) return "";
  // The pool's own lines: up to the next "pool " line or the monitoring part.
  const auto next = summary.find("\npool ", pool_line + 1);
  const std::string lines = summary.substr(pool_line, next == std::string::npos ? std::string::npos : next - pool_line);
  std::smatch match;
  if (!std::regex_search(lines, match, std::regex("  " + mode + " listener (?:http://)?([0-9.]+:[0-9]+) "))) return "";
  return match[1].str();
}

bool HaproxyPeer::available() { return ::access(kHaproxy, X_OK) == 0; }

HaproxyPeer::HaproxyPeer(const fs::path& directory, const std::string& upstream, const std::string& ca_file) {
  const fs::path config_file = directory / "haproxy.cfg";
  const fs::path log = directory / "haproxy.log";
  std::array<std::uint16_t, 2> ports{};
  process_ = start_on_free_ports(ports, "haproxy", log, [&] {
    h2_port_ = ports[0];
    h1_port_ = ports[1];
    const auto backend = [&](const std::string& name, const std::string& alpn) {
      return "backend " + name + "\n  server s1 " + upstream + " ssl verify required ca-file " + ca_file +
             " verifyhost localhost alpn " + alpn + "\n";
    };
    std::ofstream(config_file, std::ios::trunc)
        << "global\n  nbthread 1\n  maxconn 4096\n"
        << "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        << "  http-reuse always\n"
        << "frontend h2_front\n  bind 127.0.0.1:" << h2_port_ << "\n  default_backend nginx_h2\n"
        << "frontend h1_front\n  bind 127.0.0.1:" << h1_port_ << "\n  default_backend nginx_h1\n"
        << backend("nginx_h2", "h2,http/1.1") << backend("nginx_h1", "http/1.1");
    // -db: stay in the foreground, one process (no master-worker).
    return demo::ChildProcess({kHaproxy, "-db", "-f", config_file.string()}, log, log);
  });
}

HaproxyPeer::~HaproxyPeer() { process_.stop(SIGTERM, std::chrono::seconds(2)); }

bool StunnelPeer::available() { return ::access(kStunnel, X_OK) == 0; }

StunnelPeer::StunnelPeer(const fs::path& directory, const std::string& upstream, const std::string& ca_file) {
  const fs::path config_file = directory / "stunnel.conf";
  const fs::path log = directory / "stunnel.log";
  std::array<std::uint16_t, 1> ports{};
  process_ = start_on_free_ports(ports, "stunnel", log, [&] {
    port_ = ports[0];
    std::ofstream(config_file, std::ios::trunc)
        << "foreground = yes\npid =\ndebug = 3\n"
        << "[nginx]\nclient = yes\naccept = 127.0.0.1:" << port_ << "\nconnect = " << upstream << "\n"
        << "CAfile = " << ca_file << "\nverifyChain = yes\ncheckIP = 127.0.0.1\n"
        // Close at once when a side closes, as scpool does, rather than wait for close_notify.
        << "TIMEOUTclose = 0\n";
    return demo::ChildProcess({kStunnel, config_file.string()}, log, log);
  });
}

StunnelPeer::~StunnelPeer() { process_.stop(SIGTERM, std::chrono::seconds(2)); }

std::optional<std::string> program_version(const std::string& path, const std::string& flag,
                                           const std::string& starting_with) {
  if (::access(path.c_str(), X_OK) != 0) return std::nullopt;
  const auto run = demo::run_to_completion({path, flag}, "", std::chrono::seconds(10));
  std::istringstream lines(run.standard_output + "\n" + run.standard_error);
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find(starting_with);
    if (at != std::string::npos) return line.substr(at);
  }
  return std::nullopt;
}

}  // namespace securechannel::bench

// The processes of the sidecar benchmark: one nginx upstream and the three proxies placed in
// front of it — `scpool serve`, haproxy and stunnel — each started here on loopback with ports
// picked at run time, each verifying nginx's certificate against the CA made at start.
//
//   SidecarUpstream upstream(64 << 20);                        // nginx; GET /big is 64 MiB
//   HaproxyPeer haproxy(directory, upstream.nginx.endpoint(), upstream.ca_file());
//   StunnelPeer stunnel(directory, upstream.nginx.endpoint(), upstream.ca_file());
//   demo::ServeProcess scpool(binary, directory, scpool_config(upstream));
//   // haproxy.h2_address(), stunnel.address(), scpool.listener("http"): "127.0.0.1:PORT"
//   // haproxy.pid(), stunnel.pid(), scpool.pid(): whose CPU a row charges to the proxy
#pragma once

#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "demo/nginx_server.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace securechannel::bench {

// nginx with 1 worker, TLS 1.3 only, h2 and http/1.1 by ALPN: GET / answers "hello\n", GET /big
// the generated file of `big_file_bytes`.
class SidecarUpstream {
 public:
  explicit SidecarUpstream(std::size_t big_file_bytes);
  std::string ca_file() const { return authority.ca_certificate_file().string(); }

  // In this order on purpose: nginx stops before the certificate files disappear.
  demo::CertificateAuthority authority;
  demo::IssuedCertificate certificate;
  demo::NginxServer nginx;
};

// The file `scpool serve` runs on: three pools to the same nginx, named for their rows.
//   sidecar_h2  ALPN h2, http/1.1; max_connections 4 (HTTP/2 multiplexes); an http listener
//   sidecar_h1  ALPN http/1.1;     max_connections 64 (one request per connection); an http listener
//   sidecar_tcp ALPN http/1.1;     min_idle 8 warm connections; a tcp listener
std::string scpool_config(const std::string& upstream, const std::string& ca_file, std::size_t h1_connections);

// The address the first `mode` listener of pool `pool_namespace` printed in the summary, "" when none.
std::string scpool_listener(const std::string& summary, const std::string& pool_namespace, const std::string& mode);

// haproxy (Debian's 2.6) in the foreground, `nbthread 1`, two HTTP frontends on plain loopback:
// one whose backend offers h2 by ALPN, one http/1.1 only; `http-reuse always`, `verify required`
// with the CA file and `verifyhost localhost`.
class HaproxyPeer {
 public:
  static bool available();
  // Throws std::runtime_error, with haproxy's output, when it does not come up in ~10 s.
  HaproxyPeer(const std::filesystem::path& directory, const std::string& upstream, const std::string& ca_file);
  ~HaproxyPeer();
  HaproxyPeer(const HaproxyPeer&) = delete;
  HaproxyPeer& operator=(const HaproxyPeer&) = delete;

  std::string h2_address() const { return "127.0.0.1:" + std::to_string(h2_port_); }
  std::string h1_address() const { return "127.0.0.1:" + std::to_string(h1_port_); }
  pid_t pid() const { return process_.pid(); }

 private:
  demo::ChildProcess process_;
  std::uint16_t h2_port_ = 0;
  std::uint16_t h1_port_ = 0;
};

// stunnel (Debian's 5.68) in client mode, in the foreground: accepts plain TCP on loopback and
// opens a TLS connection to nginx for each one (`verifyChain`, CAfile, `checkIP 127.0.0.1`; its
// own session cache resumes TLS sessions). Logs errors only, as scpool here logs warnings only.
class StunnelPeer {
 public:
  static bool available();
  StunnelPeer(const std::filesystem::path& directory, const std::string& upstream, const std::string& ca_file);
  ~StunnelPeer();
  StunnelPeer(const StunnelPeer&) = delete;
  StunnelPeer& operator=(const StunnelPeer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_.pid(); }

 private:
  demo::ChildProcess process_;
  std::uint16_t port_ = 0;
};

// The first line of `path flag`'s output (stdout, then stderr) that contains `starting_with`,
// from there on: program_version("/usr/sbin/haproxy", "-v", "HAProxy version") is "HAProxy
// version 2.6.12-1+deb12u4 ...". nullopt when the program is not installed.
std::optional<std::string> program_version(const std::string& path, const std::string& flag,
                                           const std::string& starting_with);

}  // namespace securechannel::bench

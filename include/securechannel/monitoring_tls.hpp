// MonitoringTls: the certificate the monitoring server presents when it serves HTTPS. Loaded once
// from PEM files, with every failure named; a loaded value is immutable and can be shared by
// any number of connections, so a reload (MonitoringServer::reload_tls) swaps in a new one for
// new connections while open ones keep theirs.
//
//   std::optional<securechannel::ConfigError> error;
//   auto tls = securechannel::MonitoringTls::load("monitor.crt", "monitor.key", error);
//   if (!tls) fail(error->what());  // "key_file: '/etc/scpool/monitor.key' holds no PEM private key (...)"
//   options.tls = tls;      // MonitoringServerOptions: the server now speaks HTTPS only
//
// TLS 1.2 and 1.3 only, OpenSSL's default cipher lists, no client certificates asked for (the
// X-Auth-Token authenticates clients), ALPN http/1.1.
#pragma once

#include "securechannel/config_error.hpp"

#include <memory>
#include <optional>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace securechannel {

class MonitoringTls {
  struct PrivateTag {};

 public:
  // `certificate_file`: PEM, the server's certificate first, then any intermediates.
  // `key_file`: its PEM private key, not encrypted (a daemon starts unattended); read into locked
  // memory and wiped once OpenSSL holds it. Null with `error` naming the field
  // ("certificate_file", "key_file"), the file and OpenSSL's reason.
  static std::shared_ptr<MonitoringTls> load(const std::string& certificate_file, const std::string& key_file,
                                             std::optional<ConfigError>& error);

  explicit MonitoringTls(PrivateTag);
  ~MonitoringTls();
  MonitoringTls(const MonitoringTls&) = delete;
  MonitoringTls& operator=(const MonitoringTls&) = delete;

  // What the log says about it: "CN=monitor.example, expires 2027-12-04".
  const std::string& summary() const noexcept { return summary_; }
  // For the server's connections. OpenSSL makes connections from one context on many threads.
  boost::asio::ssl::context& context() noexcept { return *context_; }

 private:
  std::unique_ptr<boost::asio::ssl::context> context_;
  std::string summary_;
};

}  // namespace securechannel

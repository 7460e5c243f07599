// The running daemon (`scpool serve`, docs/DAEMON.md): the pools of its file, an HttpClient for
// each pool with an http listener, the sidecar listeners, and one monitoring server in front of
// every pool. It owns their lifetimes and the order in which they start and stop; the command
// (apps/scpool/serve_command.cpp) owns the process: flags, signals, what is printed.
//
//   boost::asio::io_context io;
//   daemon::Daemon daemon(io, daemon::load_daemon_config("scpool.toml", daemon::process_environment()));
//   daemon.start();                  // accept, warm up, serve monitoring
//   fmt::print("{}", daemon.describe());
//   ... SIGHUP:  daemon.reload(load_daemon_config(...));
//   ... SIGTERM: daemon.async_stop([&] { io.stop(); });
//   io.run();
//
// Not thread-safe: call its members from one thread (the io_context's, or before io.run()).
#pragma once

#include "daemon/daemon_config.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace securechannel {
class HttpClient;
class MonitoredPools;
class MonitoringServer;
class SecureChannelPool;
}  // namespace securechannel

namespace securechannel::monitor {
class HistorySampler;
}

namespace securechannel::daemon {

class TcpSpliceListener;
class HttpForwardListener;

class Daemon {
 public:
  // Builds every pool (reading its TLS files) and binds the monitoring server and every
  // listener, so that a mistake shows before anything is served. Throws ConfigErrors for what
  // the pools refuse (a CA file that holds no certificate, ...), and ConfigError naming the
  // listener or [monitor] for an address that cannot be bound.
  Daemon(boost::asio::io_context& io, DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the pools' maintenance and warm-up, then accepting on every listener and the
  // monitoring server.
  void start();

  // Applies what can change live from `next` (each pool's TLS options, with its files read
  // again; the log's format and level) and logs, one line each, what needs a restart. Returns
  // false when a pool refused its new TLS material (that pool keeps its previous material).
  bool reload(const DaemonConfig& next);

  // Stops accepting; lets exchanges in flight finish within drain_grace (then cuts them);
  // shuts the pools down; stops the monitoring server. `done` is called once, on the io_context.
  void async_stop(std::function<void()> done);

  // What the daemon serves, one line each: pools, listeners (with the ports picked for port 0),
  // the monitoring URLs.
  std::string describe() const;
  std::string monitoring_base_url() const;
  const DaemonConfig& config() const noexcept { return config_; }

 private:
  struct RunningPool;

  void build_pool(DaemonPoolConfig& entry);
  void open_listeners(RunningPool& running);
  // SIGHUP: new limits for the listeners that keep their mode and address; false if one refused.
  bool reload_listeners(RunningPool& running, const DaemonPoolConfig& next);
  void open_monitor();
  void finish_stop();

  boost::asio::io_context& io_;
  DaemonConfig config_;
  std::shared_ptr<MonitoredPools> monitored_;
  std::shared_ptr<MonitoringServer> monitor_;
  std::shared_ptr<monitor::HistorySampler> history_sampler_;  // the dashboard's charts
  std::vector<std::unique_ptr<RunningPool>> pools_;
  std::function<void()> stopped_;
  std::size_t stops_pending_ = 0;
  bool stopping_ = false;
};

}  // namespace securechannel::daemon

#include "serve_command.hpp"

#include "daemon/daemon.hpp"
#include "daemon/daemon_config.hpp"
#include "daemon/service_notify.hpp"
#include "securechannel/pool_config_file.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

namespace scpool {
namespace {

namespace asio = boost::asio;
using namespace securechannel;

// Flags come last: flag > environment > file > default.
daemon::DaemonConfig load(const ServeOptions& options) {
  daemon::DaemonConfig config = daemon::load_daemon_config(options.config_file, daemon::process_environment());
  std::vector<ConfigError> problems;
  if (!options.monitor_listen.empty()) {
    std::string problem;
    if (!daemon::parse_listen_address(options.monitor_listen, config.monitor.host, config.monitor.port, problem)) {
      problems.emplace_back("--monitor-listen", problem);
    }
  }
  if (options.log_format == "json") config.log.format = daemon::LogFormat::json;
  if (options.log_format == "text") config.log.format = daemon::LogFormat::text;
  if (!options.log_level.empty()) {
    const auto level = spdlog::level::from_str(options.log_level);
    if (level == spdlog::level::off && options.log_level != "off") {
      problems.emplace_back("--log-level", "'" + options.log_level + "' is not one of trace, debug, info, warn, error, off");
    } else {
      config.log.level = level;
    }
  }
  if (!problems.empty()) throw ConfigErrors(std::move(problems));
  return config;
}

}  // namespace

int run_serve(const ServeOptions& given) {
  ServeOptions options = given;
  if (options.config_file.empty()) {
    if (const char* from_environment = std::getenv("SCPOOL_CONFIG")) options.config_file = from_environment;
  }
  if (options.config_file.empty()) {
    fmt::print(stderr, "scpool serve: no config file: give --config FILE or set SCPOOL_CONFIG\n");
    return 2;
  }
  std::optional<daemon::DaemonConfig> config;
  try {
    config = load(options);
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool serve: {}:\n{}\n", options.config_file, error.what());
    return 2;
  }
  daemon::configure_logging(config->log);

  asio::io_context io(1);
  std::optional<daemon::Daemon> running;
  try {
    running.emplace(io, std::move(*config));
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool serve: {}:\n{}\n", options.config_file, error.what());
    return 2;
  }
  // Before the daemon says it is up: a SIGHUP or SIGTERM sent as soon as the summary or READY=1
  // appears must find its handler, not the default action that ends the process.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  running->start();
  fmt::print("scpool serve: {} (pid {})\n{}", options.config_file, ::getpid(), running->describe());
  std::fflush(stdout);  // seen at once through a pipe or a file, as a supervisor reads it
  daemon::notify_service_manager("READY=1");

  bool stopped_cleanly = false;
  asio::steady_timer stop_deadline(io);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code error, int number) {
    if (error) return;
    if (number == SIGHUP) {
      daemon::notify_service_manager("RELOADING=1");
      try {
        const daemon::DaemonConfig next = load(options);
        if (running->reload(next)) {
          spdlog::info("reload: {} read again", options.config_file);
        } else {
          spdlog::warn("reload: {} read again; some changes were refused (above)", options.config_file);
        }
      } catch (const ConfigError& problem) {
        spdlog::error("reload refused, the running configuration stays: {}", problem.what());
      }
      daemon::notify_service_manager("READY=1");
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("{}: stopping; exchanges in flight have {} ms to finish", number == SIGTERM ? "SIGTERM" : "SIGINT",
                 running->config().drain_grace.count());
    daemon::notify_service_manager("STOPPING=1");
    // A second SIGTERM/SIGINT while draining is not waited for here: the deadline below bounds
    // the stop in any case.
    stop_deadline.expires_after(running->config().drain_grace + std::chrono::seconds(5));
    stop_deadline.async_wait([&](boost::system::error_code timer_error) {
      if (timer_error) return;
      spdlog::error("stop did not finish within drain_grace + 5 s; exiting");
      io.stop();
    });
    running->async_stop([&] {
      stopped_cleanly = true;
      stop_deadline.cancel();
      signals.cancel();
      io.stop();
    });
  };
  signals.async_wait(on_signal);
  io.run();
  spdlog::info("stopped {}", stopped_cleanly ? "cleanly" : "at the deadline");
  spdlog::default_logger()->flush();
  return stopped_cleanly ? 0 : 1;
}

}  // namespace scpool

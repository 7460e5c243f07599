// Where a pool's own log lines go. By default to spdlog's default logger, as
// "securechannel: [#42] connect to relay.example.com:443 failed: ...". A program that logs
// structured lines (the daemon's JSON logs) sets PoolConfig::log_sink and gets each line with
// its pool and connection as fields:
//
//   config.log_sink = [](const PoolLogLine& line) {
//     my_log(line.level, {{"pool", line.pool}, {"connection_id", line.connection_id}}, line.message);
//   };
//
// The sink is called on the thread that noticed the event (an io thread of the pool's executor,
// or the caller of reload_tls()/update_limits()), never while the pool's lock is held (it may
// call back into the pool), and must not throw.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace securechannel {

enum class LogLevel { debug, info, warn, error };

struct PoolLogLine {
  LogLevel level = LogLevel::info;
  std::string_view pool;      // the pool's metric_namespace
  std::string_view endpoint;  // host:port of the pool
  std::uint64_t connection_id = 0;  // 0: the line is about the pool, not one connection
  std::string_view message;   // complete on its own: it names the endpoint where that matters
};

using PoolLogSink = std::function<void(const PoolLogLine&)>;

// The default sink.
void log_to_spdlog(const PoolLogLine& line);

}  // namespace securechannel

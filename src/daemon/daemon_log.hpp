// The daemon's log: lines on stderr, as text for a terminal or as one JSON object per line for a
// collector (journald, Loki, Kubernetes). Every line about a pool or a connection carries the
// pool's namespace and the connection id as fields, so a collector can filter on them:
//
//   daemon::configure_logging({daemon::LogFormat::json, spdlog::level::info});
//   daemon::log_connection(spdlog::level::warn, "relay", 42, "upstream closed mid-response");
//   // {"time":"2026-12-04T07:01:02.345Z","level":"warning","pool":"relay","connection_id":42,
//   //  "message":"upstream closed mid-response"}
#pragma once

#include "securechannel/pool_log.hpp"

#include <spdlog/common.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace securechannel::daemon {

enum class LogFormat {
  text,  // "2026-12-04 07:01:02.345 warning [relay #42] upstream closed mid-response"
  json,  // one object per line: time, level, pool, connection_id, message
};

struct LogSettings {
  LogFormat format = LogFormat::text;
  spdlog::level::level_enum level = spdlog::level::info;
};

// Replaces spdlog's default logger (which the library writes to) with one on stderr in `format`.
void configure_logging(const LogSettings& settings);

// A line about a pool (connection_id 0: about the pool as a whole).
void log_pool(spdlog::level::level_enum level, std::string_view pool, std::uint64_t connection_id,
              std::string_view message);
inline void log_connection(spdlog::level::level_enum level, std::string_view pool, std::uint64_t connection_id,
                           std::string_view message) {
  log_pool(level, pool, connection_id, message);
}

// PoolConfig::log_sink of the daemon's pools: the library's lines get the same fields.
void log_pool_line(const PoolLogLine& line);

// `text` with JSON string escaping (quotes, backslashes, control characters), without the quotes.
std::string json_escaped(std::string_view text);

}  // namespace securechannel::daemon

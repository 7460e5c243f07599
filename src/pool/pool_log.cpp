#include "securechannel/pool_log.hpp"

#include <spdlog/spdlog.h>

namespace securechannel {

namespace {

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void log_to_spdlog(const PoolLogLine& line) {
  if (line.connection_id == 0) {
    spdlog::log(spdlog_level(line.level), "securechannel: {}", line.message);
  } else {
    spdlog::log(spdlog_level(line.level), "securechannel: [#{}] {}", line.connection_id, line.message);
  }
}

}  // namespace securechannel

#include "daemon/daemon_log.hpp"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace securechannel::daemon {
namespace {

// %j: the message, escaped for a JSON string. The library's own lines arrive as plain messages;
// the daemon's pool lines arrive pre-formatted as JSON fields (see log_pool) and are marked so.
constexpr std::string_view fields_mark = "\x1f";

class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    std::string_view text(message.payload.data(), message.payload.size());
    if (text.starts_with(fields_mark)) {
      // Pool fields first, then the message: `"pool":"relay","connection_id":42,"message":"..."`.
      text.remove_prefix(fields_mark.size());
      out.append(text.data(), text.data() + text.size());
      return;
    }
    const std::string escaped = "\"message\":\"" + json_escaped(text) + "\"";
    out.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

LogFormat current_format = LogFormat::text;

}  // namespace

std::string json_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out;
}

void configure_logging(const LogSettings& settings) {
  // stderr_sink_mt, not the colour sink: a collector must not receive escape codes.
  auto logger = std::make_shared<spdlog::logger>("scpool", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (settings.format == LogFormat::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('j');
    formatter->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%j})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  }
  logger->set_level(settings.level);
  logger->flush_on(spdlog::level::warn);
  current_format = settings.format;
  spdlog::set_default_logger(std::move(logger));
}

void log_pool(spdlog::level::level_enum level, std::string_view pool, std::uint64_t connection_id,
              std::string_view message) {
  if (!spdlog::should_log(level)) return;
  if (current_format == LogFormat::json) {
    std::string fields = std::string(fields_mark) + "\"pool\":\"" + json_escaped(pool) + "\"";
    if (connection_id != 0) fields += ",\"connection_id\":" + std::to_string(connection_id);
    fields += ",\"message\":\"" + json_escaped(message) + "\"";
    spdlog::log(level, "{}", fields);
  } else if (connection_id != 0) {
    spdlog::log(level, "[{} #{}] {}", pool, connection_id, message);
  } else {
    spdlog::log(level, "[{}] {}", pool, message);
  }
}

void log_pool_line(const PoolLogLine& line) {
  constexpr spdlog::level::level_enum levels[] = {spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                                                  spdlog::level::err};
  log_pool(levels[static_cast<int>(line.level)], line.pool, line.connection_id, line.message);
}

}  // namespace securechannel::daemon

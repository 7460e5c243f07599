// The daemon's file with an environment override: any text either gives a configuration whose
// every pool has an endpoint and whose listeners have a host, or ConfigErrors each naming a key;
// nothing else escapes (no other exception, no crash, no hang). The first line of the input, if
// it starts with "SCPOOL_", is taken as one NAME=value environment variable, so the overrides are
// fuzzed too. Relative paths point into a folder that does not exist.
#include "daemon/daemon_config.hpp"
#include "securechannel/pool_config_file.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  securechannel::daemon::Environment environment;
  if (input.starts_with("SCPOOL_")) {
    const auto line_end = input.find('\n');
    const std::string_view line = input.substr(0, line_end);
    const auto equals = line.find('=');
    if (equals != std::string_view::npos) {
      environment.emplace(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
    }
    input = line_end == std::string_view::npos ? std::string_view() : input.substr(line_end + 1);
  }
  try {
    const auto config = securechannel::daemon::parse_daemon_config(input, "fuzz.toml", "/nonexistent-fuzz-directory",
                                                                   environment);
    for (const auto& pool : config.pools) {
      if (pool.endpoints.empty() || pool.pool.host.empty()) __builtin_trap();
      for (const auto& listener : pool.listeners) {
        if (listener.host.empty()) __builtin_trap();
      }
    }
  } catch (const securechannel::ConfigErrors& errors) {
    if (errors.errors().empty()) __builtin_trap();
    for (const auto& error : errors.errors()) {
      if (error.field().empty()) __builtin_trap();
    }
  } catch (const securechannel::ConfigError& error) {
    if (error.field().empty()) __builtin_trap();
  }
  return 0;
}

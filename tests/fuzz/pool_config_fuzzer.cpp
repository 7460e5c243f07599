// The TOML pool file: any text either gives validated pools or a ConfigError naming the key;
// nothing else escapes (no other exception, no crash, no hang). Relative paths point into a
// folder that does not exist, so no file of the machine is read for them.
#include "securechannel/pool_config_file.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const auto pools = securechannel::parse_pool_config(input, "fuzz.toml", "/nonexistent-fuzz-directory");
    for (const auto& pool : pools) {
      if (pool.endpoint.empty() || pool.host.empty() || pool.port.empty()) __builtin_trap();
    }
  } catch (const securechannel::ConfigError& error) {
    if (error.field().empty()) __builtin_trap();
  }
  return 0;
}

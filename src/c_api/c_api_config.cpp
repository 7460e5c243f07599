// sc_pool_config_*: the configuration is kept as the keys of a TOML pool file and read by the
// pool-file parser (config/pool_config_file), so the C ABI knows every key the file knows, with
// the same checks and the same messages.
#include "c_api/c_api_config.hpp"

#include "c_api/c_api_error.hpp"
#include "c_api/c_api_handles.hpp"
#include "securechannel/pool_config_file.hpp"

#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <string_view>

namespace securechannel::c_api {
namespace {

constexpr std::string_view tls_prefix = "tls.";
constexpr std::int64_t max_io_threads = 64;

// A TOML basic string: quotes, backslashes and control bytes escaped.
std::string toml_string(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", byte);
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

bool is_key_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Checks the arguments every setter shares; SC_OK or the failure.
int check_setter(const sc_pool_config* config, const char* key, sc_error* error) {
  if (config == nullptr || key == nullptr) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "config and key must not be NULL");
  }
  std::string_view name = key;
  if (name.starts_with(tls_prefix)) name.remove_prefix(tls_prefix.size());
  if (!is_key_name(name)) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument",
                "'" + std::string(key) + "' is not a pool key (lower_case names, TLS ones with 'tls.')");
  }
  if (std::string_view(key) == "endpoint") {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "endpoint: given to sc_pool_config_new");
  }
  if (config->from_file) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument",
                std::string(key) + ": this configuration was read from a file; change it there");
  }
  return SC_OK;
}

int record(sc_pool_config* config, const char* key, std::string value, sc_error* error) {
  if (config == nullptr) return check_setter(config, key, error);
  std::lock_guard lock(config->mutex);
  if (const int problem = check_setter(config, key, error)) return problem;
  std::string_view name = key;
  if (name.starts_with(tls_prefix)) {
    name.remove_prefix(tls_prefix.size());
    config->tls_lists.erase(std::string(name));
    config->tls_keys[std::string(name)] = std::move(value);
  } else {
    config->pool_lists.erase(std::string(name));
    config->pool_keys[std::string(name)] = std::move(value);
  }
  return succeed(error);
}

// "pool[0].max_conections: unknown key (sc_pool_config:3:1)" -> "max_conections: unknown key":
// the C caller set keys, it did not write a file.
std::string as_key_message(std::string message) {
  static const std::regex place(R"( \(sc_pool_config:\d+:\d+\))");
  message = std::regex_replace(message, place, "");
  static const std::regex pool_prefix(R"(pool\[0\]\.)");
  return std::regex_replace(message, pool_prefix, "");
}

// Every mistake, "; " between them; `reword` rewrites each (or not).
std::string joined_errors(const ConfigError& failure, std::string (*reword)(std::string)) {
  if (const auto* all = dynamic_cast<const ConfigErrors*>(&failure)) {
    std::string text;
    for (const ConfigError& each : all->errors()) {
      if (!text.empty()) text += "; ";
      text += reword(each.what());
    }
    return text;
  }
  return reword(failure.what());
}

std::string as_written(std::string message) { return message; }

// "tls" set to false: a plain pool (an explicit true is TLS, as the default).
bool plain_pool(const sc_pool_config& config) {
  const auto tls = config.pool_keys.find("tls");
  return tls != config.pool_keys.end() && tls->second == "false";
}

std::string pool_file_text(const sc_pool_config& config) {
  std::string text = "[[pool]]\nendpoint = " + toml_string(config.endpoint) + "\n";
  const bool plain = plain_pool(config);
  const auto write = [&text, plain](const auto& keys, const auto& lists) {
    for (const auto& [key, value] : keys) {
      // `tls = true` is the default, and would clash with the [pool.tls] table written below.
      if (key == "tls" && !plain) continue;
      text += key + " = " + value + "\n";
    }
    for (const auto& [key, values] : lists) {
      text += key + " = [";
      for (std::size_t i = 0; i < values.size(); ++i) text += (i == 0 ? "" : ", ") + values[i];
      text += "]\n";
    }
  };
  write(config.pool_keys, config.pool_lists);
  // `tls = false` (a plain pool) and a [pool.tls] table cannot both be written; pool_config_of
  // has refused TLS keys beside it.
  if (!plain) {
    text += "[pool.tls]\n";
    write(config.tls_keys, config.tls_lists);
  }
  return text;
}

}  // namespace

std::optional<PoolConfig> pool_config_of(const sc_pool_config& config, sc_error* error) {
  std::lock_guard lock(config.mutex);
  if (config.from_file) return config.from_file;
  if (const auto tls = config.pool_keys.find("tls");
      tls != config.pool_keys.end() && tls->second != "true" && tls->second != "false") {
    fail(error, SC_E_CONFIG, "config_error", "tls: must be true or false (sc_pool_config_set_bool), not " + tls->second);
    return std::nullopt;
  }
  if (plain_pool(config) && (!config.tls_keys.empty() || !config.tls_lists.empty())) {
    const std::string first = !config.tls_keys.empty() ? config.tls_keys.begin()->first : config.tls_lists.begin()->first;
    fail(error, SC_E_CONFIG, "config_error",
         "tls." + first + ": a TLS key beside tls (plain TCP when false): remove one of them");
    return std::nullopt;
  }
  try {
    std::vector<PoolConfig> pools =
        parse_pool_config(pool_file_text(config), "sc_pool_config", std::filesystem::current_path().string());
    return std::move(pools.at(0));
  } catch (const ConfigError& failure) {
    fail(error, SC_E_CONFIG, "config_error", joined_errors(failure, as_key_message));
    return std::nullopt;
  }
}

}  // namespace securechannel::c_api

using namespace securechannel::c_api;

extern "C" {

sc_pool_config* sc_pool_config_new(const char* endpoint) {
  if (endpoint == nullptr) return nullptr;
  try {
    auto* config = new sc_pool_config;
    config->endpoint = endpoint;
    return config;
  } catch (...) {
    return nullptr;
  }
}

sc_pool_config* sc_pool_config_load_file(const char* path, const char* pool_namespace, sc_error* error) {
  if (path == nullptr) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "path must not be NULL");
    return nullptr;
  }
  try {
    std::vector<securechannel::PoolConfig> pools = securechannel::load_pool_config_file(path);
    for (securechannel::PoolConfig& pool : pools) {
      const bool chosen = pool_namespace == nullptr ? pools.size() == 1 : pool.metric_namespace == pool_namespace;
      if (!chosen) continue;
      auto* config = new sc_pool_config;
      config->endpoint = pool.endpoint;
      config->from_file = std::move(pool);
      succeed(error);
      return config;
    }
    fail(error, SC_E_CONFIG, "config_error",
         pool_namespace == nullptr
             ? std::string(path) + " holds " + std::to_string(pools.size()) + " pools: name one by its namespace"
             : std::string(path) + " has no pool with namespace '" + pool_namespace + "'");
  } catch (const securechannel::ConfigError& failure) {
    // The file's own messages, with its places: the caller wrote that file.
    fail(error, SC_E_CONFIG, "config_error", joined_errors(failure, as_written));
  } catch (...) {
    fail_with_current_exception(error);
  }
  return nullptr;
}

void sc_pool_config_free(sc_pool_config* config) { delete config; }

int sc_pool_config_set_string(sc_pool_config* config, const char* key, const char* value, sc_error* error) {
  if (value == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "value must not be NULL");
  try {
    return record(config, key, toml_string(value), error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_config_set_int(sc_pool_config* config, const char* key, int64_t value, sc_error* error) {
  try {
    if (config != nullptr && key != nullptr && std::string_view(key) == "io_threads") {
      if (value < 1 || value > max_io_threads) {
        return fail(error, SC_E_CONFIG, "config_error", "io_threads: must be from 1 to 64");
      }
      std::lock_guard lock(config->mutex);
      config->io_threads = static_cast<unsigned>(value);
      return succeed(error);
    }
    return record(config, key, std::to_string(value), error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_config_set_double(sc_pool_config* config, const char* key, double value, sc_error* error) {
  try {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", value);
    std::string number = text;
    // TOML: a float has a fraction or an exponent; "nan" and "inf" are written as such.
    if (number.find_first_of(".eEn") == std::string::npos) number += ".0";
    return record(config, key, std::move(number), error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_config_set_bool(sc_pool_config* config, const char* key, int value, sc_error* error) {
  try {
    return record(config, key, value != 0 ? "true" : "false", error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_config_add_string(sc_pool_config* config, const char* key, const char* value, sc_error* error) {
  if (value == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "value must not be NULL");
  try {
    if (config == nullptr) return check_setter(config, key, error);
    std::lock_guard lock(config->mutex);
    if (const int problem = check_setter(config, key, error)) return problem;
    std::string_view name = key;
    const bool tls = name.starts_with(tls_prefix);
    if (tls) name.remove_prefix(tls_prefix.size());
    (tls ? config->tls_keys : config->pool_keys).erase(std::string(name));
    (tls ? config->tls_lists : config->pool_lists)[std::string(name)].push_back(toml_string(value));
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_config_check(const sc_pool_config* config, sc_error* error) {
  if (config == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "config must not be NULL");
  try {
    if (!pool_config_of(*config, error)) return SC_E_CONFIG;
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

}  // extern "C"

#include "daemon/environment_overrides.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

namespace securechannel::daemon {
namespace {

constexpr std::string_view prefix = "SCPOOL_";

// "relay-backup" → "RELAY_BACKUP": what a namespace looks like in a variable's name.
std::string variable_part(std::string_view name) {
  std::string part;
  for (const char c : name) {
    part += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : '_';
  }
  return part;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The variable's value as a TOML document with one key, `v`, whose source is "env:NAME".
toml::table value_document(const std::string& name, const std::string& value) {
  const std::string source = "env:" + name;
  try {
    return toml::parse("v = " + value, source);
  } catch (const toml::parse_error&) {
    // Not TOML: the text itself. Quoted as a TOML literal string cannot hold a ', so build the value.
  }
  toml::table table;
  std::string escaped;
  for (const char c : value) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // control characters have no place in a setting
    escaped += c;
  }
  try {
    return toml::parse("v = \"" + escaped + "\"", source);
  } catch (const toml::parse_error& error) {
    // Not even a string: bytes that are not UTF-8, most likely.
    throw ConfigError(name, "is not a usable value: " + std::string(error.description()) + " (environment variable " +
                                name + ")");
  }
}

// Sets `key` in `table` to the variable's value, keeping its source (a move keeps it; a copy would not).
void set(toml::table& table, const std::string& key, const std::string& name, const std::string& value) {
  toml::table parsed = value_document(name, value);
  toml::node* node = parsed.get("v");
  node->visit([&](auto& concrete) { table.insert_or_assign(key, std::move(concrete)); });
}

toml::table& subtable(toml::table& parent, std::string_view key) {
  toml::node* node = parent.get(key);
  if (node == nullptr || !node->is_table()) {
    parent.insert_or_assign(key, toml::table{});
    node = parent.get(key);
  }
  return *node->as_table();
}

std::string namespace_of(const toml::table& pool) {
  if (const toml::node* node = pool.get("namespace"); node != nullptr && node->is_string()) {
    return node->as_string()->get();
  }
  return PoolConfig{}.metric_namespace;
}

// The pool whose namespace starts the variable's name (the longest that does), and the rest.
std::optional<std::pair<toml::table*, std::string>> pool_setting(toml::table& root, std::string_view rest) {
  toml::array* pools = root.get("pool") ? root.get("pool")->as_array() : nullptr;
  if (pools == nullptr) return std::nullopt;
  std::optional<std::pair<toml::table*, std::string>> best;
  std::size_t best_length = 0;
  for (auto& entry : *pools) {
    toml::table* pool = entry.as_table();
    if (pool == nullptr) continue;
    const std::string part = variable_part(namespace_of(*pool)) + "_";
    if (rest.starts_with(part) && rest.size() > part.size() && part.size() > best_length) {
      best_length = part.size();
      best.emplace(pool, lower(rest.substr(part.size())));
    }
  }
  return best;
}

}  // namespace

void apply_environment_overrides(toml::table& root, const Environment& environment, config::Document& document) {
  for (const auto& entry : environment) {
    // Named, not a structured binding: the lambda below captures them (clang 14 cannot capture bindings).
    const std::string& name = entry.first;
    const std::string& value = entry.second;
    if (!std::string_view(name).starts_with(prefix) || name == "SCPOOL_CONFIG") continue;
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    document.collect([&] {
      // A name a shell cannot make (a NUL, a control character) is refused without echoing it raw.
      const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      if (!plain) {
        std::string shown;
        for (const char c : name) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
        throw ConfigError(shown, "an SCPOOL_ environment variable's name has only letters, digits and _");
      }
      if (rest == "MONITOR_LISTEN" || rest == "MONITOR_ADDR") return set(subtable(root, "monitor"), "listen", name, value);
      if (rest == "MONITOR_TOKEN_FILE") return set(subtable(root, "monitor"), "token_file", name, value);
      if (rest == "LOG_FORMAT") return set(subtable(root, "log"), "format", name, value);
      if (rest == "LOG_LEVEL") return set(subtable(root, "log"), "level", name, value);
      if (rest == "DRAIN_GRACE") return set(subtable(root, "daemon"), "drain_grace", name, value);
      if (auto setting = pool_setting(root, rest)) {
        auto& [pool, key] = *setting;
        // Whether a pool's bytes are encrypted is the file's to say, in one place: a variable
        // must neither drop a pool's [pool.tls] (pins and all) nor turn a plain one back to TLS.
        if (key == "tls") throw ConfigError(name, "TLS is switched on or off in the file (tls = false), not from the environment");
        const toml::node* tls = pool->get("tls");
        if (key.starts_with("tls_") && tls != nullptr && !tls->is_table()) {
          throw ConfigError(name, "the pool has tls = false in the file: it takes no TLS setting");
        }
        // Every TLS key starts with "tls_" in the variable; none of the pool's own keys does.
        if (key.starts_with("tls_")) return set(subtable(*pool, "tls"), key.substr(4), name, value);
        return set(*pool, key, name, value);
      }
      throw ConfigError(name, "names no setting: SCPOOL_MONITOR_LISTEN, SCPOOL_LOG_FORMAT, ... or "
                              "SCPOOL_<POOL NAMESPACE>_<KEY> for a pool in the file (environment variable " +
                                  name + ")");
    });
  }
}

}  // namespace securechannel::daemon

#include "securechannel/pool_config_file.hpp"

#include "config/duration_text.hpp"
#include "securechannel/secure_buffer.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <initializer_list>
#include <set>

namespace securechannel {
namespace {

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "an unknown TOML type";
}

// Where the problems of one document are reported, and how its relative paths are resolved.
struct Document {
  std::string source_name;
  std::filesystem::path base_directory;

  [[noreturn]] void fail(const std::string& field, const std::string& problem, const toml::source_region& where) const {
    throw ConfigError(field, problem + " (" + source_name + ":" + std::to_string(where.begin.line) + ":" +
                                 std::to_string(where.begin.column) + ")");
  }
};

// Reads the keys of one table into config fields, remembering which it read so that finish()
// can refuse the rest: a misspelt key must not silently leave a default in force.
class TableReader {
 public:
  TableReader(toml::table& table, std::string prefix, const Document& document)
      : table_(table), prefix_(std::move(prefix)), document_(document) {}

  template <typename Integer>
  void integer(std::string_view key, Integer& out, std::int64_t minimum = 0,
               std::int64_t maximum = std::numeric_limits<std::int64_t>::max()) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_integer();
    if (value == nullptr) wrong_type(key, *node, "an integer");
    const std::int64_t number = value->get();
    constexpr auto widest = static_cast<std::uint64_t>(std::numeric_limits<Integer>::max());
    const std::int64_t top = widest > static_cast<std::uint64_t>(maximum) ? maximum : static_cast<std::int64_t>(widest);
    if (number < minimum || number > top) {
      fail(key, *node, "must be from " + std::to_string(minimum) + " to " + std::to_string(top) + ", not " +
                           std::to_string(number));
    }
    out = static_cast<Integer>(number);
  }

  void flag(std::string_view key, bool& out) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_boolean();
    if (value == nullptr) wrong_type(key, *node, "true or false");
    out = value->get();
  }

  // A number from 0 to 1 (an integer 0 or 1 is accepted too).
  void fraction(std::string_view key, double& out) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    double number = 0;
    if (const auto* floating = node->as_floating_point()) {
      number = floating->get();
    } else if (const auto* integer = node->as_integer()) {
      number = static_cast<double>(integer->get());
    } else {
      wrong_type(key, *node, "a number");
    }
    if (!(number >= 0 && number <= 1)) fail(key, *node, "must be a fraction from 0 to 1, not " + std::to_string(number));
    out = number;
  }

  void text(std::string_view key, std::string& out) {
    toml::node* node = take(key);
    if (node != nullptr) out = string_of(key, *node);
  }

  // A file name; a relative one is taken from the config file's folder, not the working
  // directory, so a config and the certificates beside it can move together.
  void path(std::string_view key, std::string& out) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const std::string& name = string_of(key, *node);
    if (name.empty()) fail(key, *node, "must not be empty (leave the key out instead)");
    out = resolve(name);
  }

  void duration(std::string_view key, Milliseconds& out) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    if (node->is_integer()) {
      fail(key, *node, "needs a unit: write \"" + std::to_string(node->as_integer()->get()) + "ms\" or \"" +
                           std::to_string(node->as_integer()->get()) + "s\"");
    }
    std::string problem;
    const auto parsed = detail::parse_duration(string_of(key, *node), problem);
    if (!parsed) fail(key, *node, problem);
    out = *parsed;
  }

  void texts(std::string_view key, std::vector<std::string>& out) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    toml::array* array = node->as_array();
    if (array == nullptr) wrong_type(key, *node, "an array of strings");
    out.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
      toml::node& element = *array->get(i);
      const std::string element_key = std::string(key) + "[" + std::to_string(i) + "]";
      if (!element.is_string()) wrong_type(element_key, element, "a string");
      out.push_back(element.as_string()->get());
    }
  }

  // The secret is read from the named file into locked memory; the file name stays in no config.
  void secret_file(std::string_view key, SharedSecret& out) {
    std::string file;
    path(key, file);
    if (file.empty()) return;
    std::string error;
    out = read_secret_file(file, error);
    if (!out) fail(key, *table_.get(key), error);
  }

  // `key` would hold a secret in the config text itself. Its bytes are wiped from the parsed
  // document before the refusal, which points at `file_key`.
  void refuse_inline_secret(std::string_view key, std::string_view file_key) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    if (auto* value = node->as_string()) secure_wipe(value->get());
    fail(key, *node, "secrets are not written in the config file: put it in a file readable only by this service "
                     "and name that file in " + prefix_ + std::string(file_key));
  }

  // One of `choices`, by its name in the file.
  template <typename Value>
  void choice(std::string_view key, Value& out, std::initializer_list<std::pair<std::string_view, Value>> choices) {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const std::string& name = string_of(key, *node);
    std::string names;
    for (const auto& [choice_name, value] : choices) {
      if (choice_name == name) {
        out = value;
        return;
      }
      names += (names.empty() ? "\"" : ", \"") + std::string(choice_name) + "\"";
    }
    fail(key, *node, "'" + name + "' is not one of " + names);
  }

  // The sub-table `key`, or nullptr when absent.
  toml::table* table(std::string_view key) {
    toml::node* node = take(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) wrong_type(key, *node, "a table");
    return node->as_table();
  }

  // Every key not read by now is unknown.
  void finish() const {
    for (auto&& [key, node] : table_) {
      if (!read_.contains(std::string(key.str()))) document_.fail(prefix_ + std::string(key.str()), "unknown key", key.source());
    }
  }

  [[noreturn]] void fail(std::string_view key, const toml::node& node, const std::string& problem) const {
    document_.fail(prefix_ + std::string(key), problem, node.source());
  }

 private:
  toml::node* take(std::string_view key) {
    read_.emplace(key);
    return table_.get(key);
  }

  const std::string& string_of(std::string_view key, toml::node& node) const {
    if (!node.is_string()) wrong_type(key, node, "a string");
    return node.as_string()->get();
  }

  [[noreturn]] void wrong_type(std::string_view key, const toml::node& node, std::string_view expected) const {
    fail(key, node, "must be " + std::string(expected) + ", not " + std::string(type_name(node.type())));
  }

  std::string resolve(const std::string& name) const {
    const std::filesystem::path given(name);
    return given.is_absolute() ? name : (document_.base_directory / given).lexically_normal().string();
  }

  toml::table& table_;
  std::string prefix_;
  const Document& document_;
  std::set<std::string, std::less<>> read_;
};

void read_tls(TableReader& reader, TlsOptions& tls) {
  reader.flag("system_trust_store", tls.use_system_trust_store);
  reader.path("ca_file", tls.ca_file);
  reader.path("ca_directory", tls.ca_directory);
  // Nothing older than TLS 1.2 can be asked for (TlsOptions::min_version).
  reader.choice("min_version", tls.min_version, {{"1.3", TlsVersion::tls1_3}, {"1.2", TlsVersion::tls1_2}});
  reader.text("tls13_ciphersuites", tls.tls13_ciphersuites);
  reader.texts("alpn", tls.alpn);
  reader.flag("session_resumption", tls.session_resumption);
  reader.texts("pins", tls.pins);
  reader.text("server_name", tls.server_name);
  reader.path("client_certificate_file", tls.client_certificate_file);
  reader.path("client_key_file", tls.client_key_file);
  reader.refuse_inline_secret("client_key_passphrase", "client_key_passphrase_file");
  // Read (and wiped) each time the key is loaded, not kept: TlsOptions::client_key_passphrase_file.
  reader.path("client_key_passphrase_file", tls.client_key_passphrase_file);
  reader.finish();
}

PoolConfig read_pool(toml::table& table, const std::string& prefix, const Document& document) {
  PoolConfig config;
  TableReader reader(table, prefix, document);
  reader.text("endpoint", config.endpoint);
  if (config.endpoint.empty()) document.fail(prefix + "endpoint", "is required (\"host:port\")", table.source());
  reader.text("namespace", config.metric_namespace);
  reader.integer("max_connections", config.max_connections, 1);
  reader.integer("min_idle", config.min_idle);
  reader.integer("max_pending", config.max_pending);
  std::int64_t max_latency_ms = 0;
  reader.integer("max_latency_ms", max_latency_ms, 1);
  if (max_latency_ms != 0) config.latency_threshold = Milliseconds(max_latency_ms);
  reader.duration("latency_threshold", config.latency_threshold);
  reader.duration("cleanup_interval", config.cleanup_interval);
  reader.duration("idle_timeout", config.idle_timeout);
  reader.duration("max_lifetime", config.max_lifetime);
  reader.fraction("max_lifetime_jitter", config.max_lifetime_jitter);
  reader.integer("max_connecting", config.max_connecting, 1);
  reader.duration("connect_timeout", config.connect_timeout);
  reader.duration("http2_ping_after", config.http2_ping_after);
  reader.duration("http2_ping_timeout", config.http2_ping_timeout);
  reader.duration("tcp_user_timeout", config.tcp_user_timeout);
  reader.duration("tcp_keepalive_idle", config.tcp_keepalive_idle);
  reader.duration("tcp_keepalive_interval", config.tcp_keepalive_interval);
  reader.integer("tcp_keepalive_count", config.tcp_keepalive_count, 1, 127);
  reader.duration("acquire_timeout", config.acquire_timeout);
  reader.duration("validate_after_inactivity", config.validate_after_inactivity);
  reader.integer("circuit_breaker_failure_threshold", config.circuit_breaker_failure_threshold, 1);
  reader.duration("circuit_breaker_cooldown", config.circuit_breaker_cooldown);
  reader.duration("reconnect_backoff_base", config.reconnect_backoff_base);
  reader.duration("reconnect_backoff_max", config.reconnect_backoff_max);
  reader.duration("histogram_rotation_interval", config.histogram_rotation_interval);
  reader.text("metrics_host", config.metrics_host);
  reader.integer("metrics_port", config.metrics_port, 0, 65535);
  reader.refuse_inline_secret("metrics_auth_token", "metrics_auth_token_file");
  reader.secret_file("metrics_auth_token_file", config.metrics_auth_token);
  reader.duration("certificate_expiry_warning", config.certificate_expiry_warning);
  if (toml::table* tls = reader.table("tls")) {
    TableReader tls_reader(*tls, prefix + "tls.", document);
    read_tls(tls_reader, config.tls);
  }
  reader.finish();

  if (auto problem = validate(config)) {
    const std::string what = problem->what();
    document.fail(prefix + problem->field(), what.substr(problem->field().size() + 2), table.source());
  }
  return config;
}

}  // namespace

std::vector<PoolConfig> parse_pool_config(std::string_view text, const std::string& source_name,
                                          const std::string& base_directory) {
  const Document document{source_name, base_directory};
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    document.fail("(syntax)", std::string(error.description()), error.source());
  }
  const TableReader top(root, "", document);
  toml::node* pools = root.get("pool");
  std::vector<PoolConfig> configs;
  if (pools == nullptr) throw ConfigError("pool", "no [[pool]] table in " + source_name);
  toml::array* entries = pools->as_array();
  if (entries == nullptr || !entries->is_array_of_tables()) {
    top.fail("pool", *pools, "must be an array of tables: write each pool as [[pool]]");
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < entries->size(); ++i) {
    toml::table& table = *entries->get(i)->as_table();
    const std::string prefix = "pool[" + std::to_string(i) + "].";
    PoolConfig config = read_pool(table, prefix, document);
    // The monitoring endpoints tell pools apart by namespace and endpoint (MonitoredPools::add).
    if (!seen.emplace(config.metric_namespace, config.endpoint).second) {
      document.fail(prefix + "namespace", "another pool already has namespace '" + config.metric_namespace +
                                              "' for endpoint " + config.endpoint + ": give one of them its own namespace",
                    table.source());
    }
    configs.push_back(std::move(config));
  }
  for (auto&& [key, node] : root) {
    if (key.str() != "pool") document.fail(std::string(key.str()), "unknown key (pools are [[pool]] tables)", key.source());
  }
  return configs;
}

std::vector<PoolConfig> load_pool_config_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw ConfigError("config file", "cannot read " + path + ": " + std::strerror(errno));
  std::error_code status_error;
  if (!std::filesystem::is_regular_file(path, status_error)) {
    throw ConfigError("config file", "cannot read " + path + ": not a regular file");
  }
  // Read straight into one string (no stream buffer keeping a second copy) so that it can be wiped.
  const std::streamoff size = file.tellg();
  if (size < 0) throw ConfigError("config file", "cannot read " + path + ": cannot tell its size");
  std::string text(static_cast<std::size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(text.data(), static_cast<std::streamsize>(text.size()))) {
    throw ConfigError("config file", "cannot read " + path + ": read failed");
  }
  const std::string base_directory = std::filesystem::absolute(path).parent_path().string();
  // Wiped however parsing ends: a secret written inline by mistake is refused, and its bytes
  // should not linger in freed memory either.
  struct TextWiper {
    std::string& text;
    ~TextWiper() { secure_wipe(text); }
  } const wipe_text{text};
  return parse_pool_config(text, path, base_directory);
}

}  // namespace securechannel

#include "securechannel/pool_config_file.hpp"

#include "config/pool_table.hpp"
#include "config/toml_table_reader.hpp"
#include "securechannel/secure_buffer.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace securechannel {

namespace {

std::string joined_messages(const std::vector<ConfigError>& errors) {
  if (errors.empty()) return "no error";
  // ConfigError's what() is "field: problem"; this constructor adds the field back in front.
  const std::string_view first = errors.front().what();
  const std::string prefix = errors.front().field() + ": ";
  std::string text(first.starts_with(prefix) ? first.substr(prefix.size()) : first);
  for (std::size_t i = 1; i < errors.size(); ++i) text += std::string("\n") + errors[i].what();
  return text;
}

}  // namespace

ConfigErrors::ConfigErrors(std::vector<ConfigError> errors)
    : ConfigError(errors.empty() ? std::string("config") : errors.front().field(), joined_messages(errors)),
      errors_(std::move(errors)) {}

namespace config {

void read_tls_settings(TableReader& reader, TlsOptions& tls) {
  reader.flag("system_trust_store", tls.use_system_trust_store);
  reader.path("ca_file", tls.ca_file);
  reader.path("ca_directory", tls.ca_directory);
  // Nothing older than TLS 1.2 can be asked for (TlsOptions::min_version).
  reader.choice("min_version", tls.min_version, {{"1.3", TlsVersion::tls1_3}, {"1.2", TlsVersion::tls1_2}});
  reader.text("tls13_ciphersuites", tls.tls13_ciphersuites);
  reader.texts("alpn", tls.alpn);
  reader.flag("session_resumption", tls.session_resumption);
  reader.texts("pins", tls.pins);
  reader.choice("ocsp", tls.ocsp,
                {{"off", OcspPolicy::off}, {"if-stapled", OcspPolicy::if_stapled}, {"require", OcspPolicy::require}});
  reader.path("crl_file", tls.crl_file);
  reader.text("server_name", tls.server_name);
  reader.path("client_certificate_file", tls.client_certificate_file);
  reader.path("client_key_file", tls.client_key_file);
  reader.refuse_inline_secret("client_key_passphrase", "client_key_passphrase_file");
  // Read (and wiped) each time the key is loaded, not kept: TlsOptions::client_key_passphrase_file.
  reader.path("client_key_passphrase_file", tls.client_key_passphrase_file);
  reader.finish();
}

void read_pool_settings(TableReader& reader, PoolConfig& config) {
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
  reader.integer("max_requests_per_connection", config.max_requests_per_connection);
  reader.integer("health_recycle_below", config.health_recycle_below, 0, 100);
  reader.integer("affinity_max_keys", config.affinity_max_keys, 1, 10'000'000);
  reader.duration("connect_timeout", config.connect_timeout);
  reader.duration("dns_refresh_interval", config.dns_refresh_interval);
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
  reader.duration("certificate_expiry_warning", config.certificate_expiry_warning);
  reader.flag("release_memory_at_rest", config.release_memory_at_rest);
  // `tls = false`: plain TCP (http:// upstreams), said in so many words; else a table of settings.
  if (const toml::node* tls = reader.source().get("tls"); tls != nullptr && tls->is_boolean()) {
    reader.flag("tls", config.tls.enabled);
  } else if (toml::table* settings = reader.table("tls", "false (plain TCP) or a table of TLS settings")) {
    TableReader tls_reader(*settings, reader.prefix() + "tls.", reader.document());
    read_tls_settings(tls_reader, config.tls);
  }
  reader.flag("http2_prior_knowledge", config.tls.http2_prior_knowledge);
}

void read_pool_metrics_settings(TableReader& reader, PoolConfig& config) {
  reader.text("metrics_host", config.metrics_host);
  reader.integer("metrics_port", config.metrics_port, 0, 65535);
  reader.refuse_inline_secret("metrics_auth_token", "metrics_auth_token_file");
  reader.secret_file("metrics_auth_token_file", config.metrics_auth_token);
  reader.flag("metrics_allow_insecure_bind", config.metrics_allow_insecure_bind);
}

void check_pool(PoolConfig& config, TableReader& reader) {
  if (auto problem = validate(config)) {
    const std::string what = problem->what();
    reader.document().record(reader.prefix() + problem->field(), what.substr(problem->field().size() + 2),
                             reader.source().source());
  }
}

void check_distinct_pools(const std::vector<PoolConfig>& configs, const std::vector<const toml::table*>& tables,
                          Document& document) {
  // The monitoring endpoints tell pools apart by namespace and endpoint (MonitoredPools::add).
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const PoolConfig& config = configs[i];
    if (!seen.emplace(config.metric_namespace, config.endpoint).second) {
      document.record("pool[" + std::to_string(i) + "].namespace",
                      "another pool already has namespace '" + config.metric_namespace + "' for endpoint " +
                          config.endpoint + ": give one of them its own namespace",
                      tables[i]->source());
    }
  }
}

toml::table parse_document(std::string_view text, Document& document) {
  try {
    return toml::parse(text, document.source_name());
  } catch (const toml::parse_error& error) {
    // A syntax error stops the reading: nothing after it can be trusted to mean what it says.
    document.record("(syntax)", std::string(error.description()), error.source());
    document.throw_if_failed();
  }
  return {};
}

ConfigText::ConfigText(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw ConfigError("config file", "cannot read " + path + ": " + std::strerror(errno));
  std::error_code status_error;
  if (!std::filesystem::is_regular_file(path, status_error)) {
    throw ConfigError("config file", "cannot read " + path + ": not a regular file");
  }
  // Read straight into one string (no stream buffer keeping a second copy) so that it can be wiped.
  const std::streamoff size = file.tellg();
  if (size < 0) throw ConfigError("config file", "cannot read " + path + ": cannot tell its size");
  text_.assign(static_cast<std::size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(text_.data(), static_cast<std::streamsize>(text_.size()))) {
    throw ConfigError("config file", "cannot read " + path + ": read failed");
  }
}

ConfigText::~ConfigText() { secure_wipe(text_); }

}  // namespace config

namespace {

using config::Document;
using config::TableReader;

PoolConfig read_pool(toml::table& table, const std::string& prefix, Document& document) {
  PoolConfig config;
  TableReader reader(table, prefix, document);
  reader.text("endpoint", config.endpoint);
  if (config.endpoint.empty()) document.record(prefix + "endpoint", "is required (\"host:port\")", table.source());
  config::read_pool_settings(reader, config);
  config::read_pool_metrics_settings(reader, config);
  reader.finish();
  if (!config.endpoint.empty()) config::check_pool(config, reader);
  return config;
}

}  // namespace

std::vector<PoolConfig> parse_pool_config(std::string_view text, const std::string& source_name,
                                          const std::string& base_directory) {
  Document document(source_name, base_directory);
  toml::table root = config::parse_document(text, document);
  toml::node* pools = root.get("pool");
  if (pools == nullptr) throw ConfigError("pool", "no [[pool]] table in " + source_name);
  toml::array* entries = pools->as_array();
  if (entries == nullptr || !entries->is_array_of_tables()) {
    document.fail("pool", "must be an array of tables: write each pool as [[pool]]", pools->source());
  }
  std::vector<PoolConfig> configs;
  std::vector<const toml::table*> tables;
  for (std::size_t i = 0; i < entries->size(); ++i) {
    toml::table& table = *entries->get(i)->as_table();
    configs.push_back(read_pool(table, "pool[" + std::to_string(i) + "].", document));
    tables.push_back(&table);
  }
  config::check_distinct_pools(configs, tables, document);
  for (auto&& [key, node] : root) {
    if (key.str() != "pool") document.record(std::string(key.str()), "unknown key (pools are [[pool]] tables)", key.source());
  }
  document.throw_if_failed();
  return configs;
}

std::vector<PoolConfig> load_pool_config_file(const std::string& path) {
  config::ConfigText text(path);
  return parse_pool_config(text.text(), path, std::filesystem::absolute(path).parent_path().string());
}

}  // namespace securechannel

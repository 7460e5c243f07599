#include "daemon/daemon_config.hpp"

#include "config/pool_table.hpp"
#include "config/toml_table_reader.hpp"
#include "core/loopback_address.hpp"
#include "daemon/environment_overrides.hpp"
#include "securechannel/http_request_check.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

extern char** environ;

namespace securechannel::daemon {
namespace {

using config::Document;
using config::TableReader;

// A string key whose value is checked by `parse`; `parse` returns a problem, or "" when fine.
template <typename Parse>
void checked_text(TableReader& reader, std::string_view key, Parse&& parse) {
  std::string text;
  reader.text(key, text);
  if (text.empty() || !reader.source().contains(key)) return;
  const std::string problem = parse(text);
  if (!problem.empty()) reader.document().record(reader.prefix() + std::string(key), problem, reader.source().get(key)->source());
}

void read_listen(TableReader& reader, std::string& host, std::uint16_t& port) {
  checked_text(reader, "listen", [&](const std::string& text) {
    std::string problem;
    parse_listen_address(text, host, port, problem);
    return problem;
  });
}

void read_monitor_tls(TableReader& reader, MonitorConfig& monitor) {
  reader.path("certificate_file", monitor.tls_certificate_file);
  reader.path("key_file", monitor.tls_key_file);
  reader.finish();
  std::optional<ConfigError> error;
  monitor.tls = MonitoringTls::load(monitor.tls_certificate_file, monitor.tls_key_file, error);
  if (monitor.tls) return;
  // The error points at its key's line, or at the table's when the key is missing.
  const toml::node* key = reader.source().get(error->field());
  const toml::source_region& where = key != nullptr ? key->source() : reader.source().source();
  reader.document().record("monitor.tls." + error->field(), error->problem(), where);
}

void read_monitor(TableReader& reader, MonitorConfig& monitor) {
  read_listen(reader, monitor.host, monitor.port);
  reader.path("token_file", monitor.token_file);
  if (!monitor.token_file.empty()) {
    reader.document().collect([&] {
      std::string error;
      monitor.token = read_secret_file(monitor.token_file, error);
      if (!monitor.token) throw ConfigError("monitor.token_file", error + " (" + monitor.token_file + ")");
    });
  }
  reader.refuse("token", "secrets are not written in the config file: name a file readable only by this service in "
                         "monitor.token_file");
  if (toml::table* tls = reader.table("tls")) {
    TableReader tls_reader(*tls, "monitor.tls.", reader.document());
    read_monitor_tls(tls_reader, monitor);
  }
  reader.flag("allow_insecure_bind", monitor.allow_insecure_bind);
  reader.integer("auth_failures_allowed", monitor.auth_failures_allowed, 0, 1'000'000);
  reader.duration("auth_failure_interval", monitor.auth_failure_interval);
  if (!monitor.allow_insecure_bind && !detail::is_loopback_host(monitor.host) && reader.source().contains("listen")) {
    // A token file or [monitor.tls] that failed to load is reported already, under its own key.
    const bool has_token = monitor.token || reader.source().contains("token_file");
    const bool has_tls = monitor.tls || reader.source().contains("tls");
    if (!has_token && !has_tls) {
      reader.document().record("monitor.listen",
                               monitor.host + " is not a loopback address: beyond loopback the monitoring server "
                               "needs token_file or [monitor.tls] (both, best), or allow_insecure_bind = true",
                               reader.source().get("listen")->source());
    }
  }
  reader.finish();
}

void read_log(TableReader& reader, LogSettings& log) {
  reader.choice("format", log.format, {{"text", LogFormat::text}, {"json", LogFormat::json}});
  reader.choice("level", log.level,
                {{"trace", spdlog::level::trace},
                 {"debug", spdlog::level::debug},
                 {"info", spdlog::level::info},
                 {"warn", spdlog::level::warn},
                 {"error", spdlog::level::err},
                 {"off", spdlog::level::off}});
  reader.finish();
}

ListenerConfig read_listener(TableReader& reader) {
  ListenerConfig listener;
  if (!reader.has("mode")) reader.document().record(reader.prefix() + "mode", "is required (\"tcp\" or \"http\")", reader.source().source());
  reader.choice("mode", listener.mode, {{"tcp", ListenerMode::tcp}, {"http", ListenerMode::http}});
  if (!reader.has("listen")) {
    reader.document().record(reader.prefix() + "listen", "is required (\"127.0.0.1:7000\")", reader.source().source());
  }
  read_listen(reader, listener.host, listener.port);
  ListenerLimits& limits = listener.limits;
  reader.integer("max_connections", limits.max_connections, 1, 1'000'000);
  reader.duration("idle_timeout", limits.idle_timeout);
  if (listener.mode == ListenerMode::http) {
    reader.integer("max_header_bytes", limits.max_header_bytes, 1024, 1 << 20);
    reader.integer("max_body_bytes", limits.max_body_bytes, 0, std::int64_t{1} << 32);
    reader.duration("header_timeout", limits.header_timeout);
    reader.flag("add_forwarded_headers", listener.add_forwarded_headers);
    reader.duration("request_timeout", listener.request_timeout);
    reader.text("affinity_header", listener.affinity_header);
    if (!listener.affinity_header.empty() && !is_http_token(listener.affinity_header)) {
      reader.document().record(reader.prefix() + "affinity_header",
                               "\"" + listener.affinity_header + "\" is not an HTTP header name",
                               reader.source().get("affinity_header")->source());
    }
    reader.refuse("half_close_timeout", "is for mode = \"tcp\" listeners: an http listener ends exchanges by itself");
  } else {
    reader.duration("half_close_timeout", limits.half_close_timeout);
    for (const char* key : {"max_header_bytes", "max_body_bytes", "header_timeout", "add_forwarded_headers",
                            "request_timeout", "affinity_header"}) {
      reader.refuse(key, "is for mode = \"http\" listeners: a tcp listener carries bytes, not requests");
    }
  }
  reader.flag("allow_insecure_bind", listener.allow_insecure_bind);
  if (!listener.allow_insecure_bind && !listener.host.empty() && !detail::is_loopback_host(listener.host)) {
    reader.document().record(reader.prefix() + "listen",
                             listener.host + " is not a loopback address: a listener has no authentication, so "
                             "anyone who reaches it would send through this pool with its TLS identity (set "
                             "allow_insecure_bind = true if the network in front is trusted)",
                             reader.source().get("listen")->source());
  }
  reader.finish();
  return listener;
}

DaemonPoolConfig read_pool(toml::table& table, const std::string& prefix, Document& document) {
  DaemonPoolConfig entry;
  TableReader reader(table, prefix, document);
  if (reader.has("endpoint") && reader.has("endpoints")) {
    document.record(prefix + "endpoints", "give either endpoint or endpoints, not both", table.get("endpoints")->source());
  }
  std::string endpoint;
  reader.text("endpoint", endpoint);
  if (!endpoint.empty()) entry.endpoints.push_back(endpoint);
  reader.texts("endpoints", entry.endpoints);
  if (entry.endpoints.empty()) {
    document.record(prefix + "endpoints", "is required: endpoints = [\"host:port\"] (or endpoint = \"host:port\")",
                    table.source());
  }
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < entry.endpoints.size(); ++i) {
    if (entry.endpoints[i].empty()) {
      document.record(prefix + "endpoints[" + std::to_string(i) + "]", "is empty: give \"host:port\"",
                      table.get("endpoints")->source());
      continue;
    }
    if (!distinct.insert(entry.endpoints[i]).second) {
      document.record(prefix + "endpoints[" + std::to_string(i) + "]", entry.endpoints[i] + " is listed twice",
                      table.get("endpoints")->source());
    }
  }
  if (!entry.endpoints.empty()) entry.pool.endpoint = entry.endpoints.front();
  config::read_pool_settings(reader, entry.pool);
  reader.text("backup", entry.backup);
  reader.choice("balancing", entry.balancing,
                {{"least_requests", BalancingPolicy::least_requests}, {"round_robin", BalancingPolicy::round_robin}});
  if (toml::table* detection = reader.table("outlier_detection")) {
    TableReader detection_reader(*detection, prefix + "outlier_detection.", document);
    OutlierDetection& outliers = entry.outlier_detection;
    detection_reader.integer("consecutive_failures", outliers.consecutive_failures, 1, 1'000'000);
    detection_reader.duration("base_ejection_time", outliers.base_ejection_time);
    detection_reader.duration("max_ejection_time", outliers.max_ejection_time);
    detection_reader.integer("max_ejection_percent", outliers.max_ejection_percent, 0, 100);
    detection_reader.finish();
  }
  for (const char* key : {"metrics_host", "metrics_port", "metrics_auth_token_file", "metrics_auth_token",
                          "metrics_allow_insecure_bind"}) {
    reader.refuse(key, "the daemon serves every pool's metrics on one monitoring server: set it in [monitor]");
  }
  if (toml::array* listeners = reader.tables("listener")) {
    for (std::size_t i = 0; i < listeners->size(); ++i) {
      TableReader listener_reader(*listeners->get(i)->as_table(), prefix + "listener[" + std::to_string(i) + "].", document);
      entry.listeners.push_back(read_listener(listener_reader));
    }
  }
  reader.finish();
  if (!entry.pool.endpoint.empty()) config::check_pool(entry.pool, reader);
  return entry;
}

// Across pools: distinct namespaces and endpoints, backups that exist, listeners on distinct addresses.
void check_pools(const std::vector<DaemonPoolConfig>& pools, const std::vector<const toml::table*>& tables,
                 Document& document) {
  std::vector<PoolConfig> configs;
  for (const DaemonPoolConfig& pool : pools) configs.push_back(pool.pool);
  config::check_distinct_pools(configs, tables, document);
  // Backups and environment overrides name a pool by its namespace: one pool each.
  std::set<std::string> namespaces;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    if (!namespaces.insert(pools[i].pool.metric_namespace).second) {
      document.record("pool[" + std::to_string(i) + "].namespace",
                      "another [[pool]] has namespace '" + pools[i].pool.metric_namespace +
                          "': list several endpoints in one pool instead, or give each its own namespace",
                      tables[i]->source());
    }
  }
  std::map<std::string, std::string> listeners;  // address → the listener that has it
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const std::string prefix = "pool[" + std::to_string(i) + "].";
    const DaemonPoolConfig& pool = pools[i];
    if (!pool.backup.empty()) {
      const toml::source_region& where = tables[i]->get("backup")->source();
      if (pool.backup == pool.pool.metric_namespace) {
        document.record(prefix + "backup", "a pool cannot be its own backup", where);
      } else if (!namespaces.contains(pool.backup)) {
        document.record(prefix + "backup", "names no pool: no [[pool]] has namespace '" + pool.backup + "'", where);
      } else if (const auto backup = std::find_if(pools.begin(), pools.end(), [&](const DaemonPoolConfig& other) {
                   return other.pool.metric_namespace == pool.backup;
                 });
                 backup != pools.end() && scheme_of(backup->pool) != scheme_of(pool.pool)) {
        // A failover must not change how the bytes travel: TLS traffic going out in the clear.
        document.record(prefix + "backup", "pool '" + pool.backup + "' is " + std::string(scheme_of(backup->pool)) +
                                               " and this one " + std::string(scheme_of(pool.pool)) +
                                               ": a backup must have the same tls setting",
                        where);
      }
    }
    for (std::size_t l = 0; l < pool.listeners.size(); ++l) {
      const ListenerConfig& listener = pool.listeners[l];
      if (listener.port == 0 || listener.host.empty()) continue;
      const std::string name = prefix + "listener[" + std::to_string(l) + "]";
      const auto [where, fresh] = listeners.emplace(listener.address(), name);
      if (!fresh) {
        document.record(name + ".listen", listener.address() + " is already the address of " + where->second,
                        tables[i]->source());
      }
    }
  }
}

}  // namespace

std::string ListenerConfig::address() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

bool parse_listen_address(const std::string& text, std::string& host, std::uint16_t& port, std::string& problem) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    problem = "'" + text + "' is not an address: write \"127.0.0.1:7000\" or \"[::1]:7000\"";
    return false;
  }
  std::string host_text = text.substr(0, colon);
  if (host_text.size() >= 2 && host_text.front() == '[' && host_text.back() == ']') host_text = host_text.substr(1, host_text.size() - 2);
  boost::system::error_code error;
  boost::asio::ip::make_address(host_text, error);
  if (error) {
    problem = "'" + host_text + "' is not an IP address (a listener binds an address, not a name)";
    return false;
  }
  const std::string port_text = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, result] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (result != std::errc() || end != port_text.data() + port_text.size() || value > 65535 || port_text.empty()) {
    problem = "'" + port_text + "' is not a port from 0 to 65535";
    return false;
  }
  host = host_text;
  port = static_cast<std::uint16_t>(value);
  return true;
}

Environment process_environment() {
  Environment environment;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos || !text.starts_with("SCPOOL_")) continue;
    environment.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return environment;
}

DaemonConfig parse_daemon_config(std::string_view text, const std::string& source_name,
                                 const std::string& base_directory, const Environment& environment) {
  Document document(source_name, base_directory);
  toml::table root = config::parse_document(text, document);
  apply_environment_overrides(root, environment, document);

  DaemonConfig daemon;
  TableReader top(root, "", document);
  if (toml::table* monitor = top.table("monitor")) {
    TableReader reader(*monitor, "monitor.", document);
    read_monitor(reader, daemon.monitor);
  }
  if (toml::table* log = top.table("log")) {
    TableReader reader(*log, "log.", document);
    read_log(reader, daemon.log);
  }
  if (toml::table* settings = top.table("daemon")) {
    TableReader reader(*settings, "daemon.", document);
    reader.duration("drain_grace", daemon.drain_grace);
    reader.finish();
  }
  std::vector<const toml::table*> tables;
  if (toml::array* pools = top.tables("pool")) {
    for (std::size_t i = 0; i < pools->size(); ++i) {
      toml::table& table = *pools->get(i)->as_table();
      daemon.pools.push_back(read_pool(table, "pool[" + std::to_string(i) + "].", document));
      tables.push_back(&table);
    }
    check_pools(daemon.pools, tables, document);
  } else if (!root.contains("pool")) {
    document.record("pool", "no [[pool]] table: the daemon needs at least one pool", root.source());
  }
  top.finish();
  document.throw_if_failed();
  return daemon;
}

DaemonConfig load_daemon_config(const std::string& path, const Environment& environment) {
  const config::ConfigText text(path);
  return parse_daemon_config(text.text(), path, std::filesystem::absolute(path).parent_path().string(), environment);
}

}  // namespace securechannel::daemon

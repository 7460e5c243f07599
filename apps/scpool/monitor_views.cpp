#include "monitor_views.hpp"

#include "table_text.hpp"

#include <fmt/core.h>

#include <string_view>

namespace scpool {
namespace {

using nlohmann::json;
using Formatter = std::string (*)(double);

constexpr const char* missing = "-";

const json* field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

// Any field as text: strings as they are, booleans yes/no, numbers as JSON writes them.
std::string text(const json& object, const char* key) {
  const json* value = field(object, key);
  if (value == nullptr) return missing;
  if (value->is_string()) return value->get_ref<const std::string&>().empty() ? missing : value->get<std::string>();
  if (value->is_boolean()) return value->get<bool>() ? "yes" : "no";
  return value->dump();
}

std::string figure(const json& object, const char* key, Formatter format) {
  const json* value = field(object, key);
  return value != nullptr && value->is_number() ? format(value->get<double>()) : missing;
}

std::string bytes(const json& object, const char* key) {
  const json* value = field(object, key);
  return value != nullptr && value->is_number_unsigned() ? bytes_text(value->get<std::uint64_t>()) : missing;
}

std::string ratio(double value) { return fmt::format("{:.3f}", value); }

// "87 (latency ×1.20, 1 stalls, 0 failures, age 31%)", or missing.
std::string health_text(const json& health) {
  const json* score = field(health, "score");
  if (score == nullptr) return missing;
  return fmt::format("{} (latency ×{:.2f}, {} stalls, {} failures, age {:.0f}%)", score->dump(),
                     health.value("latency_ratio", 1.0), health.value("stalls", 0), health.value("recent_failures", 0),
                     health.value("age_fraction", 0.0) * 100);
}

// An HTTP/2 session's streams, "in flight/most at once" ("3/128", "3/no limit"); missing for a
// connection that runs one exchange at a time (or a server that does not say).
std::string streams(const json& connection) {
  const json* in_flight = field(connection, "streams_in_flight");
  const json* most = field(connection, "max_concurrent_streams");
  if (in_flight == nullptr || most == nullptr || !most->is_number_unsigned() || most->get<std::uint64_t>() == 0) {
    return missing;
  }
  // 2^31 and more: the peer set no limit (SETTINGS_MAX_CONCURRENT_STREAMS absent).
  if (most->get<std::uint64_t>() >= (std::uint64_t{1} << 31)) return in_flight->dump() + "/no limit";
  return fmt::format("{}/{}", in_flight->dump(), most->dump());
}

// How long before `reference` the timestamp in object[key] lies: "3m12s".
std::string age(const json& object, const char* key, std::chrono::system_clock::time_point reference) {
  const json* value = field(object, key);
  if (value == nullptr || !value->is_string()) return missing;
  const auto when = parse_rfc3339_utc(value->get<std::string>());
  if (!when) return value->get<std::string>();
  return age_text(std::chrono::duration_cast<std::chrono::seconds>(reference - *when));
}

std::chrono::system_clock::time_point reference_time(const json& body, const char* key) {
  const json* value = field(body, key);
  if (value != nullptr && value->is_string()) {
    if (const auto when = parse_rfc3339_utc(value->get<std::string>())) return *when;
  }
  return std::chrono::system_clock::now();
}

std::string pool_name(const json& pool) { return text(pool, "namespace"); }

// The body's "scheme" ("https", "http"), or "" from a server that does not say.
std::string_view scheme_of(const json& object) {
  const json* scheme = field(object, "scheme");
  return scheme != nullptr && scheme->is_string() ? std::string_view(scheme->get_ref<const std::string&>()) : "";
}

// "https://host:port" where the body names the scheme, as the dashboard shows it: a plain
// (http://) upstream must not pass for a verified one at a glance. The endpoint alone from a
// server that does not say.
std::string endpoint_text(const json& object) {
  const std::string_view scheme = scheme_of(object);
  const std::string endpoint = text(object, "endpoint");
  return scheme.empty() ? endpoint : std::string(scheme) + "://" + endpoint;
}

const json& array_of(const json& body, const char* key) {
  static const json empty = json::array();
  const json* value = field(body, key);
  return value != nullptr && value->is_array() ? *value : empty;
}

}  // namespace

std::string status_view(const json& status) {
  const json& protection = status.value("memory_protection", json::object());
  const json& channel = status.value("secure_channel", json::object());
  const json& performance = status.value("performance", json::object());
  std::string output = key_value_text({
      {"service", text(status, "service") + " " + text(status, "version")},
      {"status", text(status, "status")},
      {"uptime", text(status, "uptime")},
      {"pools", fmt::format("{} healthy of {} ({})", text(channel, "healthy_pools"), text(channel, "pools"),
                            text(channel, "status"))},
      {"active connections", text(channel, "active_connections")},
      {"utilization", figure(performance, "connection_pool_utilization", percent_text)},
      {"error rate", figure(performance, "error_rate_percent", percent_text)},
      {"avg response time", figure(performance, "avg_response_time_ms", milliseconds_text)},
      {"memory protection", fmt::format("enabled {}, self check {}, secure buffers {}, integrity {}",
                                        text(protection, "enabled"), text(protection, "self_check"),
                                        text(protection, "secure_buffers"), text(protection, "rust_integrity"))},
  });
  const json& pools = array_of(status, "pools");
  if (pools.empty()) return output;
  TextTable table({"POOL", "ENDPOINT", "STATUS", "ACTIVE", "MAX", "UTIL", "ERRORS", "AVG LATENCY"});
  for (const json& pool : pools) {
    table.add_row({pool_name(pool), endpoint_text(pool), text(pool, "status"), text(pool, "active_connections"),
                   text(pool, "max_connections"), figure(pool, "utilization_percent", percent_text),
                   figure(pool, "error_rate_percent", percent_text), figure(pool, "avg_latency_ms", milliseconds_text)});
  }
  return output + "\n" + table.render();
}

std::string health_view(const json& health) {
  std::string output = fmt::format("{}: {} pool(s), {} active connection(s)\n", text(health, "status"),
                                   array_of(health, "pools").size(), text(health, "active_connections"));
  if (const json* message = field(health, "message")) output += message->get<std::string>() + "\n";
  const json& pools = array_of(health, "pools");
  if (pools.empty()) return output;
  TextTable table({"POOL", "ENDPOINT", "HEALTH", "READY", "ACTIVE", "IDLE", "IN USE", "PENDING", "BREAKER", "LAST ERROR"});
  for (const json& pool : pools) {
    table.add_row({pool_name(pool), endpoint_text(pool), text(pool, "status"), text(pool, "ready"),
                   text(pool, "active_connections"), text(pool, "idle_connections"), text(pool, "in_use_connections"),
                   text(pool, "pending_acquires"), text(pool, "circuit_breaker"),
                   field(pool, "last_connect_error") ? text(pool, "last_connect_error") : ""});
  }
  return output + "\n" + table.render();
}

std::string connections_view(const json& list) {
  const auto reference = reference_time(list, "last_updated");
  std::string output = fmt::format("{}: {} connection(s)\n", endpoint_text(list), text(list, "count"));
  // A plain pool's connections have no TLS to show: say so, rather than "-" and "no" as for a
  // connection still connecting or one that did not resume.
  const bool plain = scheme_of(list) == "http";
  const json& connections = array_of(list, "connections");
  if (connections.empty()) return output;
  TextTable table({"ID", "STATE", "STREAMS", "AGE", "IDLE FOR", "LEASES", "ROUND TRIPS", "SENT", "RECEIVED", "P95",
                   "HEALTH", "KEYS", "TLS", "ALPN", "RESUMED", "HEALTHY"});
  for (const json& connection : connections) {
    const json& latency = connection.value("latency_ms", json::object());
    table.add_row({text(connection, "connection_id"), text(connection, "state"), streams(connection),
                   age(connection, "created", reference),
                   age(connection, "last_activity", reference), text(connection, "leases"),
                   text(connection, "round_trips"), bytes(connection, "bytes_sent"),
                   bytes(connection, "bytes_received"), figure(latency, "p95", milliseconds_text),
                   text(connection.value("health", json::object()), "score"), text(connection, "affinity_keys"),
                   plain ? "none" : text(connection, "tls_version"), text(connection, "alpn"),
                   plain ? missing : text(connection, "tls_resumed"), text(connection, "is_healthy")});
  }
  return output + "\n" + table.render();
}

std::string connection_view(const json& connection) {
  const auto now = std::chrono::system_clock::now();
  const json& latency = connection.value("latency_ms", json::object());
  return key_value_text({
      {"connection", text(connection, "connection_id")},
      {"state", text(connection, "state")},
      {"streams", streams(connection)},
      {"healthy", text(connection, "is_healthy")},
      {"health score", health_text(connection.value("health", json::object()))},
      {"affinity keys", text(connection, "affinity_keys")},
      {"age", age(connection, "created", now)},
      {"idle for", age(connection, "last_activity", now)},
      {"leases", text(connection, "leases")},
      {"round trips", text(connection, "round_trips")},
      {"sent", bytes(connection, "bytes_sent")},
      {"received", bytes(connection, "bytes_received")},
      {"latency p50", figure(latency, "p50", milliseconds_text)},
      {"latency p95", figure(latency, "p95", milliseconds_text)},
      {"errors", text(connection, "errors")},
      {"reconnects", text(connection, "reconnects")},
      {"tls", text(connection, "tls_version") + (connection.value("tls_resumed", false) ? " (resumed)" : "")},
      {"alpn", text(connection, "alpn")},
  });
}

std::string stats_view(const json& each) {
  if (each.empty()) return "no pool is monitored\n";
  TextTable table({"POOL", "ENDPOINT", "REQUESTS", "REUSE", "UTIL", "ERRORS", "ERROR RATE", "AVG", "P95",
                   "OPENED", "RESUMED", "HANDSHAKE P95"});
  for (const json& stats : each) {
    const json& handshakes = stats.value("tls_handshake_ms", json::object());
    table.add_row({pool_name(stats), endpoint_text(stats), text(stats, "requests_total"),
                   figure(stats, "reuse_ratio", ratio), figure(stats, "utilization_percent", percent_text),
                   text(stats, "total_errors"), figure(stats, "error_rate_percent", percent_text),
                   figure(stats, "avg_latency_ms", milliseconds_text), figure(stats, "p95_latency_ms", milliseconds_text),
                   text(stats, "connections_created_total"), text(stats, "tls_resumed_total"),
                   figure(handshakes, "p95", milliseconds_text)});
  }
  return table.render();
}

// "no", "yes (27 s left)", or "" when the server says nothing of ejection (not scpool serve).
static std::string ejection_text(const json& groups, const std::string& pool, const std::string& endpoint) {
  for (const json& group : array_of(groups, "pools")) {
    if (group.value("namespace", "") != pool) continue;
    for (const json& entry : array_of(group, "endpoints")) {
      if (entry.value("endpoint", "") != endpoint) continue;
      if (!entry.value("ejected", false)) return "no";
      return fmt::format("yes ({} s left)", (entry.value("ejected_for_ms", 0) + 999) / 1000);
    }
  }
  return "";
}

std::string endpoints_view(const json& pools, const json& health, const json& groups) {
  const json& listed = array_of(pools, "pools");
  if (listed.empty()) return "no pool is monitored\n";
  const bool daemon = groups.contains("pools");
  std::vector<std::string> columns = {"POOL", "ENDPOINT", "STATE", "ACTIVE", "IDLE", "IN USE", "PENDING", "BREAKER"};
  if (daemon) columns.push_back("EJECTED");
  TextTable table(columns);
  for (const json& pool : listed) {
    json state = json::object();
    for (const json& candidate : array_of(health, "pools")) {
      if (candidate.value("namespace", "") == pool.value("namespace", "") &&
          candidate.value("endpoint", "") == pool.value("endpoint", "")) {
        state = candidate;
      }
    }
    std::string condition = text(state, "status");
    if (condition == "healthy" && !state.value("ready", true)) condition += " (not ready)";
    std::vector<std::string> row = {pool_name(pool), endpoint_text(pool), condition,
                                    text(state, "active_connections"), text(state, "idle_connections"),
                                    text(state, "in_use_connections"), text(state, "pending_acquires"),
                                    text(state, "circuit_breaker")};
    if (daemon) row.push_back(ejection_text(groups, pool.value("namespace", ""), pool.value("endpoint", "")));
    table.add_row(row);
  }
  return table.render();
}

}  // namespace scpool

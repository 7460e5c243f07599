#include "daemon/upstream_group_report.hpp"

#include "securechannel/pool_config.hpp"
#include "securechannel/prometheus_text.hpp"
#include "securechannel/secure_channel_pool.hpp"

namespace securechannel::daemon {

void collect_upstream_group_metrics(const UpstreamGroup& group, MetricFamilies& families) {
  const UpstreamGroup::State state = group.state();
  const std::string prefix = state.name + "_";
  const auto per_endpoint = [&](const std::string& name, const char* help, MetricType type, auto value_of) {
    const std::string full = prefix + name;
    MetricFamily& family = families.family(full, help, type);
    for (const UpstreamGroup::EndpointState& endpoint : state.endpoints) {
      family.sample(full, {{"endpoint", endpoint.endpoint}}, static_cast<double>(value_of(endpoint)));
    }
  };
  per_endpoint("endpoint_ejected", "1 while outlier detection keeps the endpoint out of use.", MetricType::gauge,
               [](const UpstreamGroup::EndpointState& e) { return e.ejected ? 1 : 0; });
  per_endpoint("endpoint_ejections_total", "Times the endpoint was ejected after consecutive failures.",
               MetricType::counter, [](const UpstreamGroup::EndpointState& e) { return e.ejections; });
  per_endpoint("endpoint_requests_in_flight", "Local connections or requests using the endpoint now.",
               MetricType::gauge, [](const UpstreamGroup::EndpointState& e) { return e.in_flight; });
  const std::string failovers = prefix + "failovers_total";
  families.family(failovers, "Local connections or requests served by the backup pool.", MetricType::counter)
      .sample(failovers, {}, static_cast<double>(state.failovers));
  const std::string none = prefix + "no_endpoint_total";
  families.family(none, "Local connections or requests refused because every endpoint was ejected.",
                  MetricType::counter)
      .sample(none, {}, static_cast<double>(state.no_endpoint));
}

nlohmann::json upstream_groups_json(const std::vector<std::shared_ptr<UpstreamGroup>>& groups) {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& group : groups) {
    const UpstreamGroup::State state = group->state();
    nlohmann::json endpoints = nlohmann::json::array();
    for (const UpstreamGroup::EndpointState& endpoint : state.endpoints) {
      endpoints.push_back({{"endpoint", endpoint.endpoint},
                           {"ejected", endpoint.ejected},
                           {"ejected_for_ms", endpoint.ejected_for.count()},
                           {"ejections", endpoint.ejections},
                           {"consecutive_failures", endpoint.consecutive_failures},
                           {"in_flight", endpoint.in_flight},
                           {"picks", endpoint.picks},
                           {"probing", endpoint.probing}});
    }
    // Every endpoint of a group, and its backup, has the same `tls` setting (daemon_config).
    const std::string scheme =
        group->members().empty() ? std::string() : std::string(scheme_of(group->members().front().pool->config()));
    pools.push_back({{"namespace", state.name},
                     {"scheme", scheme},
                     {"backup", state.backup.empty() ? nlohmann::json(nullptr) : nlohmann::json(state.backup)},
                     {"failovers", state.failovers},
                     {"no_endpoint", state.no_endpoint},
                     {"endpoints", std::move(endpoints)}});
  }
  return {{"pools", std::move(pools)}};
}

}  // namespace securechannel::daemon

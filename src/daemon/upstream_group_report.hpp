// What the daemon shows of its UpstreamGroups: `<ns>_endpoint_*` series on /metrics, and the
// JSON of GET /api/v1/secure-channel/endpoints (docs/DAEMON.md, "Endpoints and failover";
// docs/openapi.yaml).
#pragma once

#include "daemon/upstream_group.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <vector>

namespace securechannel {
class MetricFamilies;
}

namespace securechannel::daemon {

// <ns>_endpoint_ejected{endpoint} (gauge 0/1), <ns>_endpoint_ejections_total{endpoint},
// <ns>_endpoint_requests_in_flight{endpoint}, <ns>_failovers_total, <ns>_no_endpoint_total.
void collect_upstream_group_metrics(const UpstreamGroup& group, MetricFamilies& families);

// {"pools": [{"namespace", "scheme", "backup", "failovers", "no_endpoint", "endpoints": [{"endpoint",
// "ejected", "ejected_for_ms", "ejections", "consecutive_failures", "in_flight", "picks",
// "probing"}]}]}
nlohmann::json upstream_groups_json(const std::vector<std::shared_ptr<UpstreamGroup>>& groups);

}  // namespace securechannel::daemon

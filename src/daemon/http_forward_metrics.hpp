// The Prometheus series of one http listener, labelled listener="<address>" and mode="http" so
// that the tcp listeners' series share their families:
//   <ns>_listener_connections_accepted_total, <ns>_listener_connections_active,
//   <ns>_listener_requests_total{code="2xx".."5xx"}, <ns>_listener_upstream_errors_total.
//
//   MetricFamilies families;
//   collect_http_forward_metrics(*listener, "relay", "127.0.0.1:8080", families);
#pragma once

#include "daemon/http_forward_listener.hpp"
#include "securechannel/prometheus_text.hpp"

#include <string>

namespace securechannel::daemon {

void collect_http_forward_metrics(const HttpForwardListener& listener, const std::string& metric_namespace,
                                  const std::string& listen_address, MetricFamilies& families);

}  // namespace securechannel::daemon

// The Prometheus series of an HttpClient, under its pool's namespace and endpoint label:
// requests, how many rode a reused connection, failures, retries, GOAWAYs, requests in flight,
// and HTTP/2 streams in flight per connection.
//
//   auto client = std::make_shared<securechannel::HttpClient>(pool);
//   pools->export_http_client(client);   // MonitoredPools: /metrics now carries <ns>_http_*
#pragma once

#include "securechannel/http_client.hpp"
#include "securechannel/prometheus_text.hpp"

namespace securechannel {

void collect_http_client_metrics(const HttpClient& client, MetricFamilies& families);

}  // namespace securechannel

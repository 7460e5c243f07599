#include "securechannel/http_client_metrics.hpp"

#include <string>

namespace securechannel {

void collect_http_client_metrics(const HttpClient& client, MetricFamilies& families) {
  const HttpClientStats stats = client.stats();
  const PoolConfig& config = client.pool()->config();
  const std::string prefix = config.metric_namespace + "_http_";
  const std::string_view endpoint = config.endpoint;
  const auto counter = [&](const std::string& name, const char* help, std::uint64_t value) {
    const std::string full = prefix + name;
    families.family(full, help, MetricType::counter).sample(full, {{"endpoint", endpoint}}, static_cast<double>(value));
  };
  const auto gauge = [&](const std::string& name, const char* help) -> std::pair<MetricFamily&, std::string> {
    std::string full = prefix + name;
    return {families.family(full, help, MetricType::gauge), full};
  };
  counter("requests_total", "HTTP requests completed with a response (any status).", stats.requests);
  counter("requests_on_reused_connections_total",
          "Of those, requests served by a connection that had carried requests before.",
          stats.requests_on_reused_connections);
  counter("request_failures_total", "HTTP requests completed with an error instead of a response.",
          stats.failed_requests);
  counter("retries_total", "Requests sent again: HTTP/2 streams refused, or a stale reused connection.",
          stats.retries);
  counter("goaways_total", "HTTP/2 GOAWAY frames received.", stats.goaways);
  {
    auto [family, name] = gauge("requests_in_flight", "HTTP requests started and not yet completed.");
    family.sample(name, {{"endpoint", endpoint}}, static_cast<double>(stats.requests_in_flight));
  }
  {
    auto [family, name] = gauge("protocol_info", "The protocol the upstream negotiated by ALPN; always 1.");
    family.sample(name, {{"endpoint", endpoint}, {"protocol", to_string(stats.protocol)}}, 1.0);
  }
  {
    auto [family, name] = gauge("http2_connections", "HTTP/2 connections the client holds, draining ones included.");
    family.sample(name, {{"endpoint", endpoint}}, static_cast<double>(stats.http2_connections.size()));
  }
  auto [streams, streams_name] = gauge("http2_streams_in_flight", "HTTP/2 streams open on each connection.");
  for (const Http2ConnectionStats& connection : stats.http2_connections) {
    const std::string id = std::to_string(connection.connection_id);
    streams.sample(streams_name, {{"endpoint", endpoint}, {"connection_id", id}},
                   static_cast<double>(connection.streams_in_flight));
  }
}

}  // namespace securechannel

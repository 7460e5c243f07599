#include "daemon/http_forward_metrics.hpp"

#include <array>
#include <utility>

namespace securechannel::daemon {

void collect_http_forward_metrics(const HttpForwardListener& listener, const std::string& metric_namespace,
                                  const std::string& listen_address, MetricFamilies& families) {
  const HttpForwardStats stats = listener.stats();
  const std::string prefix = metric_namespace + "_listener_";
  const std::string_view address = listen_address;
  const auto single = [&](const std::string& name, const char* help, MetricType type, double value) {
    const std::string full = prefix + name;
    families.family(full, help, type).sample(full, {{"listener", address}, {"mode", "http"}}, value);
  };
  single("connections_accepted_total", "Local connections accepted by the listener.", MetricType::counter,
         static_cast<double>(stats.connections_accepted));
  single("connections_active", "Local connections of the listener open now.", MetricType::gauge,
         static_cast<double>(stats.active_connections));
  const std::string requests = prefix + "requests_total";
  MetricFamily& family = families.family(
      requests, "Responses written to local clients, by status class (forwarded and the listener's own).",
      MetricType::counter);
  const std::array<std::pair<const char*, std::uint64_t>, 4> by_class = {
      {{"2xx", stats.responses_2xx}, {"3xx", stats.responses_3xx}, {"4xx", stats.responses_4xx},
       {"5xx", stats.responses_5xx}}};
  for (const auto& [code, count] : by_class) {
    family.sample(requests, {{"listener", address}, {"mode", "http"}, {"code", code}}, static_cast<double>(count));
  }
  single("upstream_errors_total", "Forwarded requests that failed upstream (answered 502, 503 or 504).",
         MetricType::counter, static_cast<double>(stats.upstream_errors));
}

}  // namespace securechannel::daemon

#include "daemon/tcp_splice_listener.hpp"

namespace securechannel::daemon {

void collect_tcp_splice_metrics(const TcpSpliceListener& listener, const std::string& metric_namespace,
                                const std::string& listen_address, MetricFamilies& families) {
  const TcpSpliceStats stats = listener.stats();
  const std::string prefix = metric_namespace + "_listener_";
  const std::string_view address = listen_address;
  // The first two families are shared with the http listeners (collect_http_forward_metrics):
  // the same HELP text, or the exposition would hold two for one family.
  const auto single = [&](const std::string& name, const char* help, MetricType type, double value) {
    const std::string full = prefix + name;
    families.family(full, help, type).sample(full, {{"listener", address}, {"mode", "tcp"}}, value);
  };
  single("connections_accepted_total", "Local connections accepted by the listener.", MetricType::counter,
         static_cast<double>(stats.connections_accepted));
  single("connections_active", "Local connections of the listener open now.", MetricType::gauge,
         static_cast<double>(stats.active_connections));
  single("acquire_failures_total", "Local connections closed at once because the pool gave no connection.",
         MetricType::counter, static_cast<double>(stats.acquire_failures));
  const std::string bytes = prefix + "bytes_total";
  MetricFamily& family = families.family(
      bytes, "Bytes carried between local clients and the upstream, by direction.", MetricType::counter);
  family.sample(bytes, {{"listener", address}, {"mode", "tcp"}, {"direction", "to_upstream"}},
                static_cast<double>(stats.bytes_to_upstream));
  family.sample(bytes, {{"listener", address}, {"mode", "tcp"}, {"direction", "from_upstream"}},
                static_cast<double>(stats.bytes_from_upstream));
}

}  // namespace securechannel::daemon

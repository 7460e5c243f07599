#include "securechannel/run_metrics_task.hpp"

#include "securechannel/monitored_pools.hpp"

#include <boost/system/errc.hpp>
#include <spdlog/spdlog.h>

namespace securechannel {

std::shared_ptr<MonitoringServer> run_metrics_task(const std::shared_ptr<SecureChannelPool>& pool,
                                                   boost::system::error_code& error) {
  auto pools = std::make_shared<MonitoredPools>();
  std::string problem;
  if (!pools->add(pool, problem)) {
    spdlog::error("securechannel: metrics task: {}", problem);
    error = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const PoolConfig& config = pool->config();
  MonitoringServerOptions options;
  options.host = config.metrics_host;
  options.port = config.metrics_port;
  options.auth_token = config.metrics_auth_token;
  options.allow_insecure_bind = config.metrics_allow_insecure_bind;
  options.unauthenticated_paths = MonitoredPools::unauthenticated_paths();
  // The handler owns the pools' directory; the directory holds the pool only weakly.
  auto server = MonitoringServer::create(
      pool->get_executor(), std::move(options),
      [pools](const MonitoringRequest& request) { return pools->handle(request); }, error);
  if (!server) return nullptr;
  pools->export_server_metrics(server, config.metric_namespace);
  server->start();
  return server;
}

}  // namespace securechannel

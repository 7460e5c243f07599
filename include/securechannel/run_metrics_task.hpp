// The seeds' `pool.run_metrics_task()`: one pool's monitoring endpoints served on the pool's own
// metrics_host:metrics_port with its metrics_auth_token. Explicit like every background task:
// nothing is served until this is called, and the server stops with stop() (or when the
// returned pointer and every pending operation are gone).
//
//   boost::system::error_code error;
//   auto server = securechannel::run_metrics_task(pool, error);   // binds and starts accepting
//   if (!server) spdlog::error("metrics: {}", error.message());   // e.g. address in use
//   fmt::print("{}/metrics\n", server->base_url());
//
// For one server in front of several pools, build a MonitoredPools and a MonitoringServer
// yourself (README "Monitoring").
#pragma once

#include "securechannel/monitoring_server.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <memory>

namespace securechannel {

std::shared_ptr<MonitoringServer> run_metrics_task(const std::shared_ptr<SecureChannelPool>& pool,
                                                   boost::system::error_code& error);

}  // namespace securechannel

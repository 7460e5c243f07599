// MonitoringServers made for a test on 127.0.0.1 port 0, each answering through the test's
// handler, all stopped when this is destroyed: declare it after the IoThread they run on and
// after whatever the handler uses, so that both outlive the servers.
//
//   testing::MonitoringServers servers{io, [this](const MonitoringRequest& r) { return handler(r); }};
//   auto server = servers.start(testing::MonitoringServers::with_token("s3cret"));
#pragma once

#include "io_thread.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/secure_buffer.hpp"

#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace securechannel::testing {

class MonitoringServers {
 public:
  MonitoringServers(IoThread& io, MonitoringHandler handler) : io_(io), handler_(std::move(handler)) {}
  ~MonitoringServers() {
    for (const auto& server : servers_) server->stop();
  }
  MonitoringServers(const MonitoringServers&) = delete;
  MonitoringServers& operator=(const MonitoringServers&) = delete;

  // As MonitoringServer::create (port 0 whatever `options` say): nullptr with `error` on failure.
  std::shared_ptr<MonitoringServer> try_create(MonitoringServerOptions options, boost::system::error_code& error) {
    options.port = 0;
    auto server = MonitoringServer::create(io_.executor(), std::move(options), handler_, error);
    if (server) servers_.push_back(server);
    return server;
  }
  // Throws std::runtime_error naming the error.
  std::shared_ptr<MonitoringServer> create(MonitoringServerOptions options = {}) {
    boost::system::error_code error;
    auto server = try_create(std::move(options), error);
    if (!server) throw std::runtime_error("create: " + error.message());
    return server;
  }
  std::shared_ptr<MonitoringServer> start(MonitoringServerOptions options = {}) {
    auto server = create(std::move(options));
    server->start();
    return server;
  }

  static MonitoringServerOptions with_token(std::string_view token) {
    MonitoringServerOptions options;
    options.auth_token = make_shared_secret(token);
    return options;
  }

 private:
  IoThread& io_;
  MonitoringHandler handler_;
  std::vector<std::shared_ptr<MonitoringServer>> servers_;
};

}  // namespace securechannel::testing

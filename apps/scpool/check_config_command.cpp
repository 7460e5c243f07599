#include "check_config_command.hpp"

#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

namespace scpool {
namespace {

using namespace securechannel;

std::string describe(const PoolConfig& config) {
  const TlsOptions& tls = config.tls;
  std::string text = fmt::format("max_connections {}, min_idle {}, TLS {}+", config.max_connections, config.min_idle,
                                 tls.min_version == TlsVersion::tls1_2 ? "1.2" : "1.3");
  if (!tls.use_system_trust_store) text += ", custom CA only";
  if (!tls.pins.empty()) text += fmt::format(", {} pin{}", tls.pins.size(), tls.pins.size() == 1 ? "" : "s");
  if (!tls.client_certificate_file.empty()) text += ", client certificate";
  if (!tls.alpn.empty()) {
    text += ", ALPN";
    for (const std::string& protocol : tls.alpn) text += " " + protocol;
  }
  if (config.metrics_auth_token) text += ", metrics token";
  return text;
}

}  // namespace

int run_check_config(const std::string& path) {
  std::vector<PoolConfig> pools;
  try {
    pools = load_pool_config_file(path);
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool check-config: {}\n", error.what());
    return 2;
  }
  boost::asio::io_context io;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const PoolConfig& config = pools[i];
    try {
      // Building reads the CA, certificate and key files and checks pins and suites; a pool
      // starts nothing by itself, so nothing connects.
      SecureChannelPool::create(io.get_executor(), config);
    } catch (const ConfigError& error) {
      fmt::print(stderr, "scpool check-config: {}: pool[{}].{}\n", path, i, error.what());
      return 2;
    }
    fmt::print("pool[{}] {} {}: ok ({})\n", i, config.metric_namespace, config.endpoint, describe(config));
  }
  return 0;
}

}  // namespace scpool

// Pools described in a TOML file: what `scpool check-config` checks and `scpool request --config`
// uses (the daemon's file has the same pool keys, docs/DAEMON.md). Keys are the PoolConfig fields under the builder's names; the
// TLS ones live in a [pool.tls] table. docs/CONFIG.md lists every key.
//
//   # pools.toml
//   [[pool]]
//   endpoint = "relay.example.com:443"
//   namespace = "relay"
//   max_connections = 50
//   connect_timeout = "2s"                  # durations: "250ms", "5s", "1m30s", "14d"
//   [pool.tls]
//   ca_file = "relay-ca.pem"                # relative paths start at the file's folder
//   pins = ["sha256//..."]
//   client_certificate_file = "client.pem"
//   client_key_file = "client.key"
//   client_key_passphrase_file = "client.pass"
//
//   std::vector<securechannel::PoolConfig> pools = securechannel::load_pool_config_file("pools.toml");
//   auto pool = securechannel::SecureChannelPool::create(io.get_executor(), pools.front());
//
// Secrets are never written in the file itself (a config file gets copied, diffed and pasted
// into tickets): metrics_auth_token_file and tls.client_key_passphrase_file name files whose
// content goes straight into locked memory (SharedSecret); an inline metrics_auth_token or
// tls.client_key_passphrase is refused.
#pragma once

#include "securechannel/pool_config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace securechannel {

// Every mistake found in one file, thrown at once so that a user fixes them all in one pass
// (field() and the first line of what() are the first mistake's). errors() lists each one.
class ConfigErrors : public ConfigError {
 public:
  explicit ConfigErrors(std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const noexcept { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

// Reads and checks the file at `path`. Throws ConfigErrors (a ConfigError) listing every
// mistake: each names the key's path ("pool[1].tls.pins[0]") and ends with where it is
// ("(pools.toml:12:1)"). Every returned config passed validate(); certificate and key files
// are read when a pool is built.
std::vector<PoolConfig> load_pool_config_file(const std::string& path);

// The same for TOML text: `source_name` appears in messages, and relative paths in it are taken
// from `base_directory`.
std::vector<PoolConfig> parse_pool_config(std::string_view text, const std::string& source_name,
                                          const std::string& base_directory);

}  // namespace securechannel

// The keys of one [[pool]] table, read the same way in pool files and in the daemon's file
// (docs/CONFIG.md lists them). Each records its mistakes in the reader's Document.
#pragma once

#include "config/toml_table_reader.hpp"
#include "securechannel/pool_config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace securechannel::config {

// Every pool key but `endpoint` and the metrics_* keys, and the [pool.tls] table.
void read_pool_settings(TableReader& reader, PoolConfig& config);
// metrics_host, metrics_port, metrics_auth_token_file: a pool file's own monitoring server.
void read_pool_metrics_settings(TableReader& reader, PoolConfig& config);
void read_tls_settings(TableReader& reader, TlsOptions& tls);
// Records what validate() finds wrong with `config`, at the pool table's place.
void check_pool(PoolConfig& config, TableReader& reader);
// Two pools with the same namespace and endpoint cannot be told apart by the monitoring endpoints.
void check_distinct_pools(const std::vector<PoolConfig>& configs, const std::vector<const toml::table*>& tables,
                          Document& document);
// A config file's text, wiped when it goes: a secret written inline by mistake is refused, and
// its bytes should not linger in freed memory either. Throws ConfigError when unreadable.
class ConfigText {
 public:
  explicit ConfigText(const std::string& path);
  ~ConfigText();
  ConfigText(const ConfigText&) = delete;
  ConfigText& operator=(const ConfigText&) = delete;
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
};

// Parses TOML text; a syntax error is thrown at once as ConfigErrors.
toml::table parse_document(std::string_view text, Document& document);

}  // namespace securechannel::config

// ConfigError: a configuration mistake, naming the field ("max_connections", "tls.ca_file",
// "pool[1].tls.pins[0]") and the problem. The library's one error type for configuration time
// (building a pool or a TLS context, reading a pool file, reloading TLS material); what goes
// wrong at run time is a boost::system::error_code in the securechannel category (error.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace securechannel {

class ConfigError : public std::invalid_argument {
 public:
  // what(): "field: problem".
  ConfigError(std::string field, std::string problem);
  const std::string& field() const noexcept { return field_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string field_;
  std::string problem_;
};

}  // namespace securechannel

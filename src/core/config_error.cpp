#include "securechannel/config_error.hpp"

#include <utility>

namespace securechannel {

ConfigError::ConfigError(std::string field, std::string problem)
    : std::invalid_argument(field + ": " + problem), field_(std::move(field)), problem_(std::move(problem)) {}

}  // namespace securechannel

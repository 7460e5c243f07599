// The PoolConfig an sc_pool_config describes (c_api_config.cpp).
#pragma once

#include "securechannel/pool_config.hpp"
#include "securechannel/securechannel.h"

#include <optional>

namespace securechannel::c_api {

// Parsed and checked; nullopt with SC_E_CONFIG naming every mistake.
std::optional<PoolConfig> pool_config_of(const sc_pool_config& config, sc_error* error);

}  // namespace securechannel::c_api

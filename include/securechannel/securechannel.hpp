// Everything a user of the pool needs, in one include.
#pragma once

#include "securechannel/error.hpp"
#include "securechannel/lease.hpp"
#include "securechannel/pool_builder.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_channel_pool.hpp"
#include "securechannel/stream_helpers.hpp"

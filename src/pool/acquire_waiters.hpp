// The callers waiting for a connection of a SecureChannelPool.
#pragma once

#include "core/waiter_queue.hpp"
#include "securechannel/secure_channel_pool.hpp"

namespace securechannel::detail {

struct AcquireWaiters : WaiterQueue<SecureChannelPool::AcquireHandler> {};

}  // namespace securechannel::detail

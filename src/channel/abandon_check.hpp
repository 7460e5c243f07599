// How often the waits of a connect that abort() cannot interrupt directly (the name lookup in
// HostResolver, the attempts of race_connections, on sockets that are not the channel's yet) ask
// whether the channel was aborted: at most this long does a pool's shutdown wait for them.
#pragma once

#include <chrono>

namespace securechannel::detail {

constexpr std::chrono::milliseconds abandon_check_interval{100};

}  // namespace securechannel::detail

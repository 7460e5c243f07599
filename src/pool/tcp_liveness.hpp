// The kernel's side of finding a dead peer: TCP_USER_TIMEOUT (data unacknowledged this long fails
// the socket with ETIMEDOUT instead of after ~15 minutes of retransmissions) and keep-alive
// probes (an idle connection whose peer vanished fails after idle + count * interval). The
// pool sets both on every connection it makes; HTTP/2 adds PING on top (Http2Session).
#pragma once

#include "securechannel/pool_config.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace securechannel::detail {

// Applies config's tcp_user_timeout and tcp_keepalive_* to a connected socket. Returns the
// first setsockopt error (the connection should then not be used: it could hang for minutes).
boost::system::error_code apply_tcp_liveness(boost::asio::ip::tcp::socket& socket, const PoolConfig& config) noexcept;

}  // namespace securechannel::detail

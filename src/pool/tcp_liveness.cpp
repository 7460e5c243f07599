#include "pool/tcp_liveness.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

namespace securechannel::detail {
namespace {

boost::system::error_code set_int_option(int descriptor, int level, int name, int value) noexcept {
  if (::setsockopt(descriptor, level, name, &value, sizeof value) == 0) return {};
  return {errno, boost::system::system_category()};
}

int whole_seconds(Milliseconds duration) noexcept {
  // The kernel counts keep-alive times in seconds; round up so that 1500ms is not 1 s.
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(duration).count());
}

}  // namespace

boost::system::error_code apply_tcp_liveness(boost::asio::ip::tcp::socket& socket, const PoolConfig& config) noexcept {
  const int descriptor = socket.native_handle();
  if (config.tcp_user_timeout.count() > 0) {
    if (auto error = set_int_option(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT,
                                    static_cast<int>(config.tcp_user_timeout.count()))) {
      return error;
    }
  }
  if (config.tcp_keepalive_idle.count() > 0) {
    if (auto error = set_int_option(descriptor, SOL_SOCKET, SO_KEEPALIVE, 1)) return error;
    if (auto error = set_int_option(descriptor, IPPROTO_TCP, TCP_KEEPIDLE, whole_seconds(config.tcp_keepalive_idle))) {
      return error;
    }
    if (auto error =
            set_int_option(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, whole_seconds(config.tcp_keepalive_interval))) {
      return error;
    }
    if (auto error = set_int_option(descriptor, IPPROTO_TCP, TCP_KEEPCNT, static_cast<int>(config.tcp_keepalive_count))) {
      return error;
    }
  }
  return {};
}

}  // namespace securechannel::detail

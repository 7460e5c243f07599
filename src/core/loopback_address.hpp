// Whether an address a server binds reaches only this machine: 127.0.0.0/8, ::1, and an
// IPv4-mapped 127.x. The wildcard addresses (0.0.0.0, ::) are not: they listen everywhere.
// What the insecure-bind rule asks (docs/MONITORING.md, "Exposure").
#pragma once

#include <boost/asio/ip/address.hpp>

#include <string>

namespace securechannel::detail {

inline bool is_loopback_address(const boost::asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

// The same for a host written as text; false for anything that is not an IP address literal.
inline bool is_loopback_host(const std::string& host) {
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  return !error && is_loopback_address(address);
}

}  // namespace securechannel::detail

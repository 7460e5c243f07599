// interleave_families: RFC 8305's order. The racing itself is tested against real sockets in
// tests/faults/happy_eyeballs_test.cpp and by every connect of the other suites.
#include "channel/connection_race.hpp"

#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

std::vector<std::string> texts(const std::vector<tcp::endpoint>& endpoints) {
  std::vector<std::string> out;
  for (const auto& endpoint : endpoints) out.push_back(endpoint.address().to_string());
  return out;
}

std::vector<tcp::endpoint> endpoints(std::initializer_list<const char*> addresses) {
  std::vector<tcp::endpoint> out;
  for (const char* address : addresses) out.emplace_back(make_address(address), 443);
  return out;
}

TEST(InterleaveFamiliesTest, AlternatesStartingWithTheFirstAddresssFamily) {
  EXPECT_EQ(texts(interleave_families(endpoints({"2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2"}))),
            (std::vector<std::string>{"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"}));
  EXPECT_EQ(texts(interleave_families(endpoints({"192.0.2.1", "2001:db8::1", "2001:db8::2"}))),
            (std::vector<std::string>{"192.0.2.1", "2001:db8::1", "2001:db8::2"}));
}

TEST(InterleaveFamiliesTest, OneFamilyKeepsItsOrder) {
  EXPECT_EQ(texts(interleave_families(endpoints({"192.0.2.3", "192.0.2.1", "192.0.2.2"}))),
            (std::vector<std::string>{"192.0.2.3", "192.0.2.1", "192.0.2.2"}));
  EXPECT_TRUE(interleave_families({}).empty());
}

}  // namespace
}  // namespace securechannel::detail

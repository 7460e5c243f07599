// The fault tests' main: before gtest starts a thread, the process moves into a network namespace
// of its own (ctest runs each test as its own process, so each test has its own namespace and
// its own iptables rules). Without root the tests skip with the reason; with
// SC_REQUIRE_FAULT_TESTS=1 (CI) they fail instead, so that a run where nothing was tested
// cannot pass.
#include "testing/network_namespace.hpp"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string why_not;
  securechannel::testing::PrivateNetwork::enter(why_not);
  return RUN_ALL_TESTS();
}

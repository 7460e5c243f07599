// Real network faults for tests, in a network namespace of the test's own: the process leaves
// the host's network (unshare(CLONE_NEWNET | CLONE_NEWNS), loopback brought up), so iptables rules it adds
// (drop = a blackhole, reject with tcp-reset = a reset) touch nothing outside it. Children it
// starts afterwards (nginx) live in the same namespace. Needs root (CAP_NET_ADMIN) and
// iptables; without them enter() says why, and the fault tests skip or, in CI, fail.
//
//   std::string why;
//   if (!securechannel::testing::PrivateNetwork::enter(why)) GTEST_SKIP() << why;
//   securechannel::testing::PacketFilter filter;
//   filter.blackhole(port);   // every packet to or from the port vanishes
//   filter.clear();           // the network heals
#pragma once

#include <cstdint>
#include <string>

namespace securechannel::testing {

class PrivateNetwork {
 public:
  // Moves this process into a new network namespace with loopback up, once; later calls report
  // the first outcome. Call it while the process has one thread (unshare affects only the
  // calling thread's namespace and what it starts later).
  static bool enter(std::string& why_not);
  static bool entered() noexcept;
  // In the namespace (which has its own mounts): `text` becomes what this process and the
  // children it starts later read as `target` (/etc/resolv.conf, /etc/hosts), through a bind
  // mount. False with a reason.
  static bool replace_system_file(const std::string& target, const std::string& text, std::string& why_not);
};

// iptables rules in this process's namespace, removed by clear() and the destructor.
class PacketFilter {
 public:
  PacketFilter() = default;
  ~PacketFilter();
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;

  // Drops every TCP packet to or from `port` on loopback: the peer seems to vanish, with no
  // FIN and no RST, as behind a failed router. Throws std::runtime_error if iptables fails.
  void blackhole(std::uint16_t port);
  // The same for IPv6 (ip6tables): ::1 vanishes while 127.0.0.1 answers.
  void blackhole_ipv6(std::uint16_t port);
  // Answers packets sent to `port` with a TCP reset, as a crashed peer's kernel does.
  void reset(std::uint16_t port);
  // Removes every rule this process added (flushes the namespace's INPUT chains, v4 and v6).
  void clear();

 private:
  bool active_ = false;
};

}  // namespace securechannel::testing

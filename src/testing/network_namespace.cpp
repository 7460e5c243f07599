#include "testing/network_namespace.hpp"

#include <fmt/format.h>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace securechannel::testing {
namespace {

struct Outcome {
  bool entered = false;
  std::string why_not;
};

bool bring_loopback_up(std::string& why_not) {
  const int descriptor = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (descriptor < 0) {
    why_not = fmt::format("socket: {}", std::strerror(errno));
    return false;
  }
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = ::ioctl(descriptor, SIOCGIFFLAGS, &request) == 0;
  if (up) {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    up = ::ioctl(descriptor, SIOCSIFFLAGS, &request) == 0;
  }
  if (!up) why_not = fmt::format("cannot bring loopback up in the new namespace: {}", std::strerror(errno));
  ::close(descriptor);
  return up;
}

Outcome enter_once() {
  Outcome outcome;
  if (::geteuid() != 0) {
    outcome.why_not = "fault tests need root (network namespaces and iptables); CI runs them as root";
    return outcome;
  }
  if (std::system("command -v iptables >/dev/null 2>&1") != 0) {
    outcome.why_not = "iptables is not installed (scripts/bootstrap installs it)";
    return outcome;
  }
  // A mount namespace too, its mounts private, so that use_resolver_config() changes what this
  // process (and its children) read as /etc/resolv.conf and nothing else.
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    outcome.why_not = fmt::format("unshare(CLONE_NEWNET | CLONE_NEWNS): {}", std::strerror(errno));
    return outcome;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    outcome.why_not = fmt::format("making / private in the new mount namespace: {}", std::strerror(errno));
    return outcome;
  }
  outcome.entered = bring_loopback_up(outcome.why_not);
  return outcome;
}

const Outcome& namespace_outcome() {
  static const Outcome outcome = enter_once();
  return outcome;
}

void iptables(const std::string& arguments, const char* binary = "iptables") {
  const std::string command = std::string(binary) + " -w " + arguments + " 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) {
    throw std::runtime_error(fmt::format("'{}' failed (status {})", command, WEXITSTATUS(status)));
  }
}

}  // namespace

bool PrivateNetwork::enter(std::string& why_not) {
  const Outcome& outcome = namespace_outcome();
  why_not = outcome.why_not;
  return outcome.entered;
}

bool PrivateNetwork::entered() noexcept { return namespace_outcome().entered; }

bool PrivateNetwork::replace_system_file(const std::string& target, const std::string& text, std::string& why_not) {
  if (!entered()) {
    why_not = "not in a private namespace: " + namespace_outcome().why_not;
    return false;
  }
  std::string name = target;
  std::replace(name.begin(), name.end(), '/', '-');
  const std::string path = fmt::format("/tmp/securechannel-{}{}", ::getpid(), name);
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr || std::fputs(text.c_str(), file) < 0 || std::fclose(file) != 0) {
    why_not = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  if (::mount(path.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    why_not = fmt::format("cannot bind {} over {}: {}", path, target, std::strerror(errno));
    return false;
  }
  return true;
}

PacketFilter::~PacketFilter() {
  try {
    if (active_) clear();
  } catch (...) {
    // The namespace goes with the process: a rule left behind harms nothing outside it.
  }
}

void PacketFilter::blackhole(std::uint16_t port) {
  if (!PrivateNetwork::entered()) throw std::runtime_error("PacketFilter outside a private network namespace");
  active_ = true;
  iptables(fmt::format("-A INPUT -p tcp --dport {} -j DROP", port));
  iptables(fmt::format("-A INPUT -p tcp --sport {} -j DROP", port));
}

void PacketFilter::blackhole_ipv6(std::uint16_t port) {
  if (!PrivateNetwork::entered()) throw std::runtime_error("PacketFilter outside a private network namespace");
  active_ = true;
  iptables(fmt::format("-A INPUT -p tcp --dport {} -j DROP", port), "ip6tables");
  iptables(fmt::format("-A INPUT -p tcp --sport {} -j DROP", port), "ip6tables");
}

void PacketFilter::reset(std::uint16_t port) {
  if (!PrivateNetwork::entered()) throw std::runtime_error("PacketFilter outside a private network namespace");
  active_ = true;
  iptables(fmt::format("-A INPUT -p tcp --dport {} -j REJECT --reject-with tcp-reset", port));
}

void PacketFilter::clear() {
  // Never the host's rules: only inside the namespace this process made.
  if (!PrivateNetwork::entered()) throw std::runtime_error("PacketFilter outside a private network namespace");
  iptables("-F INPUT");
  iptables("-F INPUT", "ip6tables");
  active_ = false;
}

}  // namespace securechannel::testing

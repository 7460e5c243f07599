#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace securechannel::testing {
namespace {

struct DirectoryCloser {
  void operator()(DIR* directory) const { ::closedir(directory); }
};
using DirectoryHandle = std::unique_ptr<DIR, DirectoryCloser>;

// Calls visit(directory_fd, entry_name) for every open descriptor except the one that
// opendir() itself holds, so the count describes the caller, not the act of counting.
template <typename Visitor>
void for_each_open_descriptor(Visitor&& visit) {
  DirectoryHandle directory(::opendir("/proc/self/fd"));
  if (!directory) throw std::system_error(errno, std::generic_category(), "opendir(/proc/self/fd)");
  const int own_fd = ::dirfd(directory.get());
  const std::string own_name = std::to_string(own_fd);
  while (const dirent* entry = ::readdir(directory.get())) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == own_name) continue;
    visit(own_fd, entry->d_name);
  }
}

std::size_t resident_set_bytes_from(const std::string& statm_path) {
  std::ifstream statm(statm_path);
  std::size_t total_pages = 0;
  std::size_t resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// RLIM_INFINITY is not accepted for RLIMIT_NOFILE: the kernel caps it at fs.nr_open.
rlim_t kernel_descriptor_ceiling() {
  std::ifstream nr_open("/proc/sys/fs/nr_open");
  rlim_t value = 0;
  if (nr_open >> value && value > 0) return value;
  return 1024 * 1024;
}

// The fields of /proc/PID/stat after the command name, which may itself hold spaces and
// parentheses: everything after its last ')'.
std::string stat_fields_after_command(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t end_of_command = text.rfind(')');
  return end_of_command == std::string::npos ? std::string() : text.substr(end_of_command + 1);
}

}  // namespace

std::size_t count_open_file_descriptors() {
  std::size_t count = 0;
  for_each_open_descriptor([&](int, const char*) { ++count; });
  return count;
}

std::size_t count_open_sockets() {
  std::size_t count = 0;
  for_each_open_descriptor([&](int directory_fd, const char* name) {
    char target[64] = {};
    const ssize_t length = ::readlinkat(directory_fd, name, target, sizeof(target) - 1);
    if (length > 0 && std::string_view(target, static_cast<std::size_t>(length)).starts_with("socket:")) {
      ++count;
    }
  });
  return count;
}

std::string executable_directory() {
  char path[4096];
  const ssize_t length = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) return ".";
  const std::string text(path, static_cast<std::size_t>(length));
  return text.substr(0, text.rfind('/'));
}

std::size_t resident_set_bytes() { return resident_set_bytes_from("/proc/self/statm"); }

std::size_t resident_set_bytes(pid_t pid) {
  return resident_set_bytes_from("/proc/" + std::to_string(pid) + "/statm");
}

double process_cpu_seconds(pid_t pid) {
  // After the command: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime (fields 3 to 15 of proc(5)).
  std::istringstream fields(stat_fields_after_command(pid));
  std::string skipped;
  for (int i = 0; i < 11; ++i) fields >> skipped;
  unsigned long long user_ticks = 0;
  unsigned long long system_ticks = 0;
  if (!(fields >> user_ticks >> system_ticks)) return -1;
  return static_cast<double>(user_ticks + system_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<pid_t> child_processes(pid_t parent) {
  std::vector<pid_t> children;
  DirectoryHandle directory(::opendir("/proc"));
  if (!directory) return children;
  while (const dirent* entry = ::readdir(directory.get())) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::istringstream fields(stat_fields_after_command(static_cast<pid_t>(pid)));
    std::string state;
    pid_t parent_of_entry = 0;
    if (fields >> state >> parent_of_entry && parent_of_entry == parent) children.push_back(static_cast<pid_t>(pid));
  }
  return children;
}

void raise_file_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    throw std::system_error(errno, std::generic_category(), "getrlimit(RLIMIT_NOFILE)");
  }
  const rlim_t hard = limit.rlim_max == RLIM_INFINITY ? kernel_descriptor_ceiling() : limit.rlim_max;
  if (limit.rlim_cur >= hard) return;
  limit.rlim_cur = hard;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    throw std::system_error(errno, std::generic_category(), "setrlimit(RLIMIT_NOFILE)");
  }
}

}  // namespace securechannel::testing

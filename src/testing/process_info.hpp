// What the test process (or an upstream it started) holds right now: file descriptors, sockets,
// resident memory. Tests use it to prove that nothing leaks; benchmarks to report memory per
// connection. Linux only (reads /proc).
//
//   const std::size_t fds_before = securechannel::testing::count_open_file_descriptors();
//   { /* open and close a pool */ }
//   EXPECT_EQ(securechannel::testing::count_open_file_descriptors(), fds_before);
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace securechannel::testing {

// Entries of /proc/self/fd, not counting the descriptor used to list them.
std::size_t count_open_file_descriptors();

// Of those, the ones that are sockets (link target "socket:[inode]").
std::size_t count_open_sockets();

// Resident set size of this process in bytes (/proc/self/statm).
std::size_t resident_set_bytes();

// Resident set size of another process (e.g. the nginx master); 0 if it cannot be read.
std::size_t resident_set_bytes(pid_t pid);

// User + system CPU seconds a process has used so far (/proc/PID/stat, clock-tick resolution:
// 10 ms here); a negative value if it cannot be read (the process is gone).
double process_cpu_seconds(pid_t pid);

// The processes whose parent is `parent` (e.g. nginx's workers under its master), from /proc.
std::vector<pid_t> child_processes(pid_t parent);

// The folder holding this program's executable (/proc/self/exe), where a benchmark finds the
// peer programs built beside it; "." if it cannot be read.
std::string executable_directory();

// Raises the soft RLIMIT_NOFILE to the hard limit, so tests and benchmarks with thousands of
// connections do not fail on the usual soft limit of 1024. Throws std::system_error on failure.
void raise_file_descriptor_limit();

}  // namespace securechannel::testing

// A program the tests run as a child process: a server fixture (nginx, prometheus) that lives as
// long as its owner, or a tool (promtool) run once to completion. The child never outlives the
// test process (PR_SET_PDEATHSIG), runs in its own process group so that a SIGKILL also reaches
// its workers, inherits none of our descriptors, and writes its output to files that survive it,
// so that an exception can quote them.
//
//   securechannel::demo::TemporaryDirectory directory("securechannel-nginx");
//   securechannel::demo::ChildProcess server({"/usr/sbin/nginx", "-c", "..."},
//                                            directory.path() / "out.log", directory.path() / "out.log");
//   if (!server.is_running()) throw std::runtime_error("nginx " + server.exit_description());
//   server.stop(SIGQUIT, std::chrono::seconds(5));  // then SIGKILL to the group
//
//   auto check = securechannel::demo::run_to_completion({"/usr/bin/promtool", "check", "metrics"},
//                                                       metrics_text, std::chrono::seconds(30));
//   if (check.exit_code() != 0) ADD_FAILURE() << check.description() << "\n" << check.standard_error;
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::demo {

// Where a child's files live (config, logs, data): a new directory "<$TMPDIR or /tmp>/<prefix>-XXXXXX",
// mode 0700, removed with its content on destruction.
class TemporaryDirectory {
 public:
  // Throws std::runtime_error when the directory cannot be made.
  explicit TemporaryDirectory(std::string_view prefix);
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// The whole file, or "" when it cannot be read (a log a child has not written yet).
std::string read_text_file(const std::filesystem::path& path);

// "exited with status 3", "killed by signal 9": a waitpid() status for messages.
std::string describe_wait_status(int wait_status);

class ChildProcess {
 public:
  ChildProcess() = default;  // no process; stop() and the destructor do nothing
  // Starts `arguments` (arguments[0] is the binary's path; no PATH search) with stdin from
  // `stdin_file` and stdout/stderr into the given files, truncated first (one file when both
  // paths are equal). Throws std::runtime_error when a file cannot be opened or fork fails; a
  // binary that cannot be executed shows as an exit with status 127.
  ChildProcess(const std::vector<std::string>& arguments, const std::filesystem::path& stdout_file,
               const std::filesystem::path& stderr_file,
               const std::filesystem::path& stdin_file = "/dev/null");
  // SIGKILL to the group, without grace: owners that want a graceful stop call stop() first.
  ~ChildProcess();

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The child's pid (also its process group) until it has been stopped; -1 when there is none.
  pid_t pid() const noexcept { return pid_; }

  // False once the child has exited; its status is then collected (see exit_description()).
  bool is_running();
  // Polls until the child exits or `limit` passes; true when it has exited.
  bool wait_for_exit(std::chrono::milliseconds limit);
  // The waitpid() status once the child has exited, and the same in words ("" before).
  std::optional<int> wait_status() const noexcept { return wait_status_; }
  std::string exit_description() const;

  // Sends `signal` to the child alone (a master process stops its workers itself), waits up to
  // `grace` for it to exit, then sends SIGKILL to its whole process group and reaps it. Does
  // nothing when there is no child or it has already exited. Afterwards pid() is -1.
  void stop(int signal, std::chrono::milliseconds grace) noexcept;

 private:
  pid_t pid_ = -1;
  std::optional<int> wait_status_;
};

struct CompletedProcess {
  int wait_status = 0;
  bool timed_out = false;  // killed at the time limit; the output is what it wrote until then
  std::string standard_output;
  std::string standard_error;

  // The exit status when the program exited by itself; nullopt when a signal ended it.
  std::optional<int> exit_code() const;
  std::string description() const;  // "exited with status 3", "killed at the time limit"
};

// Runs `arguments` with `stdin_text` as its input and returns once it has exited, or has been
// killed (with its process group) at `time_limit`. Throws std::runtime_error when it cannot start.
CompletedProcess run_to_completion(const std::vector<std::string>& arguments, std::string_view stdin_text,
                                   std::chrono::milliseconds time_limit);

}  // namespace securechannel::demo

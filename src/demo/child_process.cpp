#include "demo/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace securechannel::demo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPollInterval{20};

std::runtime_error failure(const std::string& binary, const std::string& what, int error) {
  return std::runtime_error("ChildProcess " + binary + ": " + what + ": " + std::strerror(error));
}

int open_or_throw(const std::string& binary, const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw failure(binary, "opening " + path.string(), errno);
  return fd;
}

// Closes the descriptors opened for the child's stdio, on every path out of the constructor.
struct StdioDescriptors {
  int input = -1;
  int output = -1;
  int error = -1;
  ~StdioDescriptors() {
    if (input >= 0) ::close(input);
    if (error >= 0 && error != output) ::close(error);  // it may be `output` itself
    if (output >= 0) ::close(output);
  }
};

}  // namespace

TemporaryDirectory::TemporaryDirectory(std::string_view prefix) {
  const char* tmpdir = std::getenv("TMPDIR");
  const fs::path base = (tmpdir != nullptr && *tmpdir != '\0') ? fs::path(tmpdir) : fs::path("/tmp");
  std::string name_template = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(name_template.data()) == nullptr) {
    throw std::runtime_error("mkdtemp(" + name_template + "): " + std::strerror(errno));
  }
  path_ = name_template;
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;  // a destructor cannot report; a leftover temp dir is harmless
  fs::remove_all(path_, ignored);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream file(path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

ChildProcess::ChildProcess(const std::vector<std::string>& arguments, const fs::path& stdout_file,
                           const fs::path& stderr_file, const fs::path& stdin_file) {
  if (arguments.empty()) throw std::invalid_argument("ChildProcess: no program to run");
  const std::string& binary = arguments.front();
  // Everything the child needs is prepared here: between fork and exec only async-signal-safe
  // calls are allowed, because other threads of the parent may hold malloc's locks.
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const int max_fd = limit.rlim_cur == RLIM_INFINITY ? 1024 * 1024 : static_cast<int>(limit.rlim_cur);

  StdioDescriptors stdio;
  stdio.input = open_or_throw(binary, stdin_file, O_RDONLY);
  const int output_flags = O_WRONLY | O_CREAT | O_TRUNC;
  stdio.output = open_or_throw(binary, stdout_file, output_flags);
  // One descriptor for both when they share a file: two would overwrite each other's lines.
  stdio.error = stderr_file == stdout_file ? stdio.output : open_or_throw(binary, stderr_file, output_flags);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // so that a SIGKILL to the group also reaches the workers
    // A test process killed mid-run must not leave a server behind (it would hold its port and
    // temp directory): the child dies with us; its workers exit when their master goes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(stdio.input, STDIN_FILENO);
    ::dup2(stdio.output, STDOUT_FILENO);
    ::dup2(stdio.error, STDERR_FILENO);
    // Inherited sockets (a test's connections, another server's listener) must not live on in
    // the child: they would keep ports open and fds counted.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
    }
    sigset_t no_signals;
    ::sigemptyset(&no_signals);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);  // the test runner may block some
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) throw failure(binary, "fork", errno);
  ::setpgid(pid, pid);  // also here, so that the group exists before we may signal it
  pid_ = pid;
}

ChildProcess::~ChildProcess() { stop(SIGKILL, std::chrono::milliseconds(0)); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), wait_status_(std::exchange(other.wait_status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    stop(SIGKILL, std::chrono::milliseconds(0));
    pid_ = std::exchange(other.pid_, -1);
    wait_status_ = std::exchange(other.wait_status_, std::nullopt);
  }
  return *this;
}

bool ChildProcess::is_running() {
  if (pid_ <= 0 || wait_status_) return false;
  int status = 0;
  const pid_t result = ::waitpid(pid_, &status, WNOHANG);
  if (result == pid_) {
    wait_status_ = status;
  } else if (result < 0 && errno == ECHILD) {
    wait_status_ = 0;  // reaped elsewhere (a SIGCHLD handler): its status is lost
  }
  return !wait_status_;
}

bool ChildProcess::wait_for_exit(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (is_running()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

std::string ChildProcess::exit_description() const {
  return wait_status_ ? describe_wait_status(*wait_status_) : std::string();
}

void ChildProcess::stop(int signal, std::chrono::milliseconds grace) noexcept {
  if (pid_ <= 0) return;
  if (is_running()) {
    ::kill(pid_, signal);
    if (!wait_for_exit(grace)) {
      ::kill(-pid_, SIGKILL);  // the whole group: workers would outlive a killed master
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) wait_status_ = status;
    }
  }
  pid_ = -1;
}

std::optional<int> CompletedProcess::exit_code() const {
  if (!timed_out && WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return std::nullopt;
}

std::string CompletedProcess::description() const {
  return timed_out ? "killed at the time limit" : describe_wait_status(wait_status);
}

CompletedProcess run_to_completion(const std::vector<std::string>& arguments, std::string_view stdin_text,
                                   std::chrono::milliseconds time_limit) {
  // Files rather than pipes: no reader thread, and a tool that writes more than a pipe holds
  // before reading all its input cannot deadlock with us.
  const TemporaryDirectory directory("securechannel-run");
  const fs::path input_file = directory.path() / "stdin";
  {
    std::ofstream input(input_file, std::ios::binary);
    input.write(stdin_text.data(), static_cast<std::streamsize>(stdin_text.size()));
    if (!input.flush()) throw std::runtime_error("run_to_completion: cannot write " + input_file.string());
  }
  ChildProcess child(arguments, directory.path() / "stdout", directory.path() / "stderr", input_file);
  CompletedProcess completed;
  completed.timed_out = !child.wait_for_exit(time_limit);
  child.stop(SIGKILL, std::chrono::milliseconds(0));
  completed.wait_status = child.wait_status().value_or(0);
  completed.standard_output = read_text_file(directory.path() / "stdout");
  completed.standard_error = read_text_file(directory.path() / "stderr");
  return completed;
}

}  // namespace securechannel::demo

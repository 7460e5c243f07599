#include "testing/nginx_server.hpp"

#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace securechannel::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kNginxBinary = "/usr/sbin/nginx";
constexpr int kStartAttempts = 5;  // a picked port can be taken before nginx binds it
constexpr std::chrono::seconds kStartTimeout{10};
constexpr std::chrono::seconds kStopTimeout{5};
constexpr std::chrono::milliseconds kPollInterval{20};

fs::path make_temporary_directory() {
  const char* tmpdir = std::getenv("TMPDIR");
  const fs::path base = (tmpdir != nullptr && *tmpdir != '\0') ? fs::path(tmpdir) : fs::path("/tmp");
  std::string name_template = (base / "securechannel-nginx-XXXXXX").string();
  if (::mkdtemp(name_template.data()) == nullptr) {
    throw std::runtime_error("NginxServer: mkdtemp(" + name_template + "): " + std::strerror(errno));
  }
  // Workers may run as another user than the master and must reach the temp paths.
  fs::permissions(name_template, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::replace);
  return name_template;
}

std::string read_text_file(const fs::path& path) {
  std::ifstream file(path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string quoted(const fs::path& path) { return '"' + path.string() + '"'; }

// Room for each connection plus its upstream and the logs, but not beyond the hard limit:
// raising that needs CAP_SYS_RESOURCE, which even root lacks in many containers, and nginx
// would only log that setrlimit failed.
long worker_file_limit(const NginxOptions& options) {
  long wanted = std::max(1024L, 2L * options.worker_connections + 64);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY) {
    wanted = std::min(wanted, static_cast<long>(limit.rlim_max));
  }
  return wanted;
}

std::string make_config(const NginxOptions& options, const fs::path& directory, std::uint16_t port) {
  std::ostringstream config;
  config << "# Written by securechannel::testing::NginxServer; every path is inside this directory.\n"
         << "daemon off;\n"
         << "master_process on;\n";
  // As root, nginx would switch workers to nobody:nobody, and Debian has no group "nobody".
  if (::geteuid() == 0) config << "user root root;\n";
  config << "worker_processes " << options.worker_processes << ";\n"
         << "worker_rlimit_nofile " << worker_file_limit(options) << ";\n"
         // Bounds a graceful stop (SIGQUIT) even when a client keeps a request open.
         << "worker_shutdown_timeout 3s;\n"
         << "pid " << quoted(directory / "nginx.pid") << ";\n"
         << "error_log " << quoted(directory / "error.log") << " notice;\n"
         << "events {\n"
         << "  worker_connections " << options.worker_connections << ";\n"
         << "}\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  default_type text/plain;\n"
         // The compiled-in temp paths are under /var/lib/nginx, which may not exist or be ours.
         << "  client_body_temp_path " << quoted(directory / "client_body_temp") << ";\n"
         << "  proxy_temp_path " << quoted(directory / "proxy_temp") << ";\n"
         << "  fastcgi_temp_path " << quoted(directory / "fastcgi_temp") << ";\n"
         << "  uwsgi_temp_path " << quoted(directory / "uwsgi_temp") << ";\n"
         << "  scgi_temp_path " << quoted(directory / "scgi_temp") << ";\n"
         << "  keepalive_timeout " << options.keepalive_timeout_seconds << "s;\n"
         // Benchmarks reuse connections for millions of requests; only the timeout closes them.
         << "  keepalive_requests 1000000;\n"
         << "  ssl_certificate " << quoted(options.certificate_file) << ";\n"
         << "  ssl_certificate_key " << quoted(options.key_file) << ";\n"
         << "  ssl_protocols " << options.ssl_protocols << ";\n"
         << "  server {\n"
         // nginx 1.22 syntax; `http2 on;` only arrived in 1.25.1.
         << "    listen 127.0.0.1:" << port << " ssl" << (options.http2 ? " http2" : "") << ";\n"
         << "    server_name localhost;\n"
         << "    location / {\n"
         << "      return 200 \"hello\\n\";\n"
         << "    }\n"
         << "    location = /close {\n"
         << "      keepalive_timeout 0;  # answers with Connection: close\n"
         << "      return 200 \"bye\\n\";\n"
         << "    }\n"
         << "  }\n"
         << "}\n";
  return config.str();
}

// Starts `arguments` (argv[0] is the binary) in its own process group, with stdin from
// /dev/null and stdout/stderr into `output_file`.
pid_t spawn(const std::vector<std::string>& arguments, const fs::path& output_file) {
  // Everything the child needs is prepared here: between fork and exec only async-signal-safe
  // calls are allowed, because other threads of the parent may hold malloc's locks.
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const int max_fd = limit.rlim_cur == RLIM_INFINITY ? 1024 * 1024 : static_cast<int>(limit.rlim_cur);

  const int input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int output = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (input < 0 || output < 0) {
    const int error = errno;
    if (input >= 0) ::close(input);
    if (output >= 0) ::close(output);
    throw std::runtime_error("NginxServer: opening stdio for nginx: " + std::string(std::strerror(error)));
  }

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // so that a SIGKILL to the group also reaches the workers
    // A test process killed mid-run must not leave nginx behind (it would hold its port and
    // temp directory): the master dies with us, and its workers exit when the master goes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(input, STDIN_FILENO);
    ::dup2(output, STDOUT_FILENO);
    ::dup2(output, STDERR_FILENO);
    // Inherited sockets (a test's connections, another server's listener) must not live on
    // in nginx: they would keep ports open and fds counted.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
    }
    sigset_t no_signals;
    ::sigemptyset(&no_signals);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);  // the test runner may block some
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const int fork_error = errno;
  ::close(input);
  ::close(output);
  if (pid < 0) throw std::runtime_error("NginxServer: fork: " + std::string(std::strerror(fork_error)));
  ::setpgid(pid, pid);  // also here, so that the group exists before we may signal it
  return pid;
}

// True once `pid` has exited (and is reaped), or is not our child any more.
bool reap_if_exited(pid_t pid, int* status) {
  const pid_t result = ::waitpid(pid, status, WNOHANG);
  return result == pid || (result < 0 && errno == ECHILD);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// nginx writes its pid file after it has bound the listening socket, so a pid file with our
// child's pid proves that the port is nginx's and not some other process's.
bool pid_file_names(const fs::path& pid_file, pid_t pid) {
  std::ifstream file(pid_file);
  pid_t written = 0;
  return (file >> written) && written == pid;
}

}  // namespace

bool NginxServer::available() { return ::access(kNginxBinary, X_OK) == 0; }

NginxServer::NginxServer(NginxOptions options)
    : options_(std::move(options)), directory_(make_temporary_directory()) {
  try {
    for (int attempt = 1;; ++attempt) {
      if (try_start(pick_free_tcp_port())) return;
      if (attempt == kStartAttempts) {
        throw std::runtime_error("NginxServer: every port picked was taken before nginx could bind it\n" +
                                 diagnostics());
      }
    }
  } catch (...) {
    stop();
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
    throw;
  }
}

NginxServer::~NginxServer() {
  stop();
  std::error_code ignored;  // a destructor cannot report; a leftover temp dir is harmless
  fs::remove_all(directory_, ignored);
}

bool NginxServer::try_start(std::uint16_t port) {
  const fs::path config_file = directory_ / "nginx.conf";
  const fs::path pid_file = directory_ / "nginx.pid";
  {
    std::ofstream config(config_file, std::ios::trunc);
    config << make_config(options_, directory_, port);
    if (!config.flush()) throw std::runtime_error("NginxServer: cannot write " + config_file.string());
  }
  std::error_code ignored;
  fs::remove(error_log(), ignored);  // so that old lines cannot be mistaken for this attempt's
  fs::remove(pid_file, ignored);

  pid_ = spawn({kNginxBinary, "-p", directory_.string() + "/", "-c", config_file.string(), "-e",
                error_log().string()},
               directory_ / "stderr.log");
  const auto deadline = Clock::now() + kStartTimeout;
  for (;;) {
    int status = 0;
    if (reap_if_exited(pid_, &status)) {
      pid_ = -1;
      const std::string log = read_text_file(error_log()) + read_text_file(directory_ / "stderr.log");
      if (log.find("Address already in use") != std::string::npos) return false;
      throw std::runtime_error("NginxServer: nginx " + describe_exit(status) + " while starting\n" + diagnostics());
    }
    if (pid_file_names(pid_file, pid_) && accepts_connections(port)) {
      port_ = port;
      return true;
    }
    if (Clock::now() >= deadline) {
      const std::string details = diagnostics();
      stop();
      throw std::runtime_error("NginxServer: nginx did not accept connections on 127.0.0.1:" +
                               std::to_string(port) + " within " + std::to_string(kStartTimeout.count()) +
                               " s\n" + details);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string NginxServer::diagnostics() const {
  return "--- " + error_log().string() + " ---\n" + read_text_file(error_log()) + "--- nginx stderr ---\n" +
         read_text_file(directory_ / "stderr.log");
}

void NginxServer::stop() noexcept {
  if (pid_ <= 0) return;
  int status = 0;
  ::kill(pid_, SIGQUIT);  // graceful: finish requests, close idle keep-alive connections
  const auto deadline = Clock::now() + kStopTimeout;
  while (!reap_if_exited(pid_, &status)) {
    if (Clock::now() >= deadline) {
      ::kill(-pid_, SIGKILL);  // the whole group: workers would outlive a killed master
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  pid_ = -1;
}

std::uint16_t NginxServer::port() const { return port_; }
std::string NginxServer::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
pid_t NginxServer::pid() const { return pid_; }
std::filesystem::path NginxServer::error_log() const { return directory_ / "error.log"; }

}  // namespace securechannel::testing

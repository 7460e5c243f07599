#include "demo/nginx_server.hpp"

#include "demo/loopback_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace securechannel::demo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kNginxBinary = "/usr/sbin/nginx";
constexpr int kStartAttempts = 5;  // a picked port can be taken before nginx binds it
constexpr std::chrono::seconds kStartTimeout{10};
constexpr std::chrono::seconds kStopTimeout{5};
constexpr std::chrono::milliseconds kPollInterval{20};

// Workers may run as another user than the master and must reach the temp paths.
void open_to_workers(const fs::path& directory) {
  fs::permissions(directory, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::replace);
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

// The document root: /big (and /slow) as generated_file_byte() describes, upload/ for PUT.
void write_document_root(const NginxOptions& options, const fs::path& root) {
  fs::create_directories(root / "upload");
  open_to_workers(root);
  fs::permissions(root / "upload", fs::perms::all, fs::perm_options::replace);  // workers write here
  if (options.generated_file_bytes == 0) return;
  std::string content(options.generated_file_bytes, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = generated_file_byte(i);
  std::ofstream file(root / "big", std::ios::binary | std::ios::trunc);
  file.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!file.flush()) throw std::runtime_error("NginxServer: cannot write " + (root / "big").string());
  fs::permissions(root / "big", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                    fs::perms::others_read, fs::perm_options::replace);
}

std::string make_config(const NginxOptions& options, const fs::path& directory, std::uint16_t port) {
  std::ostringstream config;
  config << "# Written by securechannel::demo::NginxServer; every path is inside this directory.\n"
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
         << "  server {\n";
  if (options.plain) {
    // nginx 1.22 syntax; `http2 on;` only arrived in 1.25.1. A plain `http2` listener speaks
    // HTTP/2 with prior knowledge only (h2c, no HTTP/1.1 Upgrade).
    config << "    listen 127.0.0.1:" << port << (options.http2 ? " http2" : "") << ";\n";
  } else {
    config << "    ssl_certificate " << quoted(options.certificate_file) << ";\n"
           << "    ssl_certificate_key " << quoted(options.key_file) << ";\n"
           << "    ssl_protocols " << options.ssl_protocols << ";\n"
           << "    listen 127.0.0.1:" << port << " ssl" << (options.http2 ? " http2" : "") << ";\n";
  }
  config
         << "    server_name localhost;\n"
         << "    location / {\n"
         << "      return 200 \"hello\\n\";\n"
         << "    }\n"
         << "    location = /close {\n"
         << "      keepalive_timeout 0;  # answers with Connection: close\n"
         << "      return 200 \"bye\\n\";\n"
         << "    }\n"
         << "    root " << quoted(directory / "www") << ";\n"
         << "    location = /big {\n"
         << "    }\n"
         // gzip makes the HTTP/1.1 response chunked (its length is unknown), which carries a trailer.
         << "    location = /gzip {\n"
         << "      gzip on;\n"
         << "      gzip_types *;\n"
         << "      gzip_min_length 0;\n"
         << "      add_trailer X-Served-By nginx always;\n"
         << "      try_files /big =404;\n"
         << "    }\n"
         << "    location = /slow {\n"
         << "      limit_rate 1k;\n"
         << "      try_files /big =404;\n"
         << "    }\n"
         // The DAV module reads the whole body and stores it: proof that an upload arrived intact.
         << "    location /upload/ {\n"
         << "      dav_methods PUT;\n"
         << "      client_max_body_size 64m;\n"
         << "    }\n";
  if (options.max_requests_per_connection > 0) {
    config << "    keepalive_requests " << options.max_requests_per_connection << ";\n";
  }
  if (options.http2_max_concurrent_streams > 0) {
    config << "    http2_max_concurrent_streams " << options.http2_max_concurrent_streams << ";\n";
  }
  config << "  }\n"
         << "}\n";
  return config.str();
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
    : options_(std::move(options)), directory_("securechannel-nginx") {
  open_to_workers(directory_.path());
  write_document_root(options_, document_root());
  try {
    for (int attempt = 1;; ++attempt) {
      if (try_start(pick_free_tcp_port())) return;
      if (attempt == kStartAttempts) {
        throw std::runtime_error("NginxServer: every port picked was taken before nginx could bind it\n" +
                                 diagnostics());
      }
    }
  } catch (...) {
    stop();  // gracefully, as in the destructor, which does not run for a constructor that throws
    throw;
  }
}

NginxServer::~NginxServer() { stop(); }

bool NginxServer::try_start(std::uint16_t port) {
  const fs::path config_file = directory_.path() / "nginx.conf";
  const fs::path pid_file = directory_.path() / "nginx.pid";
  {
    std::ofstream config(config_file, std::ios::trunc);
    config << make_config(options_, directory_.path(), port);
    if (!config.flush()) throw std::runtime_error("NginxServer: cannot write " + config_file.string());
  }
  std::error_code ignored;
  fs::remove(error_log(), ignored);  // so that old lines cannot be mistaken for this attempt's
  fs::remove(pid_file, ignored);

  const fs::path output_file = directory_.path() / "stderr.log";
  process_ = ChildProcess({kNginxBinary, "-p", directory_.path().string() + "/", "-c", config_file.string(), "-e",
                           error_log().string()},
                          output_file, output_file);
  const auto deadline = Clock::now() + kStartTimeout;
  for (;;) {
    if (!process_.is_running()) {
      const std::string log = read_text_file(error_log()) + read_text_file(output_file);
      if (log.find("Address already in use") != std::string::npos) return false;
      throw std::runtime_error("NginxServer: nginx " + process_.exit_description() + " while starting\n" +
                               diagnostics());
    }
    if (pid_file_names(pid_file, process_.pid()) && accepts_connections(port)) {
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
         read_text_file(directory_.path() / "stderr.log");
}

// Graceful first (SIGQUIT: finish requests, close idle keep-alive connections), then SIGKILL to
// the group.
void NginxServer::stop() noexcept { process_.stop(SIGQUIT, kStopTimeout); }

std::uint16_t NginxServer::port() const { return port_; }
std::string NginxServer::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
pid_t NginxServer::pid() const { return process_.pid(); }
std::filesystem::path NginxServer::error_log() const { return directory_.path() / "error.log"; }
std::filesystem::path NginxServer::document_root() const { return directory_.path() / "www"; }

}  // namespace securechannel::demo

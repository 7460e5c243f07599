#include "testing/openssl_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace securechannel::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kOpenSslBinary = "/usr/bin/openssl";
constexpr std::chrono::seconds kStartTimeout{10};
constexpr std::chrono::seconds kStopTimeout{2};
constexpr std::chrono::milliseconds kPollInterval{10};

// s_server prints "ACCEPT 127.0.0.1:40889" once it listens; 0 until then.
std::uint16_t reported_port(const std::string& output) {
  const std::string prefix = "ACCEPT 127.0.0.1:";
  const auto at = output.find(prefix);
  if (at == std::string::npos) return 0;
  const auto end = output.find('\n', at);
  if (end == std::string::npos) return 0;  // the line is still being written
  const std::string digits = output.substr(at + prefix.size(), end - at - prefix.size());
  try {
    const unsigned long port = std::stoul(digits);
    return port > 0 && port <= 65535 ? static_cast<std::uint16_t>(port) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

std::size_t count_occurrences(const std::string& text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

}  // namespace

bool OpenSslServer::available() { return ::access(kOpenSslBinary, X_OK) == 0; }

OpenSslServer::OpenSslServer(OpenSslServerOptions options) : directory_("securechannel-s_server") {
  // s_server reads commands from its standard input and shuts down at end of file, so
  // /dev/null would end it at the first connection. A FIFO whose write end we hold stays open
  // and silent for as long as we live (O_RDWR so that neither open blocks).
  const fs::path input = directory_.path() / "stdin";
  if (::mkfifo(input.c_str(), 0600) != 0) {
    throw std::runtime_error("OpenSslServer: mkfifo " + input.string() + ": " + std::strerror(errno));
  }
  stdin_writer_ = ::open(input.c_str(), O_RDWR | O_CLOEXEC);
  if (stdin_writer_ < 0) {
    throw std::runtime_error("OpenSslServer: opening " + input.string() + ": " + std::strerror(errno));
  }
  // Port 0 and the port s_server reports: unlike nginx, it can tell us, so no port is picked
  // ahead (and none can be taken by someone else meanwhile). No CA store: the server must send
  // exactly the chain it is given, never one it completed from the system's certificates.
  std::vector<std::string> arguments = {kOpenSslBinary, "s_server", "-accept", "127.0.0.1:0",
                                        "-cert", options.certificate_file.string(),
                                        "-key", options.key_file.string(),
                                        "-no-CAfile", "-no-CApath", "-no-CAstore"};
  if (!options.chain_file.empty()) {
    arguments.insert(arguments.end(), {"-cert_chain", options.chain_file.string()});
  }
  arguments.insert(arguments.end(), options.arguments.begin(), options.arguments.end());
  try {
    process_ = demo::ChildProcess(arguments, directory_.path() / "stdout", directory_.path() / "stderr", input);
    const auto deadline = Clock::now() + kStartTimeout;
    while ((port_ = reported_port(output())) == 0) {
      if (!process_.is_running()) {
        throw std::runtime_error("OpenSslServer: s_server " + process_.exit_description() + " while starting\n" +
                                 diagnostics());
      }
      if (Clock::now() >= deadline) {
        throw std::runtime_error("OpenSslServer: s_server did not listen within " +
                                 std::to_string(kStartTimeout.count()) + " s\n" + diagnostics());
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  } catch (...) {
    process_.stop(SIGTERM, kStopTimeout);  // the destructor does not run for a throwing constructor
    ::close(stdin_writer_);
    throw;
  }
}

OpenSslServer::~OpenSslServer() {
  process_.stop(SIGTERM, kStopTimeout);
  ::close(stdin_writer_);
}

std::string OpenSslServer::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

std::string OpenSslServer::output() const { return demo::read_text_file(directory_.path() / "stdout"); }

std::size_t OpenSslServer::completed_handshakes() const { return count_occurrences(output(), "CIPHER is "); }

bool OpenSslServer::wait_for_output(std::string_view text, std::chrono::milliseconds limit) const {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (output().find(text) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

void OpenSslServer::type_line(std::string_view line) {
  const std::string text = std::string(line) + "\n";
  // A FIFO write this small is atomic and does not block while the pipe has room (64 KB).
  if (::write(stdin_writer_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error(std::string("OpenSslServer: writing to s_server's input: ") + std::strerror(errno));
  }
}

std::string OpenSslServer::diagnostics() const {
  return "--- s_server stdout ---\n" + output() + "--- s_server stderr ---\n" +
         demo::read_text_file(directory_.path() / "stderr");
}

}  // namespace securechannel::testing

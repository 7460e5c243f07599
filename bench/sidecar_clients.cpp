#include "sidecar_clients.hpp"

#include "demo/child_process.hpp"
#include "demo/loopback_port.hpp"
#include "demo/nginx_server.hpp"
#include "demo/serve_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <thread>

namespace securechannel::bench {
namespace {

using Clock = std::chrono::steady_clock;

double to_milliseconds(const std::string& value, const std::string& unit) {
  const double number = std::stod(value);
  if (unit == "us") return number / 1000;
  if (unit == "s") return number * 1000;
  if (unit == "m") return number * 60'000;
  return number;  // "ms"
}

std::uint64_t count(const std::string& output, const std::regex& pattern) {
  std::smatch match;
  return std::regex_search(output, match, pattern) ? std::stoull(match[1].str()) : 0;
}

// A blocking loopback connection whose reads and writes give up after 10 s (a stuck proxy
// must end the slice, not the benchmark); -1 with `error` set when it cannot connect.
int connect_to(const std::string& address, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(demo::port_of(address));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
    error = "connect to " + address + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data, std::string& error) {
  if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size())) return true;
  error = std::string("send: ") + std::strerror(errno);
  return false;
}

// recv() that names what went wrong: 0 bytes is the proxy closing, < 0 a timeout or a reset.
ssize_t receive(int fd, char* buffer, std::size_t size, std::string& error) {
  const ssize_t got = ::recv(fd, buffer, size, 0);
  if (got == 0) error = "the proxy closed the connection";
  if (got < 0) error = std::string("recv: ") + std::strerror(errno);
  return got;
}

}  // namespace

WrkSlice parse_wrk_output(const std::string& output) {
  WrkSlice slice;
  std::smatch total;
  std::smatch p50;
  std::smatch p99;
  if (!std::regex_search(output, total, std::regex(R"((\d+) requests in ([\d.]+)(us|ms|s|m),)")) ||
      !std::regex_search(output, p50, std::regex(R"(\n\s+50%\s+([\d.]+)(us|ms|s|m)\b)")) ||
      !std::regex_search(output, p99, std::regex(R"(\n\s+99%\s+([\d.]+)(us|ms|s|m)\b)"))) {
    slice.note = "unreadable wrk output: " + output.substr(0, 600);
    return slice;
  }
  const std::uint64_t not_ok = count(output, std::regex(R"(Non-2xx or 3xx responses: (\d+))"));
  const std::uint64_t responses = std::stoull(total[1].str());
  slice.requests = responses > not_ok ? responses - not_ok : 0;
  slice.seconds = to_milliseconds(total[2].str(), total[3].str()) / 1000;
  slice.p50_ms = to_milliseconds(p50[1].str(), p50[2].str());
  slice.p99_ms = to_milliseconds(p99[1].str(), p99[2].str());
  slice.errors = not_ok;
  std::smatch sockets;
  if (std::regex_search(output, sockets,
                        std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))"))) {
    for (int i = 1; i <= 4; ++i) slice.errors += std::stoull(sockets[i].str());
    slice.note = sockets[0].str();
  }
  if (not_ok > 0) slice.note += (slice.note.empty() ? "" : "; ") + std::to_string(not_ok) + " non-2xx/3xx responses";
  return slice;
}

WrkSlice run_wrk(const std::string& wrk, const std::string& url, std::size_t connections, int seconds) {
  const auto run = demo::run_to_completion(
      {wrk, "-t1", "-c" + std::to_string(connections), "-d" + std::to_string(seconds) + "s", "--latency", url}, "",
      std::chrono::seconds(seconds + 30));
  if (run.exit_code() != 0) {
    return WrkSlice{.note = "wrk " + run.description() + ": " + run.standard_output.substr(0, 400) + run.standard_error};
  }
  return parse_wrk_output(run.standard_output);
}

BulkSlice download_through(const std::string& address, std::size_t file_bytes, std::chrono::milliseconds duration) {
  BulkSlice slice;
  const auto started = Clock::now();
  const auto deadline = started + duration;
  const int fd = connect_to(address, slice.error);
  if (fd < 0) return slice;
  const std::string request = "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::vector<char> buffer(256 * 1024);
  // Bounded in time (the deadline) and in count (a runaway loop on a broken reply).
  for (int responses = 0; responses < 1'000'000 && Clock::now() < deadline; ++responses) {
    if (!send_all(fd, request, slice.error)) break;
    std::string header;
    std::size_t body_in_header = 0;
    while (true) {
      const ssize_t got = receive(fd, buffer.data(), buffer.size(), slice.error);
      if (got <= 0) break;
      header.append(buffer.data(), static_cast<std::size_t>(got));
      const auto end = header.find("\r\n\r\n");
      if (end != std::string::npos) {
        body_in_header = header.size() - (end + 4);
        header.resize(end + 4);
        break;
      }
      if (header.size() > 16384) {
        slice.error = "no end of header in 16 KiB";
        break;
      }
    }
    if (!slice.error.empty()) break;
    if (header.rfind("HTTP/1.1 200", 0) != 0 ||
        header.find("Content-Length: " + std::to_string(file_bytes) + "\r\n") == std::string::npos) {
      slice.error = "unexpected response header: " + header.substr(0, 200);
      break;
    }
    // The body's first bytes came with the header; the generated file's pattern proves each
    // chunk's offset (a lost or repeated chunk shows).
    std::size_t offset = body_in_header;
    slice.bytes += body_in_header;
    while (offset < file_bytes && Clock::now() < deadline) {
      const ssize_t got = receive(fd, buffer.data(), std::min(buffer.size(), file_bytes - offset), slice.error);
      if (got <= 0) break;
      if (buffer[0] != demo::generated_file_byte(offset)) {
        slice.error = "body byte " + std::to_string(offset) + " differs from the file's";
        break;
      }
      offset += static_cast<std::size_t>(got);
      slice.bytes += static_cast<std::uint64_t>(got);
    }
    if (!slice.error.empty()) break;
    if (offset == file_bytes) ++slice.responses;
  }
  slice.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  ::close(fd);
  return slice;
}

SetupSample connection_setup_through(const std::string& address, std::size_t connections,
                                     std::chrono::milliseconds gap, std::chrono::milliseconds limit) {
  SetupSample sample;
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const std::string answer_end = "\r\n\r\nhello\n";
  const auto deadline = Clock::now() + limit;
  for (std::size_t i = 0; i < connections && Clock::now() < deadline; ++i) {
    std::string error;
    const auto started = Clock::now();
    const int fd = connect_to(address, error);
    bool answered = false;
    if (fd >= 0) {
      std::string reply;
      if (send_all(fd, request, error)) {
        char buffer[4096];
        while (reply.size() < 4096) {
          const ssize_t got = receive(fd, buffer, sizeof buffer, error);
          if (got <= 0) break;
          reply.append(buffer, static_cast<std::size_t>(got));
          if (reply.size() >= answer_end.size() &&
              reply.compare(reply.size() - answer_end.size(), answer_end.size(), answer_end) == 0) {
            answered = true;
            break;
          }
        }
      }
      if (answered) sample.milliseconds.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
      if (!answered && error.empty()) error = "unexpected reply: " + reply.substr(0, 200);
      ::close(fd);
    }
    if (!answered) {
      ++sample.failures;
      if (sample.error.empty()) sample.error = error;
    }
    std::this_thread::sleep_for(gap);
  }
  return sample;
}

}  // namespace securechannel::bench

#include "openssl_s_time.hpp"

#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <sstream>

namespace securechannel::bench {
namespace {

// Arguments are our own (temporary paths, a loopback address), but quote them anyway.
std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

double cpu_seconds_of_children() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct ChildRun {
  std::string output;
  int exit_status = -1;
  double wall_seconds = 0;
  double cpu_seconds = 0;
};

// Runs `command` through popen and collects its stdout, its wall time and its CPU time.
ChildRun run_child(const std::string& command) {
  ChildRun run;
  const double cpu_before = cpu_seconds_of_children();
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  while (const std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, got);
  const int status = ::pclose(pipe);
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds = cpu_seconds_of_children() - cpu_before;
  run.exit_status = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace

STimeResult run_openssl_s_time(const OpensslCommand& command) {
  STimeResult result;
  // -verify makes s_time verify the chain as our client does. Its callback only reports a
  // failure (on stderr, discarded with the per-certificate "depth=" lines) and carries on, so
  // describe_openssl_client() is what shows that the chain verifies against this CA.
  result.command = command.openssl + " s_time -connect " + command.host_port + " -new -time " +
                   std::to_string(command.seconds) + " -CAfile " + command.ca_file + " -verify 2";
  const std::string shell = "timeout -k 5 " + std::to_string(command.seconds + 30) + " " +
                            shell_quote(command.openssl) + " s_time -connect " + shell_quote(command.host_port) +
                            " -new -time " + std::to_string(command.seconds) + " -CAfile " +
                            shell_quote(command.ca_file) + " -verify 2 2>/dev/null";
  const ChildRun run = run_child(shell);
  result.wall_seconds = run.wall_seconds;
  result.cpu_seconds = run.cpu_seconds;

  // "1250 connections in 0.61s; 2049.18 connections/user sec, bytes read 0"
  // "1250 connections in 2 real seconds, 0 bytes read per connection"
  static const std::regex user_line(R"((\d+) connections in ([0-9.]+)s;)");
  static const std::regex real_line(R"((\d+) connections in (\d+) real seconds)");
  std::smatch match;
  if (std::regex_search(run.output, match, user_line)) result.user_seconds = std::stod(match[2]);
  if (std::regex_search(run.output, match, real_line)) {
    result.connections = std::stoul(match[1]);
    result.real_seconds = std::stol(match[2]);
  }
  if (run.exit_status != 0 || result.connections == 0) {
    result.error = "s_time exited with status " + std::to_string(run.exit_status) + "; output:\n" +
                   run.output.substr(run.output.size() > 2000 ? run.output.size() - 2000 : 0);
  } else if (run.output.find('*') == std::string::npos) {
    // One '*' per new (not resumed) handshake; 'r' would mean resumption, which -new excludes.
    result.error = "s_time printed no new-handshake marks";
  }
  return result;
}

NegotiatedParameters describe_openssl_client(const OpensslCommand& command) {
  NegotiatedParameters parameters;
  const ChildRun run = run_child("timeout -k 5 20 " + shell_quote(command.openssl) + " s_client -connect " +
                                 shell_quote(command.host_port) + " -CAfile " + shell_quote(command.ca_file) +
                                 " -brief </dev/null 2>&1");
  std::istringstream lines(run.output);
  bool verified = false;
  for (std::string line; std::getline(lines, line);) {
    const auto value_of = [&](const std::string& prefix) { return line.substr(prefix.size()); };
    if (line.rfind("Protocol version: ", 0) == 0) parameters.protocol = value_of("Protocol version: ");
    if (line.rfind("Ciphersuite: ", 0) == 0) parameters.cipher = value_of("Ciphersuite: ");
    if (line.rfind("Server Temp Key: ", 0) == 0) {
      // "X25519, 253 bits" or "ECDH, prime256v1, 256 bits"
      std::string key = value_of("Server Temp Key: ");
      if (key.rfind("ECDH, ", 0) == 0) key = key.substr(6);
      parameters.group = key.substr(0, key.find(','));
    }
    if (line == "Verification: OK") verified = true;
  }
  if (parameters.protocol.empty() || !verified) parameters.error = "s_client did not report a verified session:\n" + run.output;
  return parameters;
}

}  // namespace securechannel::bench

#include "demo/serve_process.hpp"

#include <signal.h>

#include <fstream>
#include <regex>
#include <thread>

namespace securechannel::demo {
namespace {

std::string nth_match(const std::string& text, const std::regex& pattern, std::size_t index) {
  std::size_t seen = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it) {
    if (seen++ == index) return (*it)[1].str();
  }
  return "";
}

}  // namespace

ServeProcess::ServeProcess(const std::string& binary, const std::filesystem::path& directory,
                           const std::string& config_text, const std::vector<std::string>& extra_arguments)
    : directory_(directory) {
  std::ofstream(config_file(), std::ios::trunc) << config_text;
  std::vector<std::string> arguments = {binary, "serve", "--config", config_file().string()};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  process_ = ChildProcess(arguments, directory_ / "serve.out", directory_ / "serve.err");
  // The summary's last part is the monitoring URLs: once "/metrics" is there, the rest is too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!monitoring_url().empty() && output().find("/api/v1/secure-channel/stats\n") != std::string::npos) {
      started_ = true;
      break;
    }
    if (!process_.is_running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

ServeProcess::~ServeProcess() { process_.stop(SIGKILL, std::chrono::milliseconds(0)); }

std::string ServeProcess::output() const { return read_text_file(directory_ / "serve.out"); }
std::string ServeProcess::errors() const { return read_text_file(directory_ / "serve.err"); }
std::string ServeProcess::diagnostics() const { return "stdout:\n" + output() + "\nstderr:\n" + errors(); }

std::string ServeProcess::listener(const std::string& mode, std::size_t index) const {
  return nth_match(output(), std::regex("  " + mode + " listener (?:http://)?([0-9a-f.:\\[\\]]+) "), index);
}

std::string ServeProcess::monitoring_url() const {
  return nth_match(output(), std::regex("  (https?://[^ \n]+)/metrics\n"), 0);
}

bool ServeProcess::signal(int number) { return process_.pid() > 0 && ::kill(process_.pid(), number) == 0; }

std::string ServeProcess::wait_for_exit(std::chrono::milliseconds limit) {
  if (!process_.wait_for_exit(limit)) return "still running";
  return process_.exit_description();
}

bool ServeProcess::wait_for_error_text(const std::string& text, std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (errors().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return errors().find(text) != std::string::npos;
}

}  // namespace securechannel::demo

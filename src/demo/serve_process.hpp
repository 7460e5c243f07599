// `scpool serve` run as the real program on a config file written by the caller: waits for its
// start-up summary and reads from it the addresses it printed (listeners on port 0 get theirs
// from the kernel), so that tests and `scpool demo` talk to the daemon as a user's service does.
//
//   ServeProcess serve(SC_SCPOOL_BINARY, directory, config_text);
//   if (!serve.started()) fail(serve.diagnostics());
//   std::string address = serve.listener("tcp");     // "127.0.0.1:40123"
//   serve.signal(SIGTERM);
//   serve.wait_for_exit(15s);                        // "exited with status 0"
#pragma once

#include "demo/child_process.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace securechannel::demo {

class ServeProcess {
 public:
  // Writes `config_text` to <directory>/scpool.toml and starts `<binary> serve` on it, with
  // stdout and stderr in <directory>/serve.out and serve.err; waits up to 30 s for the summary.
  ServeProcess(const std::string& binary, const std::filesystem::path& directory, const std::string& config_text,
               const std::vector<std::string>& extra_arguments = {});
  ~ServeProcess();  // SIGKILL when still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool started() const noexcept { return started_; }
  std::filesystem::path config_file() const { return directory_ / "scpool.toml"; }
  std::string output() const;
  std::string errors() const;
  std::string diagnostics() const;  // both, for failure messages

  // The address the `index`th listener of `mode` ("tcp", "http") was bound to, "" when none.
  std::string listener(const std::string& mode, std::size_t index = 0) const;
  std::string monitoring_url() const;  // "http://127.0.0.1:PORT" or "https://..."
  pid_t pid() const noexcept { return process_.pid(); }

  bool signal(int number);
  bool running() { return process_.is_running(); }
  // "exited with status 0", or "still running" when it did not exit within `limit`.
  std::string wait_for_exit(std::chrono::milliseconds limit);
  // Polls stderr until `text` shows up or `limit` passes.
  bool wait_for_error_text(const std::string& text, std::chrono::milliseconds limit = std::chrono::seconds(20)) const;

 private:
  std::filesystem::path directory_;
  ChildProcess process_;
  bool started_ = false;
};

}  // namespace securechannel::demo

#include "monitor_commands.hpp"

#include "monitor_client.hpp"
#include "monitor_views.hpp"

#include "securechannel/secure_buffer.hpp"

#include <fmt/core.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include <unistd.h>

namespace scpool {
namespace {

using nlohmann::json;

constexpr const char* command_names[] = {"status", "health", "connections", "stats", "endpoints"};

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted.store(true); }

// Percent-encodes a query value: namespaces are plain, but endpoints may hold IPv6 brackets.
std::string query_value(std::string_view text) {
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      encoded += c;
    } else {
      encoded += fmt::format("%{:02X}", byte);
    }
  }
  return encoded;
}

// One round of a command: what it prints, and its exit code.
struct Outcome {
  int exit_code = 0;
  std::string text;     // for stdout
  std::string problem;  // one line for stderr, when exit_code is 2
};

class Session {
 public:
  Session(const MonitorClient& client, const MonitorCommandOptions& options) : client_(client), options_(options) {}

  // GET `path`, answered with one of `accepted` statuses and a JSON body; else problem is set.
  std::optional<json> fetch(const std::string& path, std::initializer_list<unsigned> accepted, unsigned* status,
                            std::string& problem) const {
    const MonitorReply reply = client_.get(path);
    if (reply.error != MonitorError::none) {
      problem = reply.message;
      return std::nullopt;
    }
    json body = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
    if (std::find(accepted.begin(), accepted.end(), reply.status) == accepted.end()) {
      const std::string detail = body.is_object() && body.contains("message") && body["message"].is_string()
                                     ? body["message"].get<std::string>()
                                     : "unexpected answer";
      problem = fmt::format("{}{}: HTTP {}: {}", client_.url(), path, reply.status, detail);
      return std::nullopt;
    }
    if (body.is_discarded() || !body.is_object()) {
      problem = client_.url() + path + " did not answer with a JSON object";
      return std::nullopt;
    }
    if (status != nullptr) *status = reply.status;
    return body;
  }

  std::string pool_query(char separator = '?') const {
    return options_.pool.empty() ? std::string() : separator + std::string("pool=") + query_value(options_.pool);
  }

  Outcome status() const {
    Outcome outcome;
    const auto body = fetch("/api/v1/secure-channel/status/enhanced", {200, 503}, nullptr, outcome.problem);
    if (!body) return {2, {}, outcome.problem};
    return {body->value("/secure_channel/pool_healthy"_json_pointer, false) ? 0 : 1, render(*body, status_view), {}};
  }

  Outcome health() const {
    Outcome outcome;
    unsigned status = 0;
    const auto body = fetch("/healthz", {200, 503}, &status, outcome.problem);
    if (!body) return {2, {}, outcome.problem};
    return {status == 200 ? 0 : 1, render(*body, health_view), {}};
  }

  Outcome connections() const {
    Outcome outcome;
    std::string path = "/api/v1/secure-channel/connections";
    if (!options_.connection_id.empty()) path += "/" + query_value(options_.connection_id);
    const auto body = fetch(path + pool_query(), {200}, nullptr, outcome.problem);
    if (!body) return {2, {}, outcome.problem};
    const bool healthy = options_.connection_id.empty() ? all_connections_healthy(*body)
                                                        : body->value("is_healthy", true);
    return {healthy ? 0 : 1,
            render(*body, options_.connection_id.empty() ? connections_view : connection_view), {}};
  }

  Outcome stats() const {
    Outcome outcome;
    const auto pools = fetch("/api/v1/secure-channel/pools", {200}, nullptr, outcome.problem);
    if (!pools) return {2, {}, outcome.problem};
    json each = json::array();
    for (const json& pool : pools->value("pools", json::array())) {
      const std::string name = pool.value("namespace", "");
      if (!options_.pool.empty() && name != options_.pool) continue;
      const auto stats = fetch("/api/v1/secure-channel/stats?pool=" + query_value(name) +
                                   "&endpoint=" + query_value(pool.value("endpoint", "")),
                               {200}, nullptr, outcome.problem);
      if (!stats) return {2, {}, outcome.problem};
      each.push_back(*stats);
    }
    if (!options_.pool.empty() && each.empty()) {
      return {2, {}, client_.url() + " monitors no pool named " + options_.pool};
    }
    return {0, options_.json ? each.dump(2) + "\n" : stats_view(each), {}};
  }

  Outcome endpoints() const {
    Outcome outcome;
    const auto pools = fetch("/api/v1/secure-channel/pools", {200}, nullptr, outcome.problem);
    if (!pools) return {2, {}, outcome.problem};
    const auto health = fetch("/healthz", {200, 503}, nullptr, outcome.problem);
    if (!health) return {2, {}, outcome.problem};
    // `scpool serve` adds each endpoint's ejection state; another monitoring server answers 404.
    unsigned status = 0;
    const auto groups = fetch("/api/v1/secure-channel/endpoints", {200, 404}, &status, outcome.problem);
    if (!groups) return {2, {}, outcome.problem};
    const json ejection = status == 200 ? *groups : json::object();
    const bool healthy = health->value("pool_healthy", false) || pools->value("pools", json::array()).empty();
    if (options_.json) {
      json both = *pools;
      if (status == 200) both["groups"] = ejection["pools"];
      return {healthy ? 0 : 1, both.dump(2) + "\n", {}};
    }
    return {healthy ? 0 : 1, endpoints_view(*pools, *health, ejection), {}};
  }

 private:
  std::string render(const json& body, std::string (*view)(const json&)) const {
    return options_.json ? body.dump(2) + "\n" : view(body);
  }

  static bool all_connections_healthy(const json& list) {
    for (const json& connection : list.value("connections", json::array())) {
      if (!connection.value("is_healthy", true)) return false;
    }
    return true;
  }

  const MonitorClient& client_;
  const MonitorCommandOptions& options_;
};

Outcome run_once(const std::string& command, const Session& session) {
  if (command == "status") return session.status();
  if (command == "health") return session.health();
  if (command == "connections") return session.connections();
  if (command == "stats") return session.stats();
  return session.endpoints();
}

std::optional<std::string> read_token(const MonitorCommandOptions& options, std::string& problem) {
  if (options.token_file.empty()) return std::string();
  const securechannel::SharedSecret secret = securechannel::read_secret_file(options.token_file, problem);
  if (!secret) return std::nullopt;
  std::string token;
  secret->read([&](std::span<const std::byte> bytes) {
    token.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  });
  return token;
}

// Sleeps up to `seconds`, in short steps so that Ctrl-C ends the wait at once.
void wait_or_interrupt(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!interrupted.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int run(const std::string& command, const MonitorCommandOptions& options) {
  std::string problem;
  auto token = read_token(options, problem);
  if (!token) {
    fmt::print(stderr, "scpool {}: {}\n", command, problem);
    return 2;
  }
  const MonitorClient client({.url = options.url,
                              .token = std::move(*token),
                              .timeout = std::chrono::milliseconds(
                                  static_cast<std::int64_t>(options.timeout_seconds * 1'000)),
                              .ca_file = options.ca_file});
  const Session session(client, options);
  if (options.watch_seconds <= 0) {
    const Outcome outcome = run_once(command, session);
    std::fputs(outcome.text.c_str(), stdout);
    if (!outcome.problem.empty()) fmt::print(stderr, "scpool {}: {}\n", command, outcome.problem);
    return outcome.exit_code;
  }

  // --watch: until Ctrl-C (or SIGTERM), which ends the wait, not the process.
  interrupted.store(false);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  int exit_code = 0;
  while (!interrupted.load()) {
    const Outcome outcome = run_once(command, session);
    exit_code = outcome.exit_code;
    const std::time_t now = std::time(nullptr);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
    // Clear and home only on a terminal: piped to a file, the rounds simply follow each other.
    fmt::print("{}every {}s: scpool {} {}  {}\n\n", terminal ? "\x1b[H\x1b[2J" : "", options.watch_seconds, command,
               options.url, clock);
    std::fputs(outcome.text.c_str(), stdout);
    if (!terminal) std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!outcome.problem.empty()) fmt::print(stderr, "scpool {}: {}\n", command, outcome.problem);
    wait_or_interrupt(options.watch_seconds);
  }
  return exit_code;
}

}  // namespace

void add_monitor_client_commands(CLI::App& app, MonitorCommandOptions& options) {
  const std::pair<const char*, const char*> descriptions[] = {
      {"status", "Service status over every pool of a monitoring server (/api/v1/secure-channel/status/enhanced)"},
      {"health", "Health of every pool (/healthz): exit 0 healthy, 1 not"},
      {"connections", "Connections of a pool, or one of them by ID"},
      {"stats", "Statistics of every pool: requests, reuse, utilisation, errors, latency"},
      {"endpoints", "The monitored pools: endpoint, state, connections"},
  };
  for (const auto& [name, description] : descriptions) {
    CLI::App* command = app.add_subcommand(name, description);
    command->add_option("--url", options.url, "Monitoring server, http:// or https:// (default http://127.0.0.1:9090)");
    command->add_option("--ca-file", options.ca_file, "https: PEM file of the CAs to trust (default: the system's)")
        ->check(CLI::ExistingFile);
    command->add_option("--token-file", options.token_file, "File holding the X-Auth-Token")
        ->check(CLI::ExistingFile);
    command->add_flag("--json", options.json, "Print the JSON as received (pretty)");
    command->add_option("--watch", options.watch_seconds, "Redraw every SECONDS until Ctrl-C")
        ->check(CLI::Range(0.1, 86'400.0));
    command->add_option("--timeout", options.timeout_seconds, "Seconds per request (default 5)")
        ->check(CLI::Range(0.001, 3'600.0));
    if (std::string_view(name) == "connections") {
      command->add_option("--pool", options.pool, "Namespace of the pool (default: the first one added)");
    }
    if (std::string_view(name) == "stats") {
      command->add_option("--pool", options.pool, "Namespace of the pool (default: every pool)");
    }
    if (std::string_view(name) == "connections") {
      command->add_option("id", options.connection_id, "One connection's ID");
    }
  }
}

std::optional<int> run_monitor_command(const CLI::App& app, const MonitorCommandOptions& options) {
  for (const char* name : command_names) {
    if (app.get_subcommand(name)->parsed()) return run(name, options);
  }
  return std::nullopt;
}

}  // namespace scpool

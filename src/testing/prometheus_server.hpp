// The real Prometheus server (Debian's prometheus, /usr/bin/prometheus) scraping one target, for
// tests that prove our /metrics holds up against the scraper it is written for: its parser,
// its content negotiation, its handling of a failed scrape. It runs as a child process with its
// config and TSDB in a private temporary directory, listens on 127.0.0.1 on a port picked at run
// time, and scrapes every second.
//
//   // No skip when it is missing: scripts/bootstrap installs it, and a skip would hide that.
//   ASSERT_TRUE(securechannel::testing::PrometheusServer::available()) << "...";
//   securechannel::testing::PrometheusServer prometheus({.target = "127.0.0.1:" + std::to_string(port)});
//   auto samples = prometheus.query("up{job=\"securechannel\"}");
//   // samples[0].labels["instance"] == "127.0.0.1:<port>", samples[0].value == 1
#pragma once

#include "demo/child_process.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::testing {

struct PrometheusOptions {
  std::string target;                  // "host:port" of the one target scraped
  std::string job = "securechannel";   // its `job` label
  std::string metrics_path = "/metrics";
  std::chrono::seconds scrape_interval{1};
  std::string bearer_token{};          // sent as `Authorization: Bearer` with each scrape; empty: none
};

// One element of a query's result: an instant-vector sample, or a scalar with no labels.
struct PrometheusSample {
  std::map<std::string, std::string> labels;  // including __name__ when the result keeps it
  double value = 0;                           // NaN and ±Inf as Prometheus sent them
};

class PrometheusServer {
 public:
  static constexpr const char* binary = "/usr/bin/prometheus";
  // True when the prometheus binary is present and executable.
  static bool available();

  // Starts Prometheus and returns once GET /-/ready answers 200. Throws std::runtime_error, with
  // its log, when the binary is missing or it is not ready within about 30 s.
  explicit PrometheusServer(PrometheusOptions options);
  // SIGTERM, SIGKILL to its process group after about 5 s, then removes the temporary directory.
  ~PrometheusServer();

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const;  // "127.0.0.1:<port>"
  const PrometheusOptions& options() const { return options_; }

  // An instant query through the HTTP API (GET /api/v1/query). Throws std::runtime_error with
  // Prometheus's error (e.g. a PromQL syntax error) or when it does not answer within 10 s.
  std::vector<PrometheusSample> query(std::string_view promql) const;

  std::string log() const;  // its stdout and stderr, for failure messages

 private:
  // Starts Prometheus listening on `port` and waits until it is ready. False when the port was
  // taken meanwhile (worth another try); throws on any other failure.
  bool try_start(std::uint16_t port);

  PrometheusOptions options_;
  demo::TemporaryDirectory directory_;  // declared before process_: removed only after it is gone
  std::uint16_t port_ = 0;
  demo::ChildProcess process_;
};

}  // namespace securechannel::testing

#include "testing/prometheus_server.hpp"

#include "demo/loopback_port.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace securechannel::testing {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kStartAttempts = 5;  // a picked port can be taken before Prometheus binds it
// Opening the TSDB and replaying an empty WAL takes a second or two; slow CI machines more.
constexpr std::chrono::seconds kReadyTimeout{30};
constexpr std::chrono::milliseconds kReadyPollInterval{100};
constexpr std::chrono::milliseconds kProbeTimeout{1000};
constexpr std::chrono::seconds kQueryTimeout{10};
constexpr std::chrono::seconds kStopTimeout{5};

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// One GET on a private io_context. The stream's deadline covers connect, write and read, so
// io.run() returns within `limit` whatever the server does. Throws system_error on I/O failure.
HttpAnswer http_get(std::uint16_t port, const std::string& target, std::chrono::milliseconds limit) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::connection, "close");
  http::response<http::string_body> response;
  boost::beast::flat_buffer buffer;
  boost::system::error_code outcome;

  stream.expires_after(limit);
  const boost::asio::ip::tcp::endpoint server(boost::asio::ip::make_address_v4("127.0.0.1"), port);
  stream.async_connect(server, [&](boost::system::error_code connect_error) {
    if (connect_error) return void(outcome = connect_error);
    http::async_write(stream, request, [&](boost::system::error_code write_error, std::size_t) {
      if (write_error) return void(outcome = write_error);
      http::async_read(stream, buffer, response,
                       [&](boost::system::error_code read_error, std::size_t) { outcome = read_error; });
    });
  });
  io.run();
  if (outcome) throw boost::system::system_error(outcome, "GET http://127.0.0.1:" + std::to_string(port) + target);
  return {response.result_int(), std::move(response.body())};
}

// RFC 3986: everything but the unreserved characters as %XX, for a query parameter's value.
std::string percent_encoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      encoded += c;
    } else {
      encoded += '%';
      encoded += hex[byte >> 4];
      encoded += hex[byte & 0xF];
    }
  }
  return encoded;
}

// A JSON string is a valid YAML double-quoted scalar: no escaping rules of our own.
std::string yaml_quoted(const std::string& text) { return json(text).dump(); }

std::string make_config(const PrometheusOptions& options) {
  const std::string interval = std::to_string(options.scrape_interval.count()) + "s";
  std::ostringstream config;
  config << "# Written by securechannel::testing::PrometheusServer.\n"
         << "global:\n"
         << "  scrape_interval: " << interval << "\n"
         // The default of 10 s exceeds the interval, which Prometheus refuses.
         << "  scrape_timeout: " << interval << "\n"
         << "  evaluation_interval: " << interval << "\n"
         << "scrape_configs:\n"
         << "  - job_name: " << yaml_quoted(options.job) << "\n"
         << "    metrics_path: " << yaml_quoted(options.metrics_path) << "\n";
  if (!options.bearer_token.empty()) {
    config << "    authorization:\n      type: Bearer\n      credentials: " << yaml_quoted(options.bearer_token) << "\n";
  }
  config << "    static_configs:\n"
         << "      - targets: [" << yaml_quoted(options.target) << "]\n";
  return config.str();
}

// {"metric": {...}, "value": [<time>, "<value>"]}, or a scalar's bare [<time>, "<value>"].
PrometheusSample parse_sample(const json& labels, const json& value) {
  PrometheusSample sample;
  for (const auto& [name, label_value] : labels.items()) sample.labels[name] = label_value.get<std::string>();
  // Values travel as strings so that NaN and ±Inf survive JSON; strtod reads those spellings.
  sample.value = std::stod(value.at(1).get<std::string>());
  return sample;
}

std::vector<PrometheusSample> parse_query_answer(std::string_view promql, const HttpAnswer& answer) {
  const json document = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    throw std::runtime_error("PrometheusServer: query " + std::string(promql) + ": HTTP " +
                             std::to_string(answer.status) + ", not JSON: " + answer.body);
  }
  if (document.value("status", "") != "success") {
    throw std::runtime_error("PrometheusServer: query " + std::string(promql) + ": HTTP " +
                             std::to_string(answer.status) + ": " + document.value("errorType", "") + ": " +
                             document.value("error", ""));
  }
  const json& data = document.at("data");
  const std::string type = data.at("resultType").get<std::string>();
  std::vector<PrometheusSample> samples;
  if (type == "vector") {
    for (const json& element : data.at("result")) samples.push_back(parse_sample(element.at("metric"), element.at("value")));
  } else if (type == "scalar") {
    samples.push_back(parse_sample(json::object(), data.at("result")));
  } else {
    throw std::runtime_error("PrometheusServer: query " + std::string(promql) + " returned a " + type +
                             "; only instant vectors and scalars are parsed");
  }
  return samples;
}

// Prometheus's own answer, not that of another server that took the port meanwhile.
bool is_ready(std::uint16_t port) {
  try {
    const HttpAnswer answer = http_get(port, "/-/ready", kProbeTimeout);
    return answer.status == 200 && answer.body.find("Prometheus") != std::string::npos;
  } catch (const boost::system::system_error&) {
    return false;  // not listening yet
  }
}

}  // namespace

bool PrometheusServer::available() { return ::access(binary, X_OK) == 0; }

PrometheusServer::PrometheusServer(PrometheusOptions options)
    : options_(std::move(options)), directory_("securechannel-prometheus") {
  if (!available()) {
    throw std::runtime_error(std::string("PrometheusServer: ") + binary +
                             " is missing or not executable; scripts/bootstrap installs Debian's prometheus");
  }
  {
    const fs::path config_file = directory_.path() / "prometheus.yml";
    std::ofstream config(config_file);
    config << make_config(options_);
    if (!config.flush()) throw std::runtime_error("PrometheusServer: cannot write " + config_file.string());
  }
  for (int attempt = 1;; ++attempt) {
    if (try_start(demo::pick_free_tcp_port())) return;
    if (attempt == kStartAttempts) {
      throw std::runtime_error("PrometheusServer: every port picked was taken before Prometheus could bind it\n" +
                               log());
    }
  }
}

PrometheusServer::~PrometheusServer() { process_.stop(SIGTERM, kStopTimeout); }

bool PrometheusServer::try_start(std::uint16_t port) {
  const fs::path output_file = directory_.path() / "prometheus.log";
  process_ = demo::ChildProcess({binary, "--config.file=" + (directory_.path() / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (directory_.path() / "data").string(),
                           "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                          output_file, output_file);
  const auto deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    if (!process_.is_running()) {
      if (log().find("address already in use") != std::string::npos) return false;
      throw std::runtime_error("PrometheusServer: prometheus " + process_.exit_description() + " while starting\n" +
                               log());
    }
    if (is_ready(port)) {
      port_ = port;
      return true;
    }
    if (Clock::now() >= deadline) {
      process_.stop(SIGTERM, kStopTimeout);
      throw std::runtime_error("PrometheusServer: GET http://127.0.0.1:" + std::to_string(port) +
                               "/-/ready did not answer 200 within " + std::to_string(kReadyTimeout.count()) +
                               " s\n" + log());
    }
    std::this_thread::sleep_for(kReadyPollInterval);
  }
}

std::string PrometheusServer::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

std::vector<PrometheusSample> PrometheusServer::query(std::string_view promql) const {
  const HttpAnswer answer = http_get(port_, "/api/v1/query?query=" + percent_encoded(promql), kQueryTimeout);
  return parse_query_answer(promql, answer);
}

std::string PrometheusServer::log() const {
  return "--- prometheus log ---\n" + demo::read_text_file(directory_.path() / "prometheus.log");
}

}  // namespace securechannel::testing

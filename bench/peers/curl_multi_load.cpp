// libcurl's multi interface as a load generator, for the HTTP throughput benchmark's extra rows:
// one thread, `--concurrency` transfers in flight over at most `--connections` connections
// (HTTP/2: multiplexed). Bounded by time; prints one line that http_load_benchmark parses:
//
//   requests 12345 errors 0 seconds 5.001
//
//   curl_multi_load --url https://127.0.0.1:PORT/ --ca ca.pem --proto h2 --connections 4 --concurrency 128 --seconds 5
#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <fmt/core.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  std::string ca_file;
  std::string proto = "h1";
  long connections = 32;
  std::size_t concurrency = 32;
  double seconds = 5;
};

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

CURL* new_transfer(const Options& options) {
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return nullptr;
  curl_easy_setopt(easy, CURLOPT_URL, options.url.c_str());
  curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_3);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   options.proto == "h2" ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, options.proto == "h2" ? 1L : 0L);  // wait to multiplex
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10'000L);
  return easy;
}

int run(const Options& options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.connections);
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, options.proto == "h2" ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);

  std::vector<CURL*> transfers;
  for (std::size_t i = 0; i < options.concurrency; ++i) {
    CURL* easy = new_transfer(options);
    if (easy == nullptr) {
      fmt::print(stderr, "curl_multi_load: curl_easy_init failed\n");
      return 2;
    }
    transfers.push_back(easy);
    curl_multi_add_handle(multi, easy);
  }

  const auto started = Clock::now();
  const auto deadline = started + std::chrono::duration<double>(options.seconds);
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  int running = 0;
  std::size_t in_flight = transfers.size();  // ours, not curl's `running`, which lags re-added handles
  while (in_flight > 0) {
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      if (message->data.result == CURLE_OK && status == 200) {
        ++requests;
      } else {
        ++errors;
        if (first_error.empty()) first_error = curl_easy_strerror(message->data.result);
      }
      curl_multi_remove_handle(multi, easy);
      // Reuse the handle (and through the multi handle's pool, the connection) until time is up.
      if (Clock::now() < deadline) {
        curl_multi_add_handle(multi, easy);
      } else {
        --in_flight;
      }
    }
    if (in_flight > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  for (CURL* easy : transfers) curl_easy_cleanup(easy);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  fmt::print("requests {} errors {} seconds {:.3f}\n", requests, errors, seconds);
  if (!first_error.empty()) fmt::print(stderr, "curl_multi_load: first error: {}\n", first_error);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"libcurl multi load generator (one thread) for http_load_benchmark"};
  app.add_option("--url", options.url, "https URL")->required();
  app.add_option("--ca", options.ca_file, "CA file")->required()->check(CLI::ExistingFile);
  app.add_option("--proto", options.proto, "h1 or h2")->check(CLI::IsMember({"h1", "h2"}));
  app.add_option("--connections", options.connections, "connections at most")->check(CLI::Range(1, 1000));
  app.add_option("--concurrency", options.concurrency, "transfers in flight")->check(CLI::Range(1, 10000));
  app.add_option("--seconds", options.seconds, "duration")->check(CLI::Range(0.1, 120.0));
  CLI11_PARSE(app, argc, argv);
  return run(options);
}

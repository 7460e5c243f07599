// Every network call of a whole acquire → request → release → reuse → shutdown cycle, failed in
// turn: `scpool request` runs against nginx with its N-th socket call failing
// (tests/fault_injection/fail_nth_call.c, an LD_PRELOAD library), for N = 1, 2, ... until a run
// makes fewer than N calls. Every run must end by itself, without a crash or a sanitizer report,
// and account for each of its requests exactly once: answered, or failed with a named error.
// Beast's fail_count idea, over real sockets and a real server.
#include "demo/child_process.hpp"
#include "nginx_http_test.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

constexpr int requests_per_run = 3;  // one at a time: the second and third reuse the connection
constexpr long most_calls = 400;     // a bound on the loop, far above what a run makes

struct RunTally {
  int answered = 0;  // status 200
  int failed = 0;    // "scpool request: C x reason" lines
  int retries = 0;   // requests sent again
};

RunTally tally(const demo::CompletedProcess& run) {
  RunTally counts;
  std::smatch match;
  if (std::regex_search(run.standard_output, match, std::regex("status 200: ([0-9]+)"))) {
    counts.answered = std::stoi(match[1]);
  }
  if (std::regex_search(run.standard_output, match, std::regex("retries: ([0-9]+)"))) {
    counts.retries = std::stoi(match[1]);
  }
  const std::regex failure_line("scpool request: ([0-9]+) x ");
  for (auto it = std::sregex_iterator(run.standard_error.begin(), run.standard_error.end(), failure_line);
       it != std::sregex_iterator(); ++it) {
    counts.failed += std::stoi((*it)[1]);
  }
  return counts;
}

class FailNthCallTest : public testing::NginxHttpTest {
 protected:
  void SetUp() override {
    NginxHttpTest::SetUp();
    if (!IsSkipped()) start();
  }

  // Runs the cycle with call `n` failing; returns the run and how many calls it counted.
  std::pair<demo::CompletedProcess, long> run_failing_call(long n, const char* protocol) {
    const std::filesystem::path report = authority.directory() / "calls";
    std::filesystem::remove(report);
    auto run = demo::run_to_completion(
        {"/usr/bin/env", "LD_PRELOAD=" SC_FAIL_NTH_CALL_LIBRARY, "SC_FAIL_CALL=" + std::to_string(n),
         "SC_FAIL_CALL_REPORT=" + report.string(), SC_SCPOOL_BINARY, "request",
         "https://" + nginx->endpoint() + "/", "--ca", authority.ca_certificate_file().string(), protocol, "-n",
         std::to_string(requests_per_run), "-c", "1", "--timeout", "10"},
        "", 60s);
    long calls = -1;
    std::ifstream(report) >> calls;
    return {std::move(run), calls};
  }

  void fail_every_call_in_turn(const char* protocol) {
    int recovered = 0;  // runs whose failed call cost no request (a retry, a fresh connection)
    int retried = 0;    // runs that sent a request again
    long n = 1;
    for (; n <= most_calls; ++n) {
      const auto [run, calls] = run_failing_call(n, protocol);
      SCOPED_TRACE(std::string(protocol) + ", call " + std::to_string(n) + " failing: " + run.description() +
                   "\nstdout:\n" + run.standard_output + "stderr:\n" + run.standard_error);
      ASSERT_FALSE(run.timed_out) << "a failed call must never leave the program waiting";
      ASSERT_TRUE(run.exit_code().has_value()) << "killed by a signal";
      EXPECT_EQ(run.standard_error.find("Sanitizer"), std::string::npos);
      EXPECT_EQ(run.standard_error.find("runtime error"), std::string::npos);
      ASSERT_GE(calls, 0) << "the library did not report (the program did not exit normally)";
      const RunTally counts = tally(run);
      EXPECT_EQ(counts.answered + counts.failed, requests_per_run) << "each request ends exactly once";
      if (calls < n) {
        // Nothing failed: the whole cycle must succeed, and the loop is over.
        EXPECT_EQ(run.exit_code(), 0);
        EXPECT_EQ(counts.answered, requests_per_run);
        break;
      }
      EXPECT_NE(run.standard_error.find("fail_nth_call: call " + std::to_string(n) + " "), std::string::npos);
      EXPECT_TRUE(run.exit_code() == 0 || run.exit_code() == 1);
      // A request fails with the error of the call that failed (a reset, a refused connect), not
      // with an echo of it from another operation on the connection it left unusable.
      EXPECT_EQ(run.standard_error.find("not connected"), std::string::npos) << "a failure named by its echo";
      if (run.exit_code() == 0) ++recovered;
      if (counts.retries > 0) ++retried;
      if (::testing::Test::HasFailure()) return;  // one broken run says enough
    }
    ASSERT_LE(n, most_calls) << "the cycle never finished without a failure";
    EXPECT_GE(n, 10) << "too few network calls counted: is the library loaded?";
    EXPECT_GT(recovered, 0) << "some failed calls must be absorbed (a stale connection replaced, a retry)";
    EXPECT_GT(retried, 0) << "a request that failed on a reused connection before its response goes again";
    std::cout << protocol << ": " << n - 1 << " calls failed in turn; " << recovered
              << " of those runs still answered every request, " << retried << " by sending one again\n";
  }
};

TEST_F(FailNthCallTest, EveryCallOfAnHttp1CycleFailsInTurn) { fail_every_call_in_turn("--http1.1"); }

TEST_F(FailNthCallTest, EveryCallOfAnHttp2CycleFailsInTurn) { fail_every_call_in_turn("--http2"); }

}  // namespace
}  // namespace securechannel

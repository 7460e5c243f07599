// `scpool demo`, the README's first command, as a program: it runs `scpool serve` on a generated
// config, carries traffic through both listener kinds, prints the status table, and stops the
// daemon cleanly; with --forever it runs batches until SIGTERM and still stops cleanly.
#include "demo/child_process.hpp"
#include "io_thread.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#ifndef SC_SCPOOL_BINARY
#error "SC_SCPOOL_BINARY must name the scpool binary (tests/CMakeLists.txt sets it)"
#endif

namespace securechannel {
namespace {

namespace sct = securechannel::testing;
using namespace std::chrono_literals;

TEST(ScpoolDemoTest, CarriesTrafficThroughBothListenersAndStopsTheDaemonCleanly) {
  const demo::CompletedProcess run =
      demo::run_to_completion({SC_SCPOOL_BINARY, "demo", "--exchanges", "300", "--clients", "4"}, "", 120s);
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_output << run.standard_error;
  for (const char* expected : {"tcp listener 127.0.0.1:", ": 300 ok, 0 failed", "$ scpool status --url http://127.0.0.1:",
                               "demo_echo", "scpool serve stopped by SIGTERM: exited with status 0"}) {
    EXPECT_NE(run.standard_output.find(expected), std::string::npos) << expected << " in:\n" << run.standard_output;
  }
}

TEST(ScpoolDemoTest, ForeverRunsUntilSigtermThenStopsTheDaemonCleanly) {
  demo::TemporaryDirectory directory("securechannel-demo");
  const auto output = directory.path() / "stdout";
  demo::ChildProcess demo({SC_SCPOOL_BINARY, "demo", "--forever", "--exchanges", "200", "--clients", "2"}, output,
                         directory.path() / "stderr");
  ASSERT_TRUE(sct::eventually([&] { return demo::read_text_file(output).find("200 ok") != std::string::npos; }, 60s))
      << demo::read_text_file(output) << demo::read_text_file(directory.path() / "stderr");
  ASSERT_EQ(::kill(demo.pid(), SIGTERM), 0);
  ASSERT_TRUE(demo.wait_for_exit(60s)) << demo::read_text_file(output);
  EXPECT_EQ(demo.exit_description(), "exited with status 0")
      << demo::read_text_file(output) << demo::read_text_file(directory.path() / "stderr");
  EXPECT_NE(demo::read_text_file(output).find("scpool serve stopped by SIGTERM: exited with status 0"), std::string::npos);
}

}  // namespace
}  // namespace securechannel

// The C ABI (include/securechannel/securechannel.h) exercised by a C program (tests/c_abi/
// c_abi_test.c, built as C11 against libsecurechannel.so) against nginx with a test CA. The C
// program makes every check itself; this test gives it the upstreams (and a plain nginx) and reads
// its verdict.
#include "demo/child_process.hpp"
#include "nginx_http_test.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class CAbiTest : public testing::NginxHttpTest {};

TEST_F(CAbiTest, TheCProgramPassesEveryCheckAgainstNginx) {
  // /slow serves this file at 1 KiB/s: downloads still in flight when the C program frees its handles.
  options.generated_file_bytes = 256 * 1024;
  start();
  // And a plain one (http://, HTTP/1.1) for the plain pool's checks.
  demo::NginxOptions plain_options;
  plain_options.plain = true;
  plain_options.http2 = false;
  demo::NginxServer plain(plain_options);
  demo::TemporaryDirectory work{"securechannel-c-abi"};
  const auto run = demo::run_to_completion({SC_C_ABI_TEST_BINARY, nginx->endpoint(), authority.ca_certificate_file().string(),
                                            work.path().string(), plain.endpoint()},
                                           "", 240s);
  EXPECT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_output << run.standard_error;
  EXPECT_NE(run.standard_output.find("every check passed"), std::string::npos) << run.standard_output;
}

}  // namespace
}  // namespace securechannel

#include "securechannel/error.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

namespace securechannel {
namespace {

TEST(ErrorTest, CodesCompareAndCarryStableNames) {
  const boost::system::error_code ec = errc::pool_exhausted;
  EXPECT_EQ(ec, errc::pool_exhausted);
  EXPECT_EQ(std::string(ec.category().name()), "securechannel");
  EXPECT_EQ(error_kind(ec), "pool_exhausted");
  EXPECT_FALSE(ec.message().empty());
}

TEST(ErrorTest, EveryCodeHasANameAndAMessage) {
  for (int value = static_cast<int>(errc::pool_exhausted); value <= static_cast<int>(errc::last_error_code_); ++value) {
    const auto code = static_cast<errc>(value);
    EXPECT_NE(error_name(code), "unknown") << value;
    EXPECT_EQ(make_error_code(code).message().find("unknown"), std::string::npos) << value;
  }
  EXPECT_EQ(error_name(errc::certificate_verify_failed), "certificate_verify_failed");
  EXPECT_EQ(error_name(errc::circuit_open), "circuit_open");
}

TEST(ErrorTest, ForeignErrorsGetCoarseKinds) {
  EXPECT_EQ(error_kind({}), "none");
  EXPECT_EQ(error_kind(boost::asio::error::eof), "eof");
  EXPECT_EQ(error_kind(boost::asio::error::connection_reset), "connection_reset");
  EXPECT_EQ(error_kind(boost::asio::error::operation_aborted), "operation_aborted");
  EXPECT_EQ(error_kind(boost::asio::error::host_unreachable), "io_error");
}

}  // namespace
}  // namespace securechannel

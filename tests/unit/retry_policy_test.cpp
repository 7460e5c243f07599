// RetryPolicy on its own: which failed attempts of an HttpClient request go again, when, and
// what the caller is told otherwise.
#include "http/retry_policy.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

RetryPolicy policy_with_jitter(double jitter) {
  return RetryPolicy(std::make_shared<SequenceRandomSource>(std::initializer_list<double>{jitter}));
}

// A reused connection that failed before any byte of the response: the keep-alive race.
FailedAttempt keep_alive_race() {
  FailedAttempt attempt;
  attempt.error = asio::error::connection_reset;
  attempt.reused = true;
  return attempt;
}

FailedAttempt refused_stream(int attempts) {
  FailedAttempt attempt;
  attempt.error = errc::stream_refused;
  attempt.attempts = attempts;
  return attempt;
}

TEST(RetryPolicyTest, AReusedConnectionThatFailedBeforeTheResponseIsTriedOnceMore) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  EXPECT_EQ(policy.after(keep_alive_race()).action, RetryAction::send_again);

  FailedAttempt second = keep_alive_race();
  second.attempts = 2;
  const RetryDecision decision = policy.after(second);
  EXPECT_EQ(decision.action, RetryAction::give_up) << "once only";
  EXPECT_EQ(decision.error, asio::error::connection_reset);
}

TEST(RetryPolicyTest, EveryConnectionFailureKindCountsAsTheRace) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  for (const boost::system::error_code error :
       {boost::system::error_code(errc::connection_closed), boost::system::error_code(asio::error::eof),
        boost::system::error_code(asio::error::connection_reset), boost::system::error_code(asio::error::broken_pipe),
        boost::system::error_code(asio::error::not_connected),
        boost::system::error_code(asio::error::connection_aborted),
        boost::system::error_code(errc::protocol_error)}) {
    FailedAttempt attempt = keep_alive_race();
    attempt.error = error;
    EXPECT_EQ(policy.after(attempt).action, RetryAction::send_again) << error.message();
  }
}

TEST(RetryPolicyTest, WhatIsNotTheRaceIsNotSentAgain) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  FailedAttempt fresh = keep_alive_race();
  fresh.reused = false;
  EXPECT_EQ(policy.after(fresh).action, RetryAction::give_up) << "a new connection has no keep-alive race";
  EXPECT_EQ(policy.after(fresh).error, asio::error::connection_reset);

  FailedAttempt answered = keep_alive_race();
  answered.response_started = true;
  EXPECT_EQ(policy.after(answered).action, RetryAction::give_up) << "the server acted on it";
  EXPECT_EQ(policy.after(answered).error, asio::error::connection_reset);

  FailedAttempt timed_out = keep_alive_race();
  timed_out.error = errc::request_timeout;
  EXPECT_EQ(policy.after(timed_out).action, RetryAction::give_up);
  EXPECT_EQ(policy.after(timed_out).error, errc::request_timeout);
}

TEST(RetryPolicyTest, ARequestThatMayNotBeReplayedSaysSo) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  FailedAttempt post = keep_alive_race();
  post.method_replayable = false;
  RetryDecision decision = policy.after(post);
  EXPECT_EQ(decision.action, RetryAction::give_up);
  EXPECT_EQ(decision.error, errc::request_not_replayed) << "the caller decides whether it went through";

  FailedAttempt answered_post = post;
  answered_post.response_started = true;
  EXPECT_EQ(policy.after(answered_post).error, asio::error::connection_reset) << "it did reach the server";
}

TEST(RetryPolicyTest, ABodyFromTheCallersSourceIsSentAgainOnlyIfNothingWasRead) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  FailedAttempt unread = keep_alive_race();
  unread.body_source = true;
  EXPECT_EQ(policy.after(unread).action, RetryAction::send_again);

  FailedAttempt read = unread;
  read.callbacks_used = true;
  const RetryDecision decision = policy.after(read);
  EXPECT_EQ(decision.action, RetryAction::give_up);
  EXPECT_EQ(decision.error, errc::request_not_replayed);
}

TEST(RetryPolicyTest, ABodyHandedToTheCallersSinkStopsEveryRetry) {
  const RetryPolicy policy = policy_with_jitter(0.5);
  FailedAttempt refused = refused_stream(1);
  refused.callbacks_used = true;
  EXPECT_EQ(policy.after(refused).action, RetryAction::give_up);
  EXPECT_EQ(policy.after(refused).error, errc::stream_refused);
}

TEST(RetryPolicyTest, ARefusedStreamGoesAgainAtOnceThenAfterAGrowingJitteredWait) {
  const RetryPolicy policy = policy_with_jitter(0.999);
  FailedAttempt refused = refused_stream(1);
  refused.method_replayable = false;
  EXPECT_EQ(policy.after(refused).action, RetryAction::send_again) << "never processed: even a POST goes again";
  std::chrono::milliseconds previous{0};
  for (int attempts = 2; attempts < RetryPolicy::max_attempts_when_refused; ++attempts) {
    refused.attempts = attempts;
    const RetryDecision decision = policy.after(refused);
    ASSERT_EQ(decision.action, RetryAction::send_again_later) << attempts;
    EXPECT_GE(decision.delay, previous) << attempts;
    EXPECT_LE(decision.delay, RetryPolicy::refused_backoff_max) << attempts;
    previous = decision.delay;
  }
  EXPECT_GE(previous, RetryPolicy::refused_backoff_max - 1ms) << "the wait reached its ceiling";
  refused.attempts = RetryPolicy::max_attempts_when_refused;
  EXPECT_EQ(policy.after(refused).action, RetryAction::give_up) << "a server refusing everything";
  EXPECT_EQ(policy.after(refused).error, errc::stream_refused);
}

TEST(RetryPolicyTest, TheWaitAfterARefusalIsJittered) {
  const FailedAttempt refused = refused_stream(3);
  EXPECT_EQ(policy_with_jitter(0.0).after(refused).delay, 0ms);
  EXPECT_EQ(policy_with_jitter(0.5).after(refused).delay, 25ms) << "half the second wait's ceiling, 25 ms * 2";
}

}  // namespace
}  // namespace securechannel::detail

#include "securechannel/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// The bound the header promises: half a sub-bucket (1/64 of an octave) over the octave's start.
constexpr double error_bound = 1.0 / 128.0;
constexpr double one_minute_us = 60'000'000.0;

double relative_error(double reported, double expected) { return std::abs(reported - expected) / expected; }

// Every value on a log grid from 1 µs to 60 s (ratio 1.001), in nanoseconds, plus each bucket's
// lower edge, where the midpoint error is largest.
std::vector<std::int64_t> values_in_range_ns() {
  std::vector<std::int64_t> values;
  for (double ns = 1'000.0; ns <= 60e9; ns *= 1.001) values.push_back(static_cast<std::int64_t>(ns));
  values.push_back(60'000'000'000);
  for (std::size_t index = 0; index + 1 < HistogramSnapshot::bucket_count; ++index) {
    values.push_back(static_cast<std::int64_t>(std::ceil(HistogramSnapshot::bucket_lower_microseconds(index) * 1e3)));
  }
  return values;
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithoutGaps) {
  EXPECT_EQ(HistogramSnapshot::bucket_count, 1'652u);
  EXPECT_EQ(HistogramSnapshot::bucket_lower_microseconds(0), 1.0);
  for (std::size_t index = 0; index + 1 < HistogramSnapshot::bucket_count; ++index) {
    EXPECT_EQ(HistogramSnapshot::bucket_upper_microseconds(index), HistogramSnapshot::bucket_lower_microseconds(index + 1))
        << index;
    const double lower = HistogramSnapshot::bucket_lower_microseconds(index);
    const double half_width = (HistogramSnapshot::bucket_upper_microseconds(index) - lower) / 2.0;
    EXPECT_LE(half_width / lower, error_bound) << index;
  }
  EXPECT_EQ(HistogramSnapshot::bucket_upper_microseconds(HistogramSnapshot::bucket_count - 2), one_minute_us);
  EXPECT_TRUE(std::isinf(HistogramSnapshot::bucket_upper_microseconds(HistogramSnapshot::bucket_count - 1)));
}

TEST(LatencyHistogramTest, EveryValueInRangeIsWithinTheErrorBound) {
  for (const std::int64_t ns : values_in_range_ns()) {
    const double expected_us = static_cast<double>(ns) / 1e3;
    auto alone = std::make_unique<LatencyHistogram>();
    alone->record(std::chrono::nanoseconds(ns));
    const HistogramSnapshot single = alone->snapshot();
    ASSERT_EQ(single.count(), 1u);
    EXPECT_LE(relative_error(single.quantile(0.5), expected_us), error_bound) << ns << " ns";

    // The bucket holding the value: its midpoint is what a quantile reports when the max is no
    // help, so the bound must hold for the midpoint itself.
    const std::vector<HistogramBucket> nonempty = single.nonempty_buckets();
    ASSERT_EQ(nonempty.size(), 1u);
    EXPECT_GE(expected_us, nonempty[0].lower_microseconds) << ns << " ns";
    EXPECT_LE(expected_us, nonempty[0].upper_microseconds) << ns << " ns";
    const double midpoint = (nonempty[0].lower_microseconds + nonempty[0].upper_microseconds) / 2.0;
    EXPECT_LE(relative_error(midpoint, expected_us), error_bound) << ns << " ns";

    // With a much larger max, the lower rank is reported from its bucket alone.
    alone->record(2min);
    EXPECT_LE(relative_error(alone->snapshot().quantile(0.5), expected_us), error_bound) << ns << " ns";
  }
}

TEST(LatencyHistogramTest, MicrosecondRecordingMatchesNanosecondRecording) {
  for (double us = 1.0; us <= one_minute_us; us *= 1.01) {
    const auto whole_us = static_cast<std::uint64_t>(us);
    auto by_us = std::make_unique<LatencyHistogram>();
    auto by_ns = std::make_unique<LatencyHistogram>();
    by_us->record_microseconds(whole_us);
    by_ns->record(std::chrono::microseconds(whole_us));
    const HistogramSnapshot a = by_us->snapshot();
    const HistogramSnapshot b = by_ns->snapshot();
    ASSERT_EQ(a.nonempty_buckets().size(), 1u);
    EXPECT_EQ(a.nonempty_buckets()[0].lower_microseconds, b.nonempty_buckets()[0].lower_microseconds) << whole_us;
    EXPECT_EQ(a.sum_microseconds(), b.sum_microseconds()) << whole_us;
    EXPECT_LE(relative_error(a.sum_microseconds(), static_cast<double>(whole_us)), error_bound) << whole_us;
    EXPECT_EQ(a.max_microseconds(), static_cast<double>(whole_us));
  }
}

TEST(LatencyHistogramTest, UniformDistributionQuantiles) {
  LatencyHistogram histogram;
  for (std::uint64_t us = 1; us <= 10'000; ++us) histogram.record_microseconds(us);
  const HistogramSnapshot view = histogram.snapshot();
  EXPECT_EQ(view.count(), 10'000u);
  EXPECT_LE(relative_error(view.sum_microseconds(), 50'005'000.0), error_bound);
  EXPECT_EQ(view.max_microseconds(), 10'000.0);
  EXPECT_LE(relative_error(view.quantile(0.50), 5'000.0), 0.01);
  EXPECT_LE(relative_error(view.quantile(0.95), 9'500.0), 0.01);
  EXPECT_LE(relative_error(view.quantile(0.99), 9'900.0), 0.01);
  EXPECT_LE(relative_error(view.quantile(0.0), 1.0), 0.01);
  EXPECT_EQ(view.quantile(1.0), 10'000.0) << "the top rank is the exact max";
  EXPECT_EQ(view.quantile(-3.0), view.quantile(0.0));
  EXPECT_EQ(view.quantile(7.0), view.quantile(1.0));
  EXPECT_EQ(view.quantile(std::numeric_limits<double>::quiet_NaN()), view.quantile(0.0));
  double previous = 0.0;
  for (double q = 0.0; q <= 1.0; q += 0.001) {
    EXPECT_GE(view.quantile(q), previous) << q;
    previous = view.quantile(q);
  }
}

TEST(LatencyHistogramTest, EmptyHistogramReadsAsZero) {
  const HistogramSnapshot view = LatencyHistogram().snapshot();
  EXPECT_EQ(view.count(), 0u);
  EXPECT_EQ(view.sum_microseconds(), 0.0);
  EXPECT_EQ(view.max_microseconds(), 0.0);
  EXPECT_EQ(view.quantile(0.5), 0.0);
  EXPECT_EQ(view.quantile(1.0), 0.0);
  EXPECT_EQ(view.cumulative_count_at_or_below(std::numeric_limits<double>::infinity()), 0u);
  EXPECT_TRUE(view.nonempty_buckets().empty());
  EXPECT_EQ(view.quantile(0.5), HistogramSnapshot().quantile(0.5));
}

TEST(LatencyHistogramTest, UnderflowGoesToTheLowestBucket) {
  LatencyHistogram histogram;
  histogram.record(0ns);
  histogram.record(500ns);
  histogram.record(-5ms);  // a caller mixing clocks: treated as zero
  histogram.record_microseconds(0);
  const HistogramSnapshot view = histogram.snapshot();
  ASSERT_EQ(view.nonempty_buckets().size(), 1u);
  EXPECT_EQ(view.nonempty_buckets()[0].lower_microseconds, 1.0);
  EXPECT_EQ(view.nonempty_buckets()[0].count, 4u);
  EXPECT_DOUBLE_EQ(view.sum_microseconds(), 4 * (1.0 + 1.0 / 64 / 2)) << "each counts as the lowest bucket's midpoint";
  EXPECT_EQ(view.max_microseconds(), 0.5);
  EXPECT_LE(relative_error(view.quantile(0.5), 1.0), error_bound);
  EXPECT_EQ(view.overflow_count(), 0u);
}

TEST(LatencyHistogramTest, OverflowIsCountedAndMaxTracked) {
  LatencyHistogram histogram;
  histogram.record(1ms);
  histogram.record(60s);  // the top of the range is still in range
  histogram.record(61s);
  histogram.record_microseconds(90'000'000);
  const HistogramSnapshot view = histogram.snapshot();
  EXPECT_EQ(view.count(), 4u);
  EXPECT_EQ(view.overflow_count(), 2u);
  EXPECT_EQ(view.max_microseconds(), 90'000'000.0);
  // Above 60 s exact; in range, the bucket midpoint.
  EXPECT_LE(relative_error(view.sum_microseconds(), 1'000.0 + 60'000'000.0 + 61'000'000.0 + 90'000'000.0),
            error_bound);
  EXPECT_GE(view.sum_microseconds(), 151'000'000.0 + 59'000'000.0);
  EXPECT_EQ(view.quantile(1.0), 90'000'000.0);
  EXPECT_LE(relative_error(view.quantile(0.5), one_minute_us), error_bound);
  EXPECT_EQ(view.cumulative_count_at_or_below(one_minute_us), 2u);
  EXPECT_EQ(view.cumulative_count_at_or_below(1e12), 2u) << "overflow is only in +Inf";
  EXPECT_EQ(view.cumulative_count_at_or_below(std::numeric_limits<double>::infinity()), 4u);
}

TEST(LatencyHistogramTest, AbsurdInputsSaturateInsteadOfWrapping) {
  LatencyHistogram histogram;
  histogram.record_microseconds(std::numeric_limits<std::uint64_t>::max());  // e.g. an unsigned underflow
  histogram.record(std::chrono::nanoseconds::max());
  const HistogramSnapshot view = histogram.snapshot();
  EXPECT_EQ(view.overflow_count(), 2u);
  EXPECT_GE(view.sum_microseconds(), 2.0 * static_cast<double>(detail::latency_buckets::max_recordable_microseconds));
  EXPECT_GE(view.max_microseconds(), 9e15);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram fast;
  LatencyHistogram slow;
  LatencyHistogram both;
  for (std::uint64_t us = 1; us <= 5'000; ++us) {
    fast.record_microseconds(us);
    both.record_microseconds(us);
  }
  for (std::uint64_t us = 100'000; us <= 200'000; us += 10) {
    slow.record(std::chrono::microseconds(us));
    both.record(std::chrono::microseconds(us));
  }
  slow.record(70s);
  both.record(70s);

  HistogramSnapshot merged = fast.snapshot();
  merged.merge(slow.snapshot());
  HistogramSnapshot merged_in_place;
  fast.merge_into(merged_in_place);
  slow.merge_into(merged_in_place);
  const HistogramSnapshot expected = both.snapshot();

  for (const HistogramSnapshot* view : {&merged, &merged_in_place}) {
    EXPECT_EQ(view->count(), expected.count());
    EXPECT_EQ(view->sum_microseconds(), expected.sum_microseconds());
    EXPECT_EQ(view->max_microseconds(), 70'000'000.0);
    EXPECT_EQ(view->overflow_count(), 1u);
    for (const double q : {0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0}) EXPECT_EQ(view->quantile(q), expected.quantile(q)) << q;
    EXPECT_EQ(view->nonempty_buckets().size(), expected.nonempty_buckets().size());
  }
}

TEST(LatencyHistogramTest, CumulativeCountIsMonotonicAndExactOnBucketEdges) {
  LatencyHistogram histogram;
  for (double us = 0.5; us < 2 * one_minute_us; us *= 1.07) {
    histogram.record(std::chrono::nanoseconds(std::llround(us * 1e3)));
  }
  const HistogramSnapshot view = histogram.snapshot();
  const std::vector<HistogramBucket> nonempty = view.nonempty_buckets();

  std::uint64_t previous = 0;
  for (double bound = 0.1; bound < 4 * one_minute_us; bound *= 1.003) {
    const std::uint64_t at_or_below = view.cumulative_count_at_or_below(bound);
    std::uint64_t whole_buckets_at_or_below = 0;  // the documented approximation, spelled out
    for (const HistogramBucket& bucket : nonempty) {
      if (bucket.upper_microseconds <= bound) whole_buckets_at_or_below += bucket.count;
    }
    EXPECT_EQ(at_or_below, whole_buckets_at_or_below) << bound;
    EXPECT_GE(at_or_below, previous) << bound;
    EXPECT_LE(at_or_below, view.count());
    previous = at_or_below;
  }
  // On each bucket's upper edge the count is exactly the buckets so far.
  std::uint64_t running = 0;
  for (const HistogramBucket& bucket : nonempty) {
    running += bucket.count;
    EXPECT_EQ(view.cumulative_count_at_or_below(bucket.upper_microseconds), running) << bucket.upper_microseconds;
  }
  EXPECT_EQ(running, view.count());
  EXPECT_EQ(view.cumulative_count_at_or_below(0.5), 0u) << "no bucket ends below 1 µs";
  EXPECT_EQ(view.cumulative_count_at_or_below(std::numeric_limits<double>::quiet_NaN()), 0u);
}

TEST(LatencyHistogramTest, ConcurrentRecordersLoseNothing) {
  constexpr int threads = 4;
  constexpr std::uint64_t per_thread = 100'000;
  LatencyHistogram histogram;
  std::atomic<bool> recording{true};
  std::thread reader([&] {
    // A concurrent reader sees counts that only grow, and quantiles that stay in range.
    std::uint64_t previous = 0;
    while (recording.load()) {
      const HistogramSnapshot view = histogram.snapshot();
      EXPECT_GE(view.count(), previous);
      previous = view.count();
      const double p99 = view.quantile(0.99);
      EXPECT_TRUE(p99 == 0.0 || (p99 >= 1.0 && p99 <= 2'100.0)) << p99;
    }
  });
  std::vector<std::thread> recorders;
  for (int t = 0; t < threads; ++t) {
    recorders.emplace_back([&histogram, t] {
      const auto offset = static_cast<std::uint64_t>(t);
      for (std::uint64_t i = 0; i < per_thread; ++i) histogram.record_microseconds(1 + (i + offset) % 2'000);
    });
  }
  for (std::thread& recorder : recorders) recorder.join();
  recording.store(false);
  reader.join();

  const HistogramSnapshot view = histogram.snapshot();
  EXPECT_EQ(view.count(), threads * per_thread);
  std::uint64_t expected_sum = 0;
  for (int t = 0; t < threads; ++t) {
    for (std::uint64_t i = 0; i < per_thread; ++i) expected_sum += 1 + (i + static_cast<std::uint64_t>(t)) % 2'000;
  }
  EXPECT_LE(relative_error(view.sum_microseconds(), static_cast<double>(expected_sum)), error_bound);
  EXPECT_EQ(view.max_microseconds(), 2'000.0);
}

TEST(RotatingLatencyHistogramTest, RecentForgetsAfterTwoRotationsCumulativeNever) {
  RotatingLatencyHistogram histogram;
  histogram.record(10ms);
  EXPECT_EQ(histogram.recent().count(), 1u);

  histogram.rotate();  // 10 ms is now in the previous interval
  histogram.record_microseconds(200);
  EXPECT_EQ(histogram.recent().count(), 2u);
  EXPECT_EQ(histogram.recent().max_microseconds(), 10'000.0);

  histogram.rotate();  // 10 ms is forgotten; 200 µs is previous
  const HistogramSnapshot recent = histogram.recent();
  EXPECT_EQ(recent.count(), 1u);
  EXPECT_EQ(recent.max_microseconds(), 200.0);
  EXPECT_DOUBLE_EQ(recent.sum_microseconds(), 201.0);  // midpoint of its bucket [200, 202)

  histogram.rotate();
  EXPECT_EQ(histogram.recent().count(), 0u);
  EXPECT_EQ(histogram.recent().quantile(0.95), 0.0);

  const HistogramSnapshot all_time = histogram.cumulative();
  EXPECT_EQ(all_time.count(), 2u);
  EXPECT_LE(relative_error(all_time.sum_microseconds(), 10'200.0), error_bound);
  EXPECT_EQ(all_time.max_microseconds(), 10'000.0);
  EXPECT_EQ(all_time.quantile(1.0), 10'000.0);

  HistogramSnapshot pool_total;
  histogram.merge_cumulative_into(pool_total);
  histogram.merge_cumulative_into(pool_total);
  EXPECT_EQ(pool_total.count(), 4u);
  HistogramSnapshot pool_recent;
  histogram.merge_recent_into(pool_recent);
  EXPECT_EQ(pool_recent.count(), 0u);
}

TEST(RotatingLatencyHistogramTest, RotationDuringRecordingLosesNoSample) {
  constexpr int threads = 4;
  constexpr std::uint64_t per_thread = 50'000;
  RotatingLatencyHistogram histogram;
  std::atomic<int> running{threads};
  std::thread rotator([&] {
    std::uint64_t previous = 0;
    while (running.load() > 0) {
      histogram.rotate();
      const HistogramSnapshot all_time = histogram.cumulative();
      EXPECT_GE(all_time.count(), previous) << "Prometheus counters must never go down";
      previous = all_time.count();
      const std::uint64_t recent_count = histogram.recent().count();
      EXPECT_LE(recent_count, histogram.cumulative().count()) << "recent is part of the history";
    }
  });
  std::vector<std::thread> recorders;
  for (int t = 0; t < threads; ++t) {
    recorders.emplace_back([&] {
      for (std::uint64_t i = 0; i < per_thread; ++i) histogram.record_microseconds(100 + i % 1'000);
      running.fetch_sub(1);
    });
  }
  for (std::thread& recorder : recorders) recorder.join();
  rotator.join();

  const HistogramSnapshot all_time = histogram.cumulative();
  EXPECT_EQ(all_time.count(), threads * per_thread);
  std::uint64_t expected_sum = 0;
  for (std::uint64_t i = 0; i < per_thread; ++i) expected_sum += 100 + i % 1'000;
  EXPECT_LE(relative_error(all_time.sum_microseconds(), static_cast<double>(threads * expected_sum)), error_bound);
  EXPECT_EQ(all_time.max_microseconds(), 1'099.0);
}

TEST(RotatingLatencyHistogramTest, MemoryIsFixedAndModest) {
  EXPECT_LE(sizeof(LatencyHistogram), 14u * 1024u);
  EXPECT_LE(sizeof(RotatingLatencyHistogram), 40u * 1024u);
}

TEST(LatencyHistogramTest, SinceAnEarlierSnapshotHoldsOnlyTheLaterSamples) {
  LatencyHistogram cumulative;
  for (int i = 0; i < 1000; ++i) cumulative.record(50ms);  // an earlier, slow period
  const HistogramSnapshot earlier = cumulative.snapshot();
  LatencyHistogram later_only;
  for (int i = 1; i <= 100; ++i) {
    cumulative.record(std::chrono::microseconds(100 * i));
    later_only.record(std::chrono::microseconds(100 * i));
  }
  const HistogramSnapshot interval = cumulative.snapshot().since(earlier);
  const HistogramSnapshot expected = later_only.snapshot();
  EXPECT_EQ(interval.count(), 100u);
  for (const double q : {0.5, 0.95, 0.99}) EXPECT_EQ(interval.quantile(q), expected.quantile(q)) << q;
  // The earlier 50 ms maximum is not the interval's: its max is at most the top bucket's upper
  // edge, within a bucket's width (1/64 of an octave) of the largest later sample.
  EXPECT_LE(interval.max_microseconds(), 10'000.0 * (1 + 1.0 / 64));
  EXPECT_GE(interval.max_microseconds(), 10'000.0);

  EXPECT_EQ(earlier.since(earlier).count(), 0u);
  EXPECT_EQ(earlier.since(earlier).quantile(0.99), 0.0);
  EXPECT_EQ(earlier.since(cumulative.snapshot()).count(), 0u) << "a bucket that went down counts 0";
}

}  // namespace
}  // namespace securechannel

#include "securechannel/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace securechannel {

namespace buckets = detail::latency_buckets;

namespace {

constexpr double overflow_lower_microseconds = static_cast<double>(buckets::highest_microseconds);

// What a sample in regular bucket `index` is reported as: quantiles and the estimated sum.
double bucket_midpoint_microseconds(std::size_t index) noexcept {
  return (HistogramSnapshot::bucket_lower_microseconds(index) + HistogramSnapshot::bucket_upper_microseconds(index)) /
         2.0;
}

// How many buckets, from the lowest, lie wholly at or below `bound` µs: exactly those below the
// bucket that contains the bound (edges are multiples of 1/64 µs, so bound * 64 is exact).
std::size_t whole_buckets_at_or_below(double bound) noexcept {
  constexpr auto ticks_per_microsecond = static_cast<double>(buckets::ticks_per_microsecond);
  if (bound >= overflow_lower_microseconds) {
    return bound == std::numeric_limits<double>::infinity() ? buckets::bucket_count : buckets::regular_bucket_count;
  }
  if (bound >= 1.0) return buckets::index_for_ticks(static_cast<std::uint64_t>(bound * ticks_per_microsecond));
  return 0;  // below 1 µs, and NaN: nothing counted
}

// Where a rank lands, reported as one value: see HistogramSnapshot::quantile.
double representative_value(std::size_t index, double max_microseconds) noexcept {
  if (index == buckets::overflow_bucket) return std::max(max_microseconds, overflow_lower_microseconds);
  const double lower = HistogramSnapshot::bucket_lower_microseconds(index);
  const double midpoint = bucket_midpoint_microseconds(index);
  // The max is exact and at least the true quantile, so when it sits below the midpoint of the
  // quantile's own bucket it is the closer estimate. A max read slightly stale by a concurrent
  // snapshot can lie below the bucket: then it says nothing about this bucket and is ignored.
  if (max_microseconds >= lower && max_microseconds < midpoint) return max_microseconds;
  return midpoint;
}

}  // namespace

double HistogramSnapshot::bucket_lower_microseconds(std::size_t index) noexcept {
  if (index >= buckets::overflow_bucket) return overflow_lower_microseconds;
  const std::size_t octave = index / buckets::sub_bucket_count;
  const std::uint64_t sub_bucket = index % buckets::sub_bucket_count;
  const std::uint64_t lower_ticks = (buckets::sub_bucket_count + sub_bucket) << octave;
  return static_cast<double>(lower_ticks) / static_cast<double>(buckets::ticks_per_microsecond);
}

double HistogramSnapshot::bucket_upper_microseconds(std::size_t index) noexcept {
  if (index >= buckets::overflow_bucket) return std::numeric_limits<double>::infinity();
  const std::size_t octave = index / buckets::sub_bucket_count;
  const std::uint64_t sub_bucket = index % buckets::sub_bucket_count;
  const std::uint64_t upper_ticks = (buckets::sub_bucket_count + sub_bucket + 1) << octave;
  // The last regular bucket is cut at 60 s: anything above goes to the overflow bucket.
  return std::min(static_cast<double>(upper_ticks) / static_cast<double>(buckets::ticks_per_microsecond),
                  overflow_lower_microseconds);
}

double HistogramSnapshot::quantile(double q) const noexcept {
  if (count_ == 0) return 0.0;
  q = std::isnan(q) ? 0.0 : std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest sample with at least q * count samples at or below it.
  const auto wanted = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  const std::uint64_t rank = std::clamp<std::uint64_t>(wanted, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t index = 0; index < bucket_count; ++index) {
    seen += bucket_counts_[index];
    if (seen >= rank) return representative_value(index, max_microseconds());
  }
  return representative_value(buckets::overflow_bucket, max_microseconds());  // unreachable: count_ is the sum
}

std::uint64_t HistogramSnapshot::cumulative_count_at_or_below(double upper_bound_microseconds) const noexcept {
  std::uint64_t count = 0;
  cumulative_counts_at_or_below(std::span(&upper_bound_microseconds, 1), std::span(&count, 1));
  return count;
}

void HistogramSnapshot::cumulative_counts_at_or_below(std::span<const double> increasing_bounds_microseconds,
                                                      std::span<std::uint64_t> counts) const noexcept {
  std::size_t index = 0;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < increasing_bounds_microseconds.size() && i < counts.size(); ++i) {
    const std::size_t end = whole_buckets_at_or_below(increasing_bounds_microseconds[i]);
    for (; index < end; ++index) total += bucket_counts_[index];
    counts[i] = total;
  }
}

std::vector<HistogramBucket> HistogramSnapshot::nonempty_buckets() const {
  std::vector<HistogramBucket> result;
  for (std::size_t index = 0; index < bucket_count; ++index) {
    if (bucket_counts_[index] == 0) continue;
    result.push_back({bucket_lower_microseconds(index), bucket_upper_microseconds(index), bucket_counts_[index]});
  }
  return result;
}

double HistogramSnapshot::sum_microseconds() const noexcept {
  double sum = static_cast<double>(overflow_sum_microseconds_);
  for (std::size_t index = 0; index < buckets::regular_bucket_count; ++index) {
    if (bucket_counts_[index] == 0) continue;
    sum += static_cast<double>(bucket_counts_[index]) * bucket_midpoint_microseconds(index);
  }
  return sum;
}

void HistogramSnapshot::merge(const HistogramSnapshot& other) noexcept {
  for (std::size_t index = 0; index < bucket_count; ++index) bucket_counts_[index] += other.bucket_counts_[index];
  count_ += other.count_;
  overflow_sum_microseconds_ += other.overflow_sum_microseconds_;
  max_nanoseconds_ = std::max(max_nanoseconds_, other.max_nanoseconds_);
}

HistogramSnapshot HistogramSnapshot::since(const HistogramSnapshot& earlier) const noexcept {
  HistogramSnapshot interval;
  std::size_t highest = bucket_count;  // none yet
  for (std::size_t index = 0; index < bucket_count; ++index) {
    const std::uint64_t now = bucket_counts_[index];
    const std::uint64_t before = earlier.bucket_counts_[index];
    interval.bucket_counts_[index] = now > before ? now - before : 0;
    interval.count_ += interval.bucket_counts_[index];
    if (interval.bucket_counts_[index] != 0) highest = index;
  }
  if (overflow_sum_microseconds_ > earlier.overflow_sum_microseconds_) {
    interval.overflow_sum_microseconds_ = overflow_sum_microseconds_ - earlier.overflow_sum_microseconds_;
  }
  if (highest == bucket_count) return interval;
  if (highest == buckets::overflow_bucket) {
    interval.max_nanoseconds_ = max_nanoseconds_;
  } else {
    const auto upper_nanoseconds = static_cast<std::uint64_t>(bucket_upper_microseconds(highest) * 1'000.0);
    interval.max_nanoseconds_ = std::min(max_nanoseconds_, upper_nanoseconds);
  }
  return interval;
}

HistogramSnapshot LatencyHistogram::snapshot() const noexcept {
  HistogramSnapshot copy;
  merge_into(copy);
  return copy;
}

void LatencyHistogram::merge_into(HistogramSnapshot& total) const noexcept {
  // Buckets first, max last: a sample recorded meanwhile is then more likely to be in the max
  // too, which is what lets quantile() use the max for the top bucket.
  for (std::size_t index = 0; index < bucket_counts_.size(); ++index) {
    const std::uint64_t value = bucket_counts_[index].load(std::memory_order_relaxed);
    total.bucket_counts_[index] += value;
    total.count_ += value;
  }
  total.overflow_sum_microseconds_ += overflow_sum_microseconds_.load(std::memory_order_relaxed);
  total.max_nanoseconds_ = std::max(total.max_nanoseconds_, max_nanoseconds_.load(std::memory_order_relaxed));
}

void LatencyHistogram::drain_into(HistogramSnapshot& total) noexcept {
  for (std::size_t index = 0; index < bucket_counts_.size(); ++index) {
    const std::uint64_t value = bucket_counts_[index].exchange(0, std::memory_order_relaxed);
    total.bucket_counts_[index] += value;
    total.count_ += value;
  }
  total.overflow_sum_microseconds_ += overflow_sum_microseconds_.exchange(0, std::memory_order_relaxed);
  total.max_nanoseconds_ = std::max(total.max_nanoseconds_, max_nanoseconds_.exchange(0, std::memory_order_relaxed));
}

void RotatingLatencyHistogram::rotate() {
  const std::lock_guard lock(rotation_mutex_);
  const std::size_t older = 1 - current_.load(std::memory_order_relaxed);
  // Drain before switching: recorders are still on the other interval, so the drained one is
  // quiet (short of a recorder stalled for a whole interval, whose sample then simply stays).
  intervals_[older].drain_into(retired_);
  current_.store(older, std::memory_order_relaxed);
}

HistogramSnapshot RotatingLatencyHistogram::recent() const {
  HistogramSnapshot copy;
  merge_recent_into(copy);
  return copy;
}

HistogramSnapshot RotatingLatencyHistogram::cumulative() const {
  HistogramSnapshot copy;
  merge_cumulative_into(copy);
  return copy;
}

void RotatingLatencyHistogram::merge_recent_into(HistogramSnapshot& total) const {
  // The lock keeps rotate() from draining an interval half-way through this copy.
  const std::lock_guard lock(rotation_mutex_);
  for (const LatencyHistogram& interval : intervals_) interval.merge_into(total);
}

void RotatingLatencyHistogram::merge_cumulative_into(HistogramSnapshot& total) const {
  // Under the lock a drained sample is seen either in its interval or in retired_, never in
  // both or neither, so successive cumulative views never decrease.
  const std::lock_guard lock(rotation_mutex_);
  total.merge(retired_);
  for (const LatencyHistogram& interval : intervals_) interval.merge_into(total);
}

}  // namespace securechannel

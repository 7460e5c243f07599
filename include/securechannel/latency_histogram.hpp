// Lock-free log-linear (HDR-style) latency histograms: the one latency recorder every layer uses,
// so the pool's p95 checks, the JSON status and the Prometheus `_latency_ms` / `_seconds`
// histograms all read the same data.
//
//   LatencyHistogram handshakes;                              // fixed memory, no allocation
//   handshakes.record(std::chrono::steady_clock::now() - start);   // lock-free, any thread
//   HistogramSnapshot view = handshakes.snapshot();          // from any thread, at any time
//   double p95_us = view.quantile(0.95);
//   std::uint64_t under_50ms = view.cumulative_count_at_or_below(50'000.0);  // `le` bucket
//
//   RotatingLatencyHistogram round_trips;                    // cumulative + recent window
//   round_trips.record_microseconds(850);
//   round_trips.rotate();                                    // from the cleanup task
//   double recent_p95_us = round_trips.recent().quantile(0.95);     // last one to two intervals
//   HistogramSnapshot all_time = round_trips.cumulative();   // monotonic: for Prometheus
//
// Layout: the tracked range 1 µs .. 60 s is cut into octaves [2^j, 2^(j+1)) µs, each split into
// 64 equal sub-buckets (1,651 buckets in all, plus one overflow bucket). A value is reported as
// the midpoint of its bucket, so the relative error is at most half a sub-bucket over the
// octave's lower edge: 1/128 = 0.78125 % for every value in [1 µs, 60 s]. Values below 1 µs are
// counted in the lowest bucket; values above 60 s in the overflow bucket (and in max).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <span>
#include <vector>

namespace securechannel {

namespace detail::latency_buckets {

// Values are classified in ticks of 1/64 µs (15.625 ns): the octaves then start exactly at
// 1, 2, 4, ... µs and an octave's 64 sub-buckets are found with a shift, not a division.
inline constexpr unsigned sub_bucket_bits = 6;
inline constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;
inline constexpr std::uint64_t ticks_per_microsecond = sub_bucket_count;
inline constexpr std::uint64_t lowest_nanoseconds = 1'000;              // 1 µs
inline constexpr std::uint64_t highest_nanoseconds = 60'000'000'000;    // 60 s, still in range
inline constexpr std::uint64_t highest_microseconds = highest_nanoseconds / 1'000;
// Inputs are saturated here (the range of std::chrono::nanoseconds), so a caller's unsigned
// underflow cannot wrap the sum in one sample.
inline constexpr std::uint64_t max_recordable_nanoseconds =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
inline constexpr std::uint64_t max_recordable_microseconds = max_recordable_nanoseconds / 1'000;

// ticks >= ticks_per_microsecond (callers clamp first).
constexpr std::size_t index_for_ticks(std::uint64_t ticks) noexcept {
  const auto octave = static_cast<unsigned>(std::bit_width(ticks)) - (sub_bucket_bits + 1);
  return static_cast<std::size_t>(octave * sub_bucket_count + ((ticks >> octave) - sub_bucket_count));
}

inline constexpr std::size_t regular_bucket_count = index_for_ticks(highest_microseconds * ticks_per_microsecond) + 1;
inline constexpr std::size_t overflow_bucket = regular_bucket_count;
inline constexpr std::size_t bucket_count = regular_bucket_count + 1;
static_assert(regular_bucket_count == 1'651, "26 octaves of 64 sub-buckets, the last one cut at 60 s");

// Where one sample goes; computed once even when a sample feeds several histograms.
struct Classified {
  std::size_t bucket;
  std::uint64_t microseconds;  // added to the overflow sum when above the range
  std::uint64_t nanoseconds;   // candidate for the max
};

constexpr Classified classify_nanoseconds(std::int64_t signed_nanoseconds) noexcept {
  // A negative duration (a caller mixing clocks) is treated as zero, i.e. the lowest bucket.
  const std::uint64_t nanoseconds = signed_nanoseconds < 0 ? 0 : static_cast<std::uint64_t>(signed_nanoseconds);
  // Rounded, not truncated, so a sum of sub-µs-precision samples is not biased low.
  const std::uint64_t microseconds = (nanoseconds + 500) / 1'000;
  if (nanoseconds > highest_nanoseconds) return {overflow_bucket, microseconds, nanoseconds};
  // ns * 64 / 1000 == ns * 8 / 125: the compiler turns the constant division into a multiply.
  const std::uint64_t ticks = nanoseconds < lowest_nanoseconds ? ticks_per_microsecond : nanoseconds * 8 / 125;
  return {index_for_ticks(ticks), microseconds, nanoseconds};
}

constexpr Classified classify_microseconds(std::uint64_t microseconds) noexcept {
  if (microseconds > max_recordable_microseconds) microseconds = max_recordable_microseconds;
  const std::uint64_t nanoseconds = microseconds * 1'000;
  if (microseconds > highest_microseconds) return {overflow_bucket, microseconds, nanoseconds};
  const std::uint64_t ticks = microseconds == 0 ? ticks_per_microsecond : microseconds * ticks_per_microsecond;
  return {index_for_ticks(ticks), microseconds, nanoseconds};
}

}  // namespace detail::latency_buckets

// One bucket of a snapshot. It holds values in [lower, upper) µs, except: the lowest bucket
// also holds everything below 1 µs, the last regular bucket ends at exactly 60 s inclusive, and
// the overflow bucket is [60 s, +infinity) (it holds values strictly above 60 s).
struct HistogramBucket {
  double lower_microseconds;
  double upper_microseconds;
  std::uint64_t count;
};

// A plain copy of a histogram's counters: read it, merge it, keep it. No atomics, no locks.
class HistogramSnapshot {
 public:
  static constexpr std::size_t bucket_count = detail::latency_buckets::bucket_count;

  HistogramSnapshot() noexcept = default;  // empty; merge other snapshots into it

  // Always equals the sum of the bucket counts (it is computed from them).
  std::uint64_t count() const noexcept { return count_; }
  // Sum of the samples, estimated as HdrHistogram does: each sample in [1 µs, 60 s] counts as its
  // bucket's midpoint, so the sum (and any mean from it) is within 0.78125 % of the true one;
  // samples below 1 µs count as the lowest bucket's midpoint (about 1 µs); samples above 60 s
  // are summed exactly (to 1 µs). Keeping no exact sum is what lets record() do one atomic add
  // on a bucket spread over 1,652 cache lines instead of a second one on a single hot line.
  double sum_microseconds() const noexcept;
  // Largest value recorded (also above 60 s); 0 when empty.
  double max_microseconds() const noexcept { return static_cast<double>(max_nanoseconds_) / 1'000.0; }
  std::uint64_t overflow_count() const noexcept { return bucket_counts_[detail::latency_buckets::overflow_bucket]; }

  // Value (µs) at quantile q in [0, 1] (clamped; NaN reads as 0), by nearest rank: the
  // midpoint of the bucket holding the ceil(q * count)-th smallest sample, or the recorded max
  // when that lies in the same bucket and is smaller. Within 0.78125 % of the true sample value
  // for samples in [1 µs, 60 s]. A rank in the overflow bucket returns max (at least 60 s).
  // 0 when empty.
  double quantile(double q) const noexcept;

  // Samples in whole buckets whose upper edge is <= upper_bound_microseconds: a Prometheus `le`
  // bucket. Samples in (edge, bound] of the bucket straddling the bound are not counted
  // (at most the 1/64 of an octave just below the bound), so a bound on a bucket edge (e.g. a
  // power of two µs) is exact. Non-decreasing in the bound; the overflow bucket (above 60 s) is
  // counted only for +infinity, so the `+Inf` bucket equals count().
  std::uint64_t cumulative_count_at_or_below(double upper_bound_microseconds) const noexcept;
  // The same for several bounds in increasing order, in one pass over the buckets (a scrape's
  // `le` series): counts[i] is cumulative_count_at_or_below(increasing_bounds[i]). `counts` must
  // be at least as long as the bounds.
  void cumulative_counts_at_or_below(std::span<const double> increasing_bounds_microseconds,
                                     std::span<std::uint64_t> counts) const noexcept;

  // Non-empty buckets in increasing order, for exposition and debugging (allocates).
  std::vector<HistogramBucket> nonempty_buckets() const;

  // Adds `other` in: counts and sums add, max is the larger. Merge order does not matter.
  void merge(const HistogramSnapshot& other) noexcept;
  // The samples recorded between `earlier` and this snapshot, both taken of one cumulative
  // histogram (the dashboard's latency over each 5 s): bucket counts subtract (a bucket that
  // went down counts 0). The interval's max is not known exactly: it reads as this snapshot's
  // max when that lies in the interval's highest bucket, else as that bucket's upper edge, so
  // quantiles keep their 1/64-octave precision.
  HistogramSnapshot since(const HistogramSnapshot& earlier) const noexcept;

  // Edges of bucket `index` < bucket_count, in µs (see HistogramBucket).
  static double bucket_lower_microseconds(std::size_t index) noexcept;
  static double bucket_upper_microseconds(std::size_t index) noexcept;

 private:
  friend class LatencyHistogram;

  std::array<std::uint64_t, bucket_count> bucket_counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t overflow_sum_microseconds_ = 0;  // exact sum of the samples above 60 s
  std::uint64_t max_nanoseconds_ = 0;
};

// Lock-free recorder: one relaxed fetch_add on a bucket (wait-free; a second one on the
// overflow sum only for samples above 60 s), and a max that costs a CAS only when the max grows;
// the CAS retries only if another thread raised the max meanwhile. No allocation, lock or
// syscall. Any number of threads may record while others snapshot.
//
// Consistency of snapshot(): each counter is read atomically, but not all at the same instant,
// so a sample being recorded concurrently may already be in its bucket and not yet in the max
// (or the reverse). count() is derived from the buckets, so count and quantiles never
// disagree; quantile() uses max only when it is consistent with the bucket it picked.
//
// Memory: 1,652 64-bit counters (13,216 bytes) plus overflow sum and max, fixed at construction.
class alignas(64) LatencyHistogram {
 public:
  LatencyHistogram() noexcept = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  void record(std::chrono::nanoseconds latency) noexcept {
    record(detail::latency_buckets::classify_nanoseconds(latency.count()));
  }
  void record_microseconds(std::uint64_t microseconds) noexcept {
    record(detail::latency_buckets::classify_microseconds(microseconds));
  }

  HistogramSnapshot snapshot() const noexcept;
  // Adds this histogram into `total` without an intermediate copy: aggregating a pool.
  void merge_into(HistogramSnapshot& total) const noexcept;

 private:
  friend class RotatingLatencyHistogram;

  // Inline: the record path is a few instructions, a call into the library would double it.
  void record(const detail::latency_buckets::Classified& sample) noexcept {
    bucket_counts_[sample.bucket].fetch_add(1, std::memory_order_relaxed);
    // Above 60 s, i.e. the overflow bucket (tested on the value: GCC 12 misreads a test of the
    // index as a possible out-of-bounds store above).
    if (sample.nanoseconds > detail::latency_buckets::highest_nanoseconds) [[unlikely]] {
      overflow_sum_microseconds_.fetch_add(sample.microseconds, std::memory_order_relaxed);
    }
    std::uint64_t seen = max_nanoseconds_.load(std::memory_order_relaxed);
    while (sample.nanoseconds > seen &&
           !max_nanoseconds_.compare_exchange_weak(seen, sample.nanoseconds, std::memory_order_relaxed)) {
    }
  }

  // Moves every counter into `total` with atomic exchanges, leaving this histogram empty: a
  // sample recorded concurrently lands either in `total` or in what stays here, never nowhere.
  void drain_into(HistogramSnapshot& total) noexcept;

  std::array<std::atomic<std::uint64_t>, detail::latency_buckets::bucket_count> bucket_counts_{};
  std::atomic<std::uint64_t> overflow_sum_microseconds_{0};
  std::atomic<std::uint64_t> max_nanoseconds_{0};
};

// A cumulative histogram (never reset: Prometheus histogram series must be monotonic) and a
// recent window made of the current and the previous interval, for "p95 over the last
// rotation interval or two" decisions such as recycling slow connections.
//
// A sample is recorded once, into the current interval. rotate() drains the older interval into
// the retired totals with atomic exchanges and makes it current, so the cumulative view is
// retired + previous + current: rotation loses no sample, even one recorded during rotate().
// Only a recorder that stalls for a whole interval between choosing an interval and writing to
// it is affected: its bucket, sum and max may land in a later window of recent(), not
// necessarily all in the same one; cumulative() still counts it exactly once. rotate(),
// recent() and cumulative() serialize on a mutex; the record path takes no lock.
//
// Memory: three sets of 1,652 counters (about 39 KB), fixed at construction. Meant for a pool
// or an endpoint, not for every connection (ConnectionStats keeps per-connection data small).
class RotatingLatencyHistogram {
 public:
  RotatingLatencyHistogram() noexcept = default;
  RotatingLatencyHistogram(const RotatingLatencyHistogram&) = delete;
  RotatingLatencyHistogram& operator=(const RotatingLatencyHistogram&) = delete;

  void record(std::chrono::nanoseconds latency) noexcept {
    current_interval().record(detail::latency_buckets::classify_nanoseconds(latency.count()));
  }
  void record_microseconds(std::uint64_t microseconds) noexcept {
    current_interval().record(detail::latency_buckets::classify_microseconds(microseconds));
  }

  // Starts a new interval: the previous one is forgotten by recent(), kept by cumulative().
  void rotate();

  HistogramSnapshot recent() const;      // previous + current interval
  HistogramSnapshot cumulative() const;  // everything since construction
  void merge_recent_into(HistogramSnapshot& total) const;
  void merge_cumulative_into(HistogramSnapshot& total) const;

 private:
  LatencyHistogram& current_interval() noexcept {
    // Relaxed is enough: whichever interval a racing recorder picks, rotate() drains with
    // exchanges, so the sample is counted; the index only decides which window it belongs to.
    return intervals_[current_.load(std::memory_order_relaxed)];
  }

  std::array<LatencyHistogram, 2> intervals_;
  std::atomic<std::size_t> current_{0};
  mutable std::mutex rotation_mutex_;
  HistogramSnapshot retired_;  // samples of drained intervals; guarded by rotation_mutex_
};

}  // namespace securechannel

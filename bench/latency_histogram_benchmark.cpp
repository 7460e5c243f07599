// Cost of the histogram's hot path (record) and of a reader's view (snapshot + quantiles), and
// memory per histogram as counters, so the figures in docs/BENCHMARKS.md can be re-checked:
//   latency_histogram_benchmark --benchmark_min_time=0.2
#include "securechannel/latency_histogram.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

namespace securechannel {
namespace {

// Log-uniform latencies from 10 µs to 1 s, so records spread over many buckets as in a pool; a
// power-of-two table is walked with a mask to keep the loop overhead out of the measurement.
constexpr std::size_t sample_count = 4'096;

std::array<std::int64_t, sample_count> latency_samples_ns() {
  std::array<std::int64_t, sample_count> samples{};
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> exponent(4.0, 9.0);  // 10^4 .. 10^9 ns
  for (std::int64_t& sample : samples) sample = static_cast<std::int64_t>(std::pow(10.0, exponent(random)));
  return samples;
}

const std::array<std::int64_t, sample_count>& samples() {
  static const std::array<std::int64_t, sample_count> table = latency_samples_ns();
  return table;
}

// The floor of record(): its one relaxed fetch_add on a bucket, alone, on this machine; and what
// the exact sum it used to keep (a second fetch_add on one shared counter) cost on top.
std::array<std::atomic<std::uint64_t>, sample_count> floor_counters{};
std::atomic<std::uint64_t> floor_sum{0};

void BM_FloorOneFetchAdd(benchmark::State& state) {
  const auto& values = samples();
  std::size_t next = 0;
  for (auto _ : state) {
    const auto value = static_cast<std::uint64_t>(values[next++ & (sample_count - 1)]);
    floor_counters[value & (sample_count - 1)].fetch_add(1, std::memory_order_relaxed);
  }
}
BENCHMARK(BM_FloorOneFetchAdd);

void BM_FloorTwoFetchAdds(benchmark::State& state) {
  const auto& values = samples();
  std::size_t next = 0;
  for (auto _ : state) {
    const auto value = static_cast<std::uint64_t>(values[next++ & (sample_count - 1)]);
    floor_counters[value & (sample_count - 1)].fetch_add(1, std::memory_order_relaxed);
    floor_sum.fetch_add(value, std::memory_order_relaxed);
  }
}
BENCHMARK(BM_FloorTwoFetchAdds);

void BM_Record(benchmark::State& state) {
  LatencyHistogram histogram;
  const auto& values = samples();
  std::size_t next = 0;
  for (auto _ : state) {
    histogram.record(std::chrono::nanoseconds(values[next++ & (sample_count - 1)]));
  }
  benchmark::DoNotOptimize(histogram.snapshot().count());
  state.counters["bytes_per_histogram"] = static_cast<double>(sizeof(LatencyHistogram));
}
BENCHMARK(BM_Record);

void BM_RecordMicroseconds(benchmark::State& state) {
  LatencyHistogram histogram;
  const auto& values = samples();
  std::size_t next = 0;
  for (auto _ : state) {
    histogram.record_microseconds(static_cast<std::uint64_t>(values[next++ & (sample_count - 1)]) / 1'000);
  }
  benchmark::DoNotOptimize(histogram.snapshot().count());
}
BENCHMARK(BM_RecordMicroseconds);

void BM_RotatingRecord(benchmark::State& state) {
  RotatingLatencyHistogram histogram;
  const auto& values = samples();
  std::size_t next = 0;
  for (auto _ : state) {
    histogram.record(std::chrono::nanoseconds(values[next++ & (sample_count - 1)]));
  }
  benchmark::DoNotOptimize(histogram.cumulative().count());
  state.counters["bytes_per_histogram"] = static_cast<double>(sizeof(RotatingLatencyHistogram));
}
BENCHMARK(BM_RotatingRecord);

// Every thread records into one shared histogram: the cache lines of the max and the popular
// buckets bounce between cores.
LatencyHistogram shared_histogram;

void BM_RecordContended(benchmark::State& state) {
  const auto& values = samples();
  std::size_t next = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    shared_histogram.record(std::chrono::nanoseconds(values[next++ & (sample_count - 1)]));
  }
}
BENCHMARK(BM_RecordContended)->Threads(1)->Threads(2)->UseRealTime();

HistogramSnapshot filled_snapshot_source(LatencyHistogram& histogram) {
  for (const std::int64_t sample : samples()) histogram.record(std::chrono::nanoseconds(sample));
  return histogram.snapshot();
}

void BM_SnapshotAndQuantiles(benchmark::State& state) {
  LatencyHistogram histogram;
  filled_snapshot_source(histogram);
  for (auto _ : state) {
    const HistogramSnapshot view = histogram.snapshot();
    benchmark::DoNotOptimize(view.quantile(0.5));
    benchmark::DoNotOptimize(view.quantile(0.95));
    benchmark::DoNotOptimize(view.quantile(0.99));
  }
  state.counters["bytes_per_snapshot"] = static_cast<double>(sizeof(HistogramSnapshot));
}
BENCHMARK(BM_SnapshotAndQuantiles);

// What a Prometheus scrape of one rotating histogram costs: the cumulative view and 12 `le`
// buckets (0.5 ms .. 10 s).
void BM_RotatingCumulativeScrape(benchmark::State& state) {
  RotatingLatencyHistogram histogram;
  for (const std::int64_t sample : samples()) histogram.record(std::chrono::nanoseconds(sample));
  histogram.rotate();
  constexpr std::array<double, 12> bounds_us{500, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 1e7};
  for (auto _ : state) {
    const HistogramSnapshot view = histogram.cumulative();
    for (const double bound : bounds_us) benchmark::DoNotOptimize(view.cumulative_count_at_or_below(bound));
  }
}
BENCHMARK(BM_RotatingCumulativeScrape);

}  // namespace
}  // namespace securechannel

BENCHMARK_MAIN();

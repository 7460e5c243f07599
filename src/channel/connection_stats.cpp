#include "securechannel/connection_stats.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace securechannel {
namespace {

constexpr int mantissa_bits = 11;

// Values below 2^11 µs are exact; above, the top 11 significant bits and the shift are kept.
std::uint16_t encode_microseconds(std::uint32_t micros) noexcept {
  const int shift = std::max(0, static_cast<int>(std::bit_width(micros)) - mantissa_bits);
  return static_cast<std::uint16_t>((shift << mantissa_bits) | (micros >> shift));
}

std::uint32_t decode_microseconds(std::uint16_t code) noexcept {
  const int shift = code >> mantissa_bits;
  const std::uint32_t mantissa = code & ((1u << mantissa_bits) - 1);
  // The middle of the range the code stands for, so the error is at most half a step.
  return (mantissa << shift) + (shift > 0 ? (1u << (shift - 1)) : 0u);
}

}  // namespace

void ConnectionStats::record_round_trip(std::chrono::nanoseconds round_trip) noexcept {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(round_trip).count();
  const auto clamped = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(micros, 1, std::numeric_limits<std::uint32_t>::max()));
  const std::uint64_t slot = round_trips_.fetch_add(1, std::memory_order_relaxed) % latency_sample_capacity;
  latency_codes_[slot].store(encode_microseconds(clamped), std::memory_order_relaxed);
}

std::uint32_t ConnectionStats::last_round_trip_us() const noexcept {
  const std::uint64_t recorded = round_trips();
  if (recorded == 0) return 0;
  const std::uint16_t code = latency_codes_[(recorded - 1) % latency_sample_capacity].load(std::memory_order_relaxed);
  return code == 0 ? 0 : decode_microseconds(code);
}

std::size_t ConnectionStats::copy_latency_samples_us(
    std::array<std::uint32_t, latency_sample_capacity>& out) const noexcept {
  const std::uint64_t recorded = round_trips();
  const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(recorded, latency_sample_capacity));
  std::size_t kept = 0;
  for (std::size_t i = 0; i < count; ++i) {
    // A slot may still read 0 if its writer has not stored yet; skip it rather than report 0 µs.
    if (const std::uint16_t code = latency_codes_[i].load(std::memory_order_relaxed); code != 0) {
      out[kept++] = decode_microseconds(code);
    }
  }
  return kept;
}

double ConnectionStats::latency_quantile_ms(double quantile) const noexcept {
  std::array<std::uint32_t, latency_sample_capacity> samples{};
  const std::size_t count = copy_latency_samples_us(samples);
  if (count == 0) return 0.0;
  const auto rank = static_cast<std::size_t>(std::clamp(quantile, 0.0, 1.0) * static_cast<double>(count - 1) + 0.5);
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(rank),
                   samples.begin() + static_cast<std::ptrdiff_t>(count));
  return static_cast<double>(samples[rank]) / 1000.0;
}

}  // namespace securechannel

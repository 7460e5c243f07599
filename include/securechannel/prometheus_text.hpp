// Prometheus text exposition format 0.0.4, written by hand because it is small and its escaping
// rules are easy to get subtly wrong (seed 003): HELP text escapes backslash and newline, label
// values also escape the double quote, and every family gets exactly one HELP and one TYPE line
// however many pools contribute samples to it.
//
//   MetricFamilies families;
//   families.family("relay_active_connections", "Open connections.", MetricType::gauge)
//       .sample("relay_active_connections", {{"endpoint", "relay.example.com:443"}}, 5);
//   std::string text = families.render();   // Content-Type: text/plain; version=0.0.4
#pragma once

#include "securechannel/latency_histogram.hpp"

#include <cstdint>
#include <initializer_list>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel {

inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (names starting with "__" are reserved).
bool is_valid_metric_name(std::string_view name) noexcept;
bool is_valid_label_name(std::string_view name) noexcept;

// Appends `value` as Prometheus writes floats: shortest round-trip form, "+Inf", "-Inf", "NaN".
void append_metric_value(std::string& out, double value);
// Both write UTF-8 only: a byte that is not part of well-formed UTF-8 becomes U+FFFD (Prometheus
// refuses a whole scrape for one label value that is not UTF-8).
void append_escaped_label_value(std::string& out, std::string_view value);
void append_escaped_help(std::string& out, std::string_view help);

// Upper bounds of the `le` buckets a histogram is exposed with, in the metric's unit.
struct HistogramLayout {
  std::span<const double> upper_bounds;  // increasing; "+Inf" is added
  double microseconds_per_unit;          // 1'000 for milliseconds, 1'000'000 for seconds
};
extern const HistogramLayout milliseconds_layout;  // 0.1 ms .. 10 s
extern const HistogramLayout seconds_layout;       // 100 µs .. 30 s

class MetricFamily {
 public:
  // One sample line. `name` is the family name or, for histograms, name_bucket/_sum/_count.
  // Another name, an invalid label name or one given twice throw std::invalid_argument (before
  // anything is written). Label values may hold any bytes: what is not UTF-8 becomes U+FFFD.
  MetricFamily& sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value);
  // _bucket lines for every bound of `layout` plus +Inf, then _sum and _count, all derived from
  // one snapshot so that they agree with each other. Bucket counts are exact on bucket edges of
  // the latency histogram and within 1/64 of an octave elsewhere (HistogramSnapshot). In a
  // family that is not a histogram, or with a label named "le", throws std::invalid_argument.
  MetricFamily& histogram(std::initializer_list<MetricLabel> labels, const HistogramSnapshot& snapshot,
                          const HistogramLayout& layout);

 private:
  friend class MetricFamilies;
  MetricFamily(std::string name, std::string help, MetricType type)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {}
  void append_labels(std::initializer_list<MetricLabel> labels, std::string_view extra_name = {},
                     std::string_view extra_value = {});
  bool is_own_sample_name(std::string_view name) const noexcept;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::string samples_;  // rendered sample lines
  bool valid_ = true;    // false when declared twice with another type: its samples are dropped
};

// The families of one scrape, in order of first declaration.
class MetricFamilies {
 public:
  // The family `name`, declared now or by an earlier call (several pools share families and
  // differ by label). A redeclaration with another type yields a family whose samples are
  // discarded, and it is reported by conflicts(): one TYPE per name is what the format allows.
  // Invalid names throw std::invalid_argument: they are programming errors, not data.
  MetricFamily& family(std::string_view name, std::string_view help, MetricType type);

  std::string render() const;
  const std::vector<std::string>& conflicts() const noexcept { return conflicts_; }

 private:
  std::deque<MetricFamily> families_;  // a deque: references handed out stay valid
  std::map<std::string, std::size_t, std::less<>> index_;
  MetricFamily discarded_{"", "", MetricType::gauge};
  std::vector<std::string> conflicts_;
};

}  // namespace securechannel

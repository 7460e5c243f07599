#include "securechannel/prometheus_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace securechannel {

namespace {

bool is_name_start(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) noexcept { return is_name_start(c) || (c >= '0' && c <= '9'); }

std::string_view type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// The length of the well-formed UTF-8 sequence (RFC 3629: shortest form, no surrogates, at most
// U+10FFFF) that `text` starts with, or 0 when it does not start with one.
std::size_t utf8_sequence_length(std::string_view text) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [&](std::size_t i, unsigned char low = 0x80, unsigned char high = 0xbf) {
    return i < text.size() && byte(i) >= low && byte(i) <= high;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // E0: no overlong forms; ED: no surrogates (RFC 3629 section 4).
    const unsigned char low = lead == 0xe0 ? 0xa0 : 0x80, high = lead == 0xed ? 0x9f : 0xbf;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned char low = lead == 0xf0 ? 0x90 : 0x80, high = lead == 0xf4 ? 0x8f : 0xbf;
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

// Appends `text` with `escape` applied to its ASCII characters and every byte that does not
// belong to well-formed UTF-8 replaced by U+FFFD: Prometheus refuses a whole scrape for one
// label value that is not UTF-8 (prometheus/prometheus#2851), and the format allows only UTF-8
// in HELP text too.
template <class Escape>
void append_utf8(std::string& out, std::string_view text, Escape escape) {
  while (!text.empty()) {
    const std::size_t length = utf8_sequence_length(text);
    if (length == 1) {
      escape(out, text.front());
    } else if (length > 1) {
      out.append(text.data(), length);
    } else {
      out += "\xEF\xBF\xBD";
    }
    text.remove_prefix(length == 0 ? 1 : length);
  }
}

// Throws std::invalid_argument for a label name the format does not allow or one given twice
// (Prometheus refuses a whole scrape for a sample with a repeated label name). Checked before
// anything of a sample is written, so that a caller who catches it renders no half line.
void check_labels(std::initializer_list<MetricLabel> labels, std::string_view extra_name) {
  for (auto label = labels.begin(); label != labels.end(); ++label) {
    if (!is_valid_label_name(label->name)) {
      throw std::invalid_argument("invalid Prometheus label name: " + std::string(label->name));
    }
    if (label->name == extra_name || std::any_of(labels.begin(), label, [&](const MetricLabel& earlier) {
          return earlier.name == label->name;
        })) {
      throw std::invalid_argument("repeated Prometheus label name: " + std::string(label->name));
    }
  }
}

constexpr std::array<double, 16> millisecond_bounds{0.1, 0.25, 0.5, 1,   2.5,  5,    10,   25,
                                                    50,  100,  250, 500, 1000, 2500, 5000, 10000};
constexpr std::array<double, 17> second_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};

}  // namespace

const HistogramLayout milliseconds_layout{millisecond_bounds, 1'000.0};
const HistogramLayout seconds_layout{second_bounds, 1'000'000.0};

bool is_valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || !(is_name_start(name.front()) || name.front() == ':')) return false;
  for (char c : name) {
    if (!is_name_char(c) && c != ':') return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) noexcept {
  if (name.empty() || !is_name_start(name.front()) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

void append_metric_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' own clients use: shortest
    // digits, plain notation for exponents -4..20. Bucket bounds are labels, so "0.0001" and
    // "1e-04" would be two different series for the same bucket.
    std::array<char, 64> digits{};
    const auto scientific =
        std::to_chars(digits.data(), digits.data() + digits.size(), value, std::chars_format::scientific);
    const std::string_view text(digits.data(), static_cast<std::size_t>(scientific.ptr - digits.data()));
    const int exponent = std::atoi(text.data() + text.find('e') + 1);
    if (exponent < -4 || exponent >= 21) {
      out.append(text);
    } else {
      const auto fixed = std::to_chars(digits.data(), digits.data() + digits.size(), value, std::chars_format::fixed);
      out.append(digits.data(), fixed.ptr);
    }
  }
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  append_utf8(out, value, [](std::string& to, char c) {
    switch (c) {
      case '\\': to += "\\\\"; break;
      case '"': to += "\\\""; break;
      case '\n': to += "\\n"; break;
      default: to += c;
    }
  });
}

void append_escaped_help(std::string& out, std::string_view help) {
  append_utf8(out, help, [](std::string& to, char c) {
    switch (c) {
      case '\\': to += "\\\\"; break;
      case '\n': to += "\\n"; break;
      default: to += c;
    }
  });
}

void MetricFamily::append_labels(std::initializer_list<MetricLabel> labels, std::string_view extra_name,
                                 std::string_view extra_value) {
  if (labels.size() == 0 && extra_name.empty()) return;
  samples_ += '{';
  bool first = true;
  auto append_one = [&](std::string_view name, std::string_view value) {
    if (!first) samples_ += ',';
    first = false;
    samples_ += name;
    samples_ += "=\"";
    append_escaped_label_value(samples_, value);
    samples_ += '"';
  };
  for (const MetricLabel& label : labels) append_one(label.name, label.value);
  if (!extra_name.empty()) append_one(extra_name, extra_value);
  samples_ += '}';
}

MetricFamily& MetricFamily::sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value) {
  if (!valid_) return *this;
  if (!is_valid_metric_name(name)) throw std::invalid_argument("invalid Prometheus metric name: " + std::string(name));
  if (!is_own_sample_name(name)) {
    throw std::invalid_argument("Prometheus sample " + std::string(name) + " outside its family " + name_);
  }
  check_labels(labels, {});
  samples_ += name;
  append_labels(labels);
  samples_ += ' ';
  append_metric_value(samples_, value);
  samples_ += '\n';
  return *this;
}

MetricFamily& MetricFamily::histogram(std::initializer_list<MetricLabel> labels, const HistogramSnapshot& snapshot,
                                      const HistogramLayout& layout) {
  if (!valid_) return *this;
  if (type_ != MetricType::histogram) {
    throw std::invalid_argument("Prometheus histogram samples in " + std::string(type_name(type_)) + " family " + name_);
  }
  check_labels(labels, "le");
  const std::string bucket_name = name_ + "_bucket";
  std::vector<double> bounds_microseconds;
  bounds_microseconds.reserve(layout.upper_bounds.size());
  for (double bound : layout.upper_bounds) bounds_microseconds.push_back(bound * layout.microseconds_per_unit);
  std::vector<std::uint64_t> cumulative(bounds_microseconds.size());
  snapshot.cumulative_counts_at_or_below(bounds_microseconds, cumulative);
  std::string bound_text;
  for (std::size_t i = 0; i < layout.upper_bounds.size(); ++i) {
    bound_text.clear();
    append_metric_value(bound_text, layout.upper_bounds[i]);
    samples_ += bucket_name;
    append_labels(labels, "le", bound_text);
    samples_ += ' ';
    append_metric_value(samples_, static_cast<double>(cumulative[i]));
    samples_ += '\n';
  }
  samples_ += bucket_name;
  append_labels(labels, "le", "+Inf");
  samples_ += ' ';
  append_metric_value(samples_, static_cast<double>(snapshot.count()));
  samples_ += '\n';
  sample(name_ + "_sum", labels, static_cast<double>(snapshot.sum_microseconds()) / layout.microseconds_per_unit);
  sample(name_ + "_count", labels, static_cast<double>(snapshot.count()));
  return *this;
}

bool MetricFamily::is_own_sample_name(std::string_view name) const noexcept {
  if (type_ != MetricType::histogram) return name == name_;
  if (!name.starts_with(name_)) return false;
  const std::string_view suffix = name.substr(name_.size());
  return suffix == "_bucket" || suffix == "_sum" || suffix == "_count";
}

MetricFamily& MetricFamilies::family(std::string_view name, std::string_view help, MetricType type) {
  if (!is_valid_metric_name(name)) throw std::invalid_argument("invalid Prometheus metric name: " + std::string(name));
  if (auto found = index_.find(name); found != index_.end()) {
    MetricFamily& existing = families_[found->second];
    if (existing.type_ == type) return existing;
    conflicts_.push_back(std::string(name) + " declared as " + std::string(type_name(existing.type_)) + " and " +
                         std::string(type_name(type)));
    discarded_ = MetricFamily("", "", type);
    discarded_.valid_ = false;
    return discarded_;
  }
  index_.emplace(std::string(name), families_.size());
  families_.push_back(MetricFamily(std::string(name), std::string(help), type));
  return families_.back();
}

std::string MetricFamilies::render() const {
  std::string out;
  std::size_t size = 0;
  for (const MetricFamily& family : families_) size += family.samples_.size() + family.help_.size() + 64;
  out.reserve(size);
  for (const MetricFamily& family : families_) {
    out += "# HELP ";
    out += family.name_;
    out += ' ';
    append_escaped_help(out, family.help_);
    out += "\n# TYPE ";
    out += family.name_;
    out += ' ';
    out += type_name(family.type_);
    out += '\n';
    out += family.samples_;
  }
  return out;
}

}  // namespace securechannel

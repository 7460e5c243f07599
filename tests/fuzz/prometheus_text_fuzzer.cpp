// The Prometheus text renderer, round trip: families, samples and histograms declared from the
// input through a MetricsRegistry collector (names, HELP text and label values with quotes,
// backslashes, newlines, bytes that are not UTF-8), rendered, and read back by a strict parser
// of the exposition format written here. Checked: every line is well-formed (HELP, then TYPE,
// then the family's samples; escapes only \\ \" \n; UTF-8 only); what is read back is exactly
// what was declared (label values and HELP text byte for byte when they are UTF-8, with U+FFFD
// for each byte that is not; values bit for bit); whatever the renderer refuses (invalid or
// repeated names, a sample outside its family) throws std::invalid_argument and leaves no trace,
// and a collector that lets it escape fails the whole render, after which the registry renders
// as before once it is removed.
// Input: a sequence of operations (see run_operations).
#include "securechannel/latency_histogram.hpp"
#include "securechannel/metrics_registry.hpp"
#include "securechannel/prometheus_text.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace securechannel;

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "prometheus_text_fuzzer: %s\n", why);
  std::abort();
}
#define CHECK(condition) \
  if (!(condition)) fail(#condition)

// --- The format's rules, written again here rather than taken from the renderer.

bool name_char(char c, bool first, bool colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return letter || (!first && c >= '0' && c <= '9');
}
bool valid_metric_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, true)) return false;
  }
  return !name.empty();
}
bool valid_label_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, false)) return false;
  }
  return !name.empty() && !name.starts_with("__");
}

// `text` with every byte outside well-formed UTF-8 replaced by U+FFFD (decoded code point by
// code point: shortest form, no surrogates, at most U+10FFFF).
std::string as_utf8(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 6 ? 2 : lead >> 4 == 14 ? 3 : lead >> 3 == 30 ? 4 : 0;
    std::uint32_t code = length == 1 ? lead : length == 2 ? lead & 0x1f : length == 3 ? lead & 0x0f : lead & 0x07;
    bool ok = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      ok = next >> 6 == 2;
      code = code << 6 | (next & 0x3f);
    }
    const std::uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && code >= shortest[length] && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// --- What the input declared, as it must read back.

struct ExpectedLabel {
  std::string name, value;      // value as UTF-8
  std::optional<double> bound;  // for a histogram's `le` below +Inf: compared as a number
};
struct ExpectedSample {
  std::string name;
  std::vector<ExpectedLabel> labels;
  std::optional<double> value;  // none: a histogram bucket below +Inf (checked for order only)
  bool bucket = false;          // a _bucket line of histogram(): cumulative, up to +Inf
};
struct ExpectedFamily {
  std::string name, help, type;
  std::vector<ExpectedSample> samples;
};
struct Expected {
  std::vector<ExpectedFamily> families;
  std::string invalid_name;  // one the renderer refused, if any
};

std::string type_text(MetricType type) {
  return type == MetricType::counter ? "counter" : type == MetricType::gauge ? "gauge" : "histogram";
}

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  std::uint8_t byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  std::string text() {
    const std::size_t length = std::min<std::size_t>(byte() % 48, size_);
    std::string out(reinterpret_cast<const char*>(data_), length);
    data_ += length, size_ -= length;
    return out;
  }
  double number() {
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | byte();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

// Up to 4 labels: MetricLabel holds views, so the strings live in `storage`.
struct Labels {
  std::vector<std::string> storage;
  std::vector<MetricLabel> list;
};
Labels read_labels(Reader& in) {
  Labels labels;
  const std::size_t count = in.byte() % 5;
  labels.storage.reserve(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    labels.storage.push_back(in.text());
    labels.storage.push_back(in.text());
  }
  for (std::size_t i = 0; i < count; ++i) labels.list.push_back({labels.storage[2 * i], labels.storage[2 * i + 1]});
  return labels;
}
// MetricFamily takes an initializer_list: the few sizes read_labels makes.
template <class Call>
void with_labels(const Labels& labels, Call call) {
  const auto& l = labels.list;
  switch (l.size()) {
    case 0: return call({});
    case 1: return call({l[0]});
    case 2: return call({l[0], l[1]});
    case 3: return call({l[0], l[1], l[2]});
    default: return call({l[0], l[1], l[2], l[3]});
  }
}
bool labels_allowed(const Labels& labels, std::string_view extra_name) {
  for (std::size_t i = 0; i < labels.list.size(); ++i) {
    if (!valid_label_name(labels.list[i].name) || labels.list[i].name == extra_name) return false;
    for (std::size_t k = 0; k < i; ++k) {
      if (labels.list[k].name == labels.list[i].name) return false;
    }
  }
  return true;
}
std::vector<ExpectedLabel> expected_labels(const Labels& labels) {
  std::vector<ExpectedLabel> out;
  for (const MetricLabel& label : labels.list) {
    out.push_back({std::string(label.name), as_utf8(label.value), std::nullopt});
  }
  return out;
}

// Runs the input's operations on `families`, noting in `expected` what must be rendered.
// Operations (first byte % 4): 0 declares a family (name, help, type); 1 adds a sample to the
// last one declared (name: the family's, a histogram suffix, or a text of the input; labels;
// value); 2 adds a histogram (labels, up to 7 latencies, a layout); 3 declares a family under a
// name of the input's and sample under another, both possibly invalid.
void run_operations(Reader in, MetricFamilies& families, Expected& expected) {
  MetricFamily* current = nullptr;
  // Of expected.families; none when the current family is a conflict's, discarded.
  std::optional<std::size_t> current_index;
  for (int operation = 0; operation < 48 && !in.empty(); ++operation) {
    switch (in.byte() % 4) {
      case 0:
      case 3: {
        const std::string name = in.text();
        const std::string help = in.text();
        const auto type = static_cast<MetricType>(in.byte() % 3);
        try {
          MetricFamily& family = families.family(name, help, type);
          CHECK(valid_metric_name(name));
          current = &family;
          current_index.reset();
          bool known = false;
          for (std::size_t i = 0; i < expected.families.size(); ++i) {
            if (expected.families[i].name != name) continue;
            known = true;
            if (expected.families[i].type == type_text(type)) current_index = i;
          }
          if (!known) {
            current_index = expected.families.size();
            expected.families.push_back({name, as_utf8(help), type_text(type), {}});
          }
        } catch (const std::invalid_argument&) {
          CHECK(!valid_metric_name(name));
          expected.invalid_name = name;
        }
        break;
      }
      case 1: {
        if (!current) break;
        const std::uint8_t choice = in.byte() % 5;
        ExpectedFamily* current_expected = current_index ? &expected.families[*current_index] : nullptr;
        const std::string family_name = current_expected ? current_expected->name : "";
        const std::string suffixes[] = {"", "_bucket", "_sum", "_count"};
        const std::string name = choice < 4 ? family_name + suffixes[choice] : in.text();
        const Labels labels = read_labels(in);
        const double value = in.number();
        bool thrown = false;
        try {
          with_labels(labels, [&](std::initializer_list<MetricLabel> list) { current->sample(name, list, value); });
        } catch (const std::invalid_argument&) {
          thrown = true;
        }
        if (!current_expected) {
          CHECK(!thrown);  // a discarded family takes anything and renders nothing
          break;
        }
        const bool histogram = current_expected->type == "histogram";
        const bool own = histogram ? name == family_name + "_bucket" || name == family_name + "_sum" ||
                                         name == family_name + "_count"
                                   : name == family_name;
        CHECK(thrown == !(own && labels_allowed(labels, {})));
        if (!thrown) current_expected->samples.push_back({name, expected_labels(labels), value});
        break;
      }
      case 2: {
        if (!current) break;
        const Labels labels = read_labels(in);
        LatencyHistogram latencies;
        for (std::size_t count = in.byte() % 8; count > 0; --count) {
          std::uint64_t microseconds = 0;
          for (int i = 0; i < 4; ++i) microseconds = microseconds << 8 | in.byte();
          latencies.record_microseconds(microseconds);
        }
        const HistogramSnapshot snapshot = latencies.snapshot();
        const HistogramLayout& layout = in.byte() % 2 ? seconds_layout : milliseconds_layout;
        ExpectedFamily* current_expected = current_index ? &expected.families[*current_index] : nullptr;
        bool thrown = false;
        try {
          with_labels(labels,
                      [&](std::initializer_list<MetricLabel> list) { current->histogram(list, snapshot, layout); });
        } catch (const std::invalid_argument&) {
          thrown = true;
        }
        if (!current_expected) {
          CHECK(!thrown);
          break;
        }
        CHECK(thrown == (current_expected->type != "histogram" || !labels_allowed(labels, "le")));
        if (thrown) break;
        const std::string& name = current_expected->name;
        for (double bound : layout.upper_bounds) {
          auto with_le = expected_labels(labels);
          with_le.push_back({"le", "", bound});
          current_expected->samples.push_back({name + "_bucket", with_le, std::nullopt, true});
        }
        auto with_inf = expected_labels(labels);
        with_inf.push_back({"le", "+Inf", std::nullopt});
        const auto count = static_cast<double>(snapshot.count());
        current_expected->samples.push_back({name + "_bucket", with_inf, count, true});
        current_expected->samples.push_back(
            {name + "_sum", expected_labels(labels), snapshot.sum_microseconds() / layout.microseconds_per_unit});
        current_expected->samples.push_back({name + "_count", expected_labels(labels), count});
        break;
      }
    }
  }
}

// --- A strict reader of the exposition format.

struct Line {
  std::string_view rest;
  bool eat(std::string_view prefix) {
    if (!rest.starts_with(prefix)) return false;
    rest.remove_prefix(prefix.size());
    return true;
  }
  std::string name() {
    std::size_t length = 0;
    while (length < rest.size() && name_char(rest[length], length == 0, true)) ++length;
    std::string out(rest.substr(0, length));
    rest.remove_prefix(length);
    return out;
  }
};

// Undoes the escapes the format allows in `text`: \\ and \n, and \" when `quoted`. Stops at
// an unescaped quote when `quoted`. Any other escape, or a control LF, is malformed.
std::string unescape(Line& line, bool quoted) {
  std::string out;
  for (;;) {
    CHECK(!line.rest.empty() || !quoted);
    if (line.rest.empty()) return out;
    const char c = line.rest.front();
    line.rest.remove_prefix(1);
    if (quoted && c == '"') return out;
    CHECK(c != '\n');
    if (c != '\\') {
      out += c;
      continue;
    }
    CHECK(!line.rest.empty());
    const char escaped = line.rest.front();
    line.rest.remove_prefix(1);
    CHECK(escaped == '\\' || escaped == 'n' || (quoted && escaped == '"'));
    out += escaped == 'n' ? '\n' : escaped;
  }
}

double parse_value(std::string_view text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  CHECK(!text.empty() && text.find_first_not_of("0123456789.e+-") == std::string_view::npos);
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  CHECK(end == copy.c_str() + copy.size());
  return value;
}

bool same_value(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

void check_rendered(const std::string& text, const Expected& expected) {
  CHECK(text.empty() || text.back() == '\n');
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(std::string_view(text).substr(start, end - start));
    start = end + 1;
  }
  std::size_t at = 0;
  for (const ExpectedFamily& family : expected.families) {
    CHECK(at + 2 <= lines.size());
    Line help{lines[at++]};
    CHECK(help.eat("# HELP "));
    CHECK(help.name() == family.name);
    CHECK(help.eat(" "));
    const std::string help_text = unescape(help, false);
    CHECK(help_text == family.help);
    CHECK(as_utf8(help_text) == help_text);
    Line type{lines[at++]};
    CHECK(type.eat("# TYPE "));
    CHECK(type.name() == family.name);
    CHECK(type.eat(" " + family.type));
    CHECK(type.rest.empty());

    std::optional<double> previous_bucket;  // within one histogram's _bucket lines
    for (const ExpectedSample& sample : family.samples) {
      CHECK(at < lines.size());
      Line line{lines[at++]};
      CHECK(line.name() == sample.name);
      if (!sample.labels.empty()) {
        CHECK(line.eat("{"));
        for (std::size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) CHECK(line.eat(","));
          const ExpectedLabel& label = sample.labels[i];
          CHECK(line.eat(label.name));
          CHECK(line.eat("=\""));
          const std::string value = unescape(line, true);
          CHECK(as_utf8(value) == value);
          if (label.bound) {
            CHECK(same_value(parse_value(value), *label.bound));
          } else {
            CHECK(value == label.value);
          }
        }
        CHECK(line.eat("}"));
      }
      CHECK(line.eat(" "));
      const double value = parse_value(line.rest);
      if (sample.value) {
        CHECK(same_value(value, *sample.value));
      }
      if (sample.bucket) {
        CHECK(value >= 0 && value == std::floor(value));
        CHECK(!previous_bucket || value >= *previous_bucket);  // cumulative
        previous_bucket = value;
        if (!sample.labels.back().bound) previous_bucket.reset();  // +Inf: the histogram's last
      }
    }
  }
  CHECK(at == lines.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  MetricsRegistry registry;
  Expected expected;
  auto registration = registry.add("fuzz", [&](MetricFamilies& families) {
    expected = {};
    run_operations(Reader(data, size), families, expected);
  });
  CHECK(registration);
  CHECK(!registry.add("fuzz", [](MetricFamilies&) {}));  // a key is registered once
  const std::string text = registry.render();
  check_rendered(text, expected);

  if (!expected.invalid_name.empty()) {
    // A collector that lets the refusal escape fails the render: nothing half-written goes out.
    const std::string invalid = expected.invalid_name;
    auto refused = registry.add("refused", [invalid](MetricFamilies& families) {
      families.family(invalid, "never rendered", MetricType::gauge);
    });
    CHECK(refused);
    bool thrown = false;
    try {
      (void)registry.render();
    } catch (const std::invalid_argument&) {
      thrown = true;
    }
    CHECK(thrown);
    refused.reset();
    CHECK(registry.render() == text);
  }
  return 0;
}

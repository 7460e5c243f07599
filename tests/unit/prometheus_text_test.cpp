#include "securechannel/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace securechannel {
namespace {

std::string value_text(double value) {
  std::string out;
  append_metric_value(out, value);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(PrometheusTextTest, ValuesUseTheFormatsSpellings) {
  EXPECT_EQ(value_text(5), "5");
  EXPECT_EQ(value_text(0.25), "0.25");
  EXPECT_EQ(value_text(-3), "-3");
  EXPECT_EQ(value_text(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value_text(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(value_text(std::nan("")), "NaN");
  EXPECT_EQ(value_text(1e21), "1e+21");
  EXPECT_EQ(value_text(1e20), "100000000000000000000");
  EXPECT_EQ(value_text(0.0001), "0.0001");  // as Go writes it: le="0.0001", never le="1e-04"
  EXPECT_EQ(value_text(0.00001), "1e-05");
  EXPECT_EQ(value_text(0.00025), "0.00025");
  EXPECT_EQ(value_text(18446744073709551615.0), "18446744073709551616");  // shortest exact form
}

TEST(PrometheusTextTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  std::string out;
  append_escaped_label_value(out, "a\\b\"c\nd");
  EXPECT_EQ(out, R"(a\\b\"c\nd)");
}

TEST(PrometheusTextTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  std::string out;
  append_escaped_help(out, "say \"hi\"\\\nbye");
  EXPECT_EQ(out, R"(say "hi"\\\nbye)");
}

TEST(PrometheusTextTest, NamesAreValidated) {
  EXPECT_TRUE(is_valid_metric_name("relay_active_connections"));
  EXPECT_TRUE(is_valid_metric_name("job:rate5m"));
  EXPECT_FALSE(is_valid_metric_name("1relay"));
  EXPECT_FALSE(is_valid_metric_name("relay-pool"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_TRUE(is_valid_label_name("endpoint"));
  EXPECT_FALSE(is_valid_label_name("__name__"));
  EXPECT_FALSE(is_valid_label_name("end:point"));
  MetricFamilies families;
  EXPECT_THROW(families.family("bad-name", "x", MetricType::gauge), std::invalid_argument);
  EXPECT_THROW(families.family("good", "x", MetricType::gauge).sample("good", {{"bad-label", "v"}}, 1),
               std::invalid_argument);
}

TEST(PrometheusTextTest, OneHelpAndTypePerFamilyAcrossContributors) {
  MetricFamilies families;
  families.family("relay_active_connections", "Open connections.", MetricType::gauge)
      .sample("relay_active_connections", {{"endpoint", "a:443"}}, 2);
  families.family("relay_errors_total", "Errors.", MetricType::counter);  // declared, no samples yet
  families.family("relay_active_connections", "Open connections.", MetricType::gauge)
      .sample("relay_active_connections", {{"endpoint", "b:443"}}, 3);
  EXPECT_EQ(families.render(),
            "# HELP relay_active_connections Open connections.\n"
            "# TYPE relay_active_connections gauge\n"
            "relay_active_connections{endpoint=\"a:443\"} 2\n"
            "relay_active_connections{endpoint=\"b:443\"} 3\n"
            "# HELP relay_errors_total Errors.\n"
            "# TYPE relay_errors_total counter\n");
  EXPECT_TRUE(families.conflicts().empty());
}

TEST(PrometheusTextTest, ConflictingRedeclarationIsDroppedAndReported) {
  MetricFamilies families;
  families.family("x_total", "X.", MetricType::counter).sample("x_total", {}, 1);
  families.family("x_total", "X.", MetricType::gauge).sample("x_total", {}, 99);
  EXPECT_EQ(families.render(), "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
  ASSERT_EQ(families.conflicts().size(), 1u);
  EXPECT_NE(families.conflicts()[0].find("x_total"), std::string::npos);
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeAndAgreeWithCount) {
  LatencyHistogram histogram;
  // A bucket [lower, upper) counts for le only when upper <= le, so a value exactly on a bound
  // lands above it; real latencies have nanosecond precision, so these sit just below bounds.
  histogram.record_microseconds(90);
  histogram.record_microseconds(900);
  histogram.record_microseconds(3'000);
  histogram.record_microseconds(70'000'000);  // above 60 s: only +Inf
  MetricFamilies families;
  families.family("relay_latency_ms", "Round trips.", MetricType::histogram)
      .histogram({{"endpoint", "a:443"}}, histogram.snapshot(), milliseconds_layout);
  const auto lines = lines_of(families.render());
  ASSERT_EQ(lines.size(), 2 + milliseconds_layout.upper_bounds.size() + 1 + 2);
  EXPECT_EQ(lines[1], "# TYPE relay_latency_ms histogram");
  EXPECT_EQ(lines[2], "relay_latency_ms_bucket{endpoint=\"a:443\",le=\"0.1\"} 1");
  EXPECT_EQ(lines[5], "relay_latency_ms_bucket{endpoint=\"a:443\",le=\"1\"} 2");
  EXPECT_EQ(lines[7], "relay_latency_ms_bucket{endpoint=\"a:443\",le=\"5\"} 3");
  double previous = 0;
  for (std::size_t i = 2; i < 2 + milliseconds_layout.upper_bounds.size(); ++i) {
    const double count = std::stod(lines[i].substr(lines[i].rfind(' ') + 1));
    EXPECT_GE(count, previous) << lines[i];
    previous = count;
  }
  EXPECT_EQ(lines[lines.size() - 3], "relay_latency_ms_bucket{endpoint=\"a:443\",le=\"+Inf\"} 4");
  // The sum is estimated from bucket midpoints (exact above 60 s): 90.5 + 900 + 2992 µs + 70 s.
  EXPECT_EQ(lines[lines.size() - 2], "relay_latency_ms_sum{endpoint=\"a:443\"} 70003.9825");
  EXPECT_EQ(lines[lines.size() - 1], "relay_latency_ms_count{endpoint=\"a:443\"} 4");
}

// Prometheus refuses a whole scrape for one label value that is not UTF-8; HELP must be UTF-8
// too. Found by tests/fuzz/prometheus_text_fuzzer.cpp, as are the refusals below.
TEST(PrometheusTextTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  std::string value;
  append_escaped_label_value(value, "a\xff\"\xc3\x28 \xe2\x82\xac \xed\xa0\x80 \xf0\x9f\x98\x80 \xc0\xaf");
  EXPECT_EQ(value, "a\xEF\xBF\xBD\\\"\xEF\xBF\xBD( \xe2\x82\xac \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xf0\x9f\x98\x80 "
                   "\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string help;
  append_escaped_help(help, "cut \xe2\x82\n");
  EXPECT_EQ(help, "cut \xEF\xBF\xBD\xEF\xBF\xBD\\n");
}

TEST(PrometheusTextTest, RepeatedLabelNamesAreRefused) {
  MetricFamilies families;
  MetricFamily& gauge = families.family("g", "G.", MetricType::gauge);
  EXPECT_THROW(gauge.sample("g", {{"a", "1"}, {"a", "2"}}, 1), std::invalid_argument);
  MetricFamily& histogram = families.family("h", "H.", MetricType::histogram);
  EXPECT_THROW(histogram.histogram({{"le", "1"}}, LatencyHistogram().snapshot(), milliseconds_layout),
               std::invalid_argument);
  EXPECT_EQ(families.render(), "# HELP g G.\n# TYPE g gauge\n# HELP h H.\n# TYPE h histogram\n");
}

TEST(PrometheusTextTest, SampleOutsideItsFamilyIsRefused) {
  MetricFamilies families;
  EXPECT_THROW(families.family("a", "A.", MetricType::gauge).sample("b", {}, 1), std::invalid_argument);
  EXPECT_THROW(families.family("a", "A.", MetricType::gauge).sample("a_sum", {}, 1), std::invalid_argument);
  EXPECT_THROW(families.family("h", "H.", MetricType::histogram).sample("h", {}, 1), std::invalid_argument);
  families.family("h", "H.", MetricType::histogram).sample("h_count", {}, 1);
  EXPECT_THROW(families.family("a", "A.", MetricType::gauge).histogram({}, LatencyHistogram().snapshot(), seconds_layout),
               std::invalid_argument);
  EXPECT_EQ(families.render(), "# HELP a A.\n# TYPE a gauge\n# HELP h H.\n# TYPE h histogram\nh_count 1\n");
}

TEST(PrometheusTextTest, RefusedSampleLeavesNoHalfLine) {
  MetricFamilies families;
  MetricFamily& gauge = families.family("g", "G.", MetricType::gauge);
  EXPECT_THROW(gauge.sample("g", {{"ok", "1"}, {"bad-label", "2"}}, 1), std::invalid_argument);
  gauge.sample("g", {{"ok", "1"}}, 2);
  EXPECT_EQ(families.render(), "# HELP g G.\n# TYPE g gauge\ng{ok=\"1\"} 2\n");
}

}  // namespace
}  // namespace securechannel

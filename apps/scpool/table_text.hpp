// Text for people: aligned tables and human units, for the scpool monitoring commands.
//
//   scpool::TextTable table({"POOL", "ENDPOINT", "ACTIVE"});
//   table.add_row({"relay", "relay.example.com:443", "5"});
//   std::fputs(table.render().c_str(), stdout);
//   // POOL   ENDPOINT               ACTIVE
//   // relay  relay.example.com:443       5
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scpool {

// Columns two spaces apart; a column whose cells are all numbers (figures with their unit
// included, like "12.5 ms") is right-aligned, every other one left-aligned.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers);
  void add_row(std::vector<std::string> cells);  // missing cells are empty
  std::string render() const;                    // one line each, header first, "\n" after each

 private:
  std::vector<std::vector<std::string>> rows_;  // the header is rows_[0]
};

// "name:  value" lines, the values aligned.
std::string key_value_text(const std::vector<std::pair<std::string, std::string>>& lines);

std::string milliseconds_text(double milliseconds);  // "0.42 ms", "45.2 ms", "1234 ms"
std::string bytes_text(std::uint64_t bytes);          // "512 B", "1.5 KiB", "3.0 MiB", "1.2 GiB"
std::string percent_text(double percent);             // "83.3 %"
std::string age_text(std::chrono::seconds age);       // "3m12s", as Go prints a duration
// "2025-08-25T11:00:00Z" (the monitoring server's format: UTC, whole seconds); nullopt otherwise.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339_utc(std::string_view text);

}  // namespace scpool

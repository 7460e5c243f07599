#include "table_text.hpp"

#include "monitor/go_duration.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace scpool {
namespace {

// Width in terminal columns for our text: UTF-8 continuation bytes take none.
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// A figure: a number, with one of our units after a space ("12.5 ms", "3.0 KiB", "83.3 %"), or
// a duration as Go prints it ("3m12s"). An endpoint ("127.0.0.1:443") is not one.
bool looks_numeric(std::string_view cell) {
  for (const std::string_view unit : {" ms", " %", " B", " KiB", " MiB", " GiB", " TiB"}) {
    if (cell.ends_with(unit)) {
      cell.remove_suffix(unit.size());
      break;
    }
  }
  if (cell.starts_with('-')) cell.remove_prefix(1);
  if (cell.empty() || std::isdigit(static_cast<unsigned char>(cell.front())) == 0) return false;
  return cell.find_first_not_of("0123456789.hms") == std::string_view::npos;
}

}  // namespace

TextTable::TextTable(std::vector<std::string> headers) { rows_.push_back(std::move(headers)); }

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(std::max(cells.size(), rows_.front().size()));
  rows_.push_back(std::move(cells));
}

std::string TextTable::render() const {
  const std::size_t columns = rows_.front().size();
  std::vector<std::size_t> widths(columns, 0);
  std::vector<bool> numeric(columns, rows_.size() > 1);
  for (std::size_t row = 0; row < rows_.size(); ++row) {
    for (std::size_t column = 0; column < columns; ++column) {
      const std::string& cell = rows_[row][column];
      widths[column] = std::max(widths[column], display_width(cell));
      if (row > 0 && !looks_numeric(cell)) numeric[column] = false;
    }
  }
  std::string text;
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t column = 0; column < columns; ++column) {
      const std::string& cell = row[column];
      const std::string padding(widths[column] - display_width(cell), ' ');
      if (column > 0) line += "  ";
      line += numeric[column] ? padding + cell : cell + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + "\n";
  }
  return text;
}

std::string key_value_text(const std::vector<std::pair<std::string, std::string>>& lines) {
  std::size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, display_width(key));
  std::string text;
  for (const auto& [key, value] : lines) {
    text += key + ":" + std::string(width - display_width(key) + 2, ' ') + value + "\n";
  }
  return text;
}

std::string milliseconds_text(double milliseconds) {
  if (milliseconds < 10) return fmt::format("{:.2f} ms", milliseconds);
  if (milliseconds < 1'000) return fmt::format("{:.1f} ms", milliseconds);
  return fmt::format("{:.0f} ms", milliseconds);
}

std::string bytes_text(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string percent_text(double percent) { return fmt::format("{:.1f} %", percent); }

std::string age_text(std::chrono::seconds age) {
  return securechannel::monitor::go_duration_text(std::max(age, std::chrono::seconds(0)));
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339_utc(std::string_view text) {
  std::tm parts{};
  const std::string copy(text);
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

}  // namespace scpool

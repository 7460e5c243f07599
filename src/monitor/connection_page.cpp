#include "monitor/connection_page.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>
#include <utility>

namespace securechannel::monitor {

namespace {

using Field = ConnectionPage::Field;

// The JSON field names of connection_json(), so that a table column sorts by what it shows.
constexpr std::array<std::pair<std::string_view, Field>, 10> sortable = {{
    {"connection_id", Field::connection_id},
    {"state", Field::state},
    {"created", Field::created},
    {"last_activity", Field::last_activity},
    {"leases", Field::leases},
    {"round_trips", Field::round_trips},
    {"errors", Field::errors},
    {"p95_latency_ms", Field::p95_latency_ms},
    {"health", Field::health},  // health.score
    {"affinity_keys", Field::affinity_keys},
}};

std::string sortable_names() {
  std::string names;
  for (const auto& [name, field] : sortable) names += (names.empty() ? "" : ", ") + std::string(name);
  return names;
}

bool parse_count(const std::string& text, std::size_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc{} && end == text.data() + text.size() && !text.empty();
}

// -1, 0, 1 as a < b, a == b, a > b on `field`.
int compare(const ConnectionSnapshot& a, const ConnectionSnapshot& b, Field field) {
  const auto order = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
  switch (field) {
    case Field::connection_id: return order(a.connection_id, b.connection_id);
    case Field::state: return order(a.state, b.state);
    case Field::created: return order(a.created, b.created);
    case Field::last_activity: return order(a.last_activity, b.last_activity);
    case Field::leases: return order(a.leases, b.leases);
    case Field::round_trips: return order(a.round_trips, b.round_trips);
    case Field::errors: return order(a.errors, b.errors);
    case Field::p95_latency_ms: return order(a.p95_latency_ms, b.p95_latency_ms);
    case Field::health: return order(a.health.score, b.health.score);
    case Field::affinity_keys: return order(a.affinity_keys, b.affinity_keys);
  }
  return 0;
}

}  // namespace

std::optional<ConnectionPage> ConnectionPage::from_query(const RequestTarget& target, std::string& problem) {
  ConnectionPage page;
  if (const auto sort = target.parameter("sort")) {
    const auto known = std::find_if(sortable.begin(), sortable.end(), [&](const auto& entry) { return entry.first == *sort; });
    if (known == sortable.end()) {
      problem = "sort must be one of " + sortable_names() + ", got '" + *sort + "'";
      return std::nullopt;
    }
    page.sort = known->second;
    page.sorted_or_paged = true;
  }
  if (const auto order = target.parameter("order")) {
    if (*order != "asc" && *order != "desc") {
      problem = "order must be asc or desc, got '" + *order + "'";
      return std::nullopt;
    }
    page.descending = *order == "desc";
    page.sorted_or_paged = true;
  }
  if (const auto offset = target.parameter("offset")) {
    if (!parse_count(*offset, page.offset)) {
      problem = "offset must be a non-negative integer, got '" + *offset + "'";
      return std::nullopt;
    }
    page.sorted_or_paged = true;
  }
  if (const auto limit = target.parameter("limit")) {
    if (!parse_count(*limit, page.limit) || page.limit == 0 || page.limit > max_limit) {
      problem = "limit must be an integer from 1 to " + std::to_string(max_limit) + ", got '" + *limit + "'";
      return std::nullopt;
    }
    page.sorted_or_paged = true;
  }
  return page;
}

std::vector<ConnectionSnapshot> ConnectionPage::select(std::vector<ConnectionSnapshot> connections) const {
  if (!sorted_or_paged) return connections;
  if (offset >= connections.size()) return {};
  const auto before = [this](const ConnectionSnapshot& a, const ConnectionSnapshot& b) {
    const int by_field = compare(a, b, sort);
    if (by_field != 0) return descending ? by_field > 0 : by_field < 0;
    return a.connection_id < b.connection_id;
  };
  // Only the rows up to the page's end need to be in order.
  const std::size_t end = std::min(connections.size(), offset + limit);
  std::partial_sort(connections.begin(), connections.begin() + static_cast<std::ptrdiff_t>(end), connections.end(),
                    before);
  connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(end), connections.end());
  connections.erase(connections.begin(), connections.begin() + static_cast<std::ptrdiff_t>(offset));
  return connections;
}

}  // namespace securechannel::monitor

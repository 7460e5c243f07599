// The monitoring server's request target parser: never crashes; an accepted target has an
// origin-form path, and every parameter it reports is one of the query's. The connection table's
// paging (sort, order, offset, limit) read from it either names its problem or returns a page
// of the expected length, each connection at most once, drawn from the connections given (the
// order itself is ConnectionPageTest's).
#include "monitor/connection_page.hpp"
#include "monitor/request_target.hpp"

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>
#include <vector>

namespace {

void check_page(const securechannel::monitor::RequestTarget& target, const std::uint8_t* data, std::size_t size) {
  using securechannel::ConnectionSnapshot;
  std::string problem;
  const auto page = securechannel::monitor::ConnectionPage::from_query(target, problem);
  if (!page) {
    if (problem.empty()) std::abort();
    return;
  }
  // Connections made from the input's bytes: ids 1..n, leases and latency from the data.
  std::vector<ConnectionSnapshot> connections;
  for (std::size_t i = 0; i < size && i < 64; ++i) {
    ConnectionSnapshot connection;
    connection.connection_id = i + 1;
    connection.leases = data[i] % 7;
    connection.p95_latency_ms = data[i] / 3.0;
    connection.state = data[i] % 2 ? "idle" : "leased";
    connections.push_back(connection);
  }
  const std::size_t total = connections.size();
  const auto rows = page->select(connections);
  if (!page->paged()) {
    if (rows.size() != total) std::abort();
    return;
  }
  if (rows.size() > page->limit) std::abort();
  const std::size_t expected = page->offset >= total ? 0 : std::min(page->limit, total - page->offset);
  if (rows.size() != expected) std::abort();
  std::set<std::uint64_t> ids;
  for (const auto& row : rows) {
    if (row.connection_id == 0 || row.connection_id > total || !ids.insert(row.connection_id).second) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto target = securechannel::monitor::parse_request_target(input);
  if (!target) return 0;
  if (target->path.empty() || target->path.front() != '/') std::abort();
  for (const auto& [name, value] : target->query) {
    const auto first = target->parameter(name);
    if (!first) std::abort();
  }
  check_page(*target, data, size);
  return 0;
}

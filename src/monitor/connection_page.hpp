// One page of a pool's connections, sorted, for /api/v1/secure-channel/connections
// ?sort=<field>&order=asc|desc&offset=<n>&limit=<n>: the dashboard's table at 10,000
// connections asks for the 500 rows it shows, not for all of them. Without any of the four
// parameters the endpoint answers every connection in the pool's order, as it always has.
#pragma once

#include "monitor/request_target.hpp"
#include "securechannel/pool_stats.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace securechannel::monitor {

struct ConnectionPage {
  static constexpr std::size_t max_limit = 1'000;

  enum class Field {
    connection_id,
    state,
    created,
    last_activity,
    leases,
    round_trips,
    errors,
    p95_latency_ms,
    health,
    affinity_keys,
  };

  Field sort = Field::connection_id;
  bool descending = false;
  std::size_t offset = 0;
  std::size_t limit = max_limit;
  bool sorted_or_paged = false;  // any of the four parameters was given

  // nullopt, with `problem` naming the parameter and what it takes, for a bad parameter.
  static std::optional<ConnectionPage> from_query(const RequestTarget& target, std::string& problem);
  bool paged() const noexcept { return sorted_or_paged; }
  // The rows of this page; all of them, unsorted, when not paged. Ties sort by connection id.
  std::vector<ConnectionSnapshot> select(std::vector<ConnectionSnapshot> connections) const;
};

}  // namespace securechannel::monitor

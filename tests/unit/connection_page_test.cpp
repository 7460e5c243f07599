#include "monitor/connection_page.hpp"

#include <gtest/gtest.h>

namespace securechannel::monitor {
namespace {

std::optional<ConnectionPage> page_of(const std::string& query, std::string& problem) {
  const auto target = parse_request_target("/api/v1/secure-channel/connections" + query);
  EXPECT_TRUE(target);
  return ConnectionPage::from_query(*target, problem);
}

std::vector<ConnectionSnapshot> connections_with_leases(std::initializer_list<std::uint64_t> leases) {
  std::vector<ConnectionSnapshot> connections;
  std::uint64_t id = 1;
  for (std::uint64_t count : leases) {
    ConnectionSnapshot connection;
    connection.connection_id = id++;
    connection.leases = count;
    connections.push_back(connection);
  }
  return connections;
}

std::vector<std::uint64_t> ids_of(const std::vector<ConnectionSnapshot>& connections) {
  std::vector<std::uint64_t> ids;
  for (const auto& connection : connections) ids.push_back(connection.connection_id);
  return ids;
}

TEST(ConnectionPageTest, WithoutParametersEveryConnectionInThePoolsOrder) {
  std::string problem;
  const auto page = page_of("?pool=relay", problem);
  ASSERT_TRUE(page) << problem;
  EXPECT_FALSE(page->paged());
  EXPECT_EQ(ids_of(page->select(connections_with_leases({5, 1, 9}))), (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(ConnectionPageTest, SortsByAColumnEitherWayWithTiesByConnectionId) {
  std::string problem;
  const auto ascending = page_of("?sort=leases", problem);
  ASSERT_TRUE(ascending) << problem;
  EXPECT_EQ(ids_of(ascending->select(connections_with_leases({5, 1, 9, 1}))), (std::vector<std::uint64_t>{2, 4, 1, 3}));
  const auto descending = page_of("?sort=leases&order=desc", problem);
  ASSERT_TRUE(descending) << problem;
  EXPECT_EQ(ids_of(descending->select(connections_with_leases({5, 1, 9, 1}))), (std::vector<std::uint64_t>{3, 1, 2, 4}));
}

TEST(ConnectionPageTest, PagesThroughTheSortedRows) {
  std::string problem;
  const auto second = page_of("?sort=connection_id&offset=2&limit=2", problem);
  ASSERT_TRUE(second) << problem;
  EXPECT_EQ(ids_of(second->select(connections_with_leases({0, 0, 0, 0, 0}))), (std::vector<std::uint64_t>{3, 4}));
  const auto last = page_of("?offset=4&limit=2", problem);
  EXPECT_EQ(ids_of(last->select(connections_with_leases({0, 0, 0, 0, 0}))), (std::vector<std::uint64_t>{5}));
  const auto beyond = page_of("?offset=9", problem);
  EXPECT_TRUE(beyond->select(connections_with_leases({0, 0})).empty());
}

TEST(ConnectionPageTest, BadParametersAreNamedWithWhatTheyTake) {
  std::string problem;
  EXPECT_FALSE(page_of("?sort=password", problem));
  EXPECT_NE(problem.find("sort must be one of connection_id"), std::string::npos) << problem;
  EXPECT_NE(problem.find("'password'"), std::string::npos) << problem;
  EXPECT_FALSE(page_of("?order=up", problem));
  EXPECT_EQ(problem, "order must be asc or desc, got 'up'");
  EXPECT_FALSE(page_of("?offset=-1", problem));
  EXPECT_EQ(problem, "offset must be a non-negative integer, got '-1'");
  EXPECT_FALSE(page_of("?limit=0", problem));
  EXPECT_EQ(problem, "limit must be an integer from 1 to 1000, got '0'");
  EXPECT_FALSE(page_of("?limit=1001", problem));
  EXPECT_FALSE(page_of("?limit=12abc", problem));
}

}  // namespace
}  // namespace securechannel::monitor

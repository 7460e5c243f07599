// scpool's terminal tables from the monitoring JSON (apps/scpool/monitor_views.cpp): the
// scheme in front of every endpoint, and a plain pool's connections shown without TLS.
#include "monitor_views.hpp"

#include <gtest/gtest.h>

namespace {

using nlohmann::json;

json connection_list(const char* scheme, const char* alpn, const char* tls_version) {
  json connection = {{"connection_id", 7}, {"state", "idle"},         {"alpn", alpn},
                     {"tls_version", tls_version}, {"tls_resumed", false}, {"is_healthy", true}};
  json list = {{"endpoint", "127.0.0.1:8080"}, {"count", 1}, {"connections", json::array({connection})}};
  if (scheme != nullptr) list["scheme"] = scheme;
  return list;
}

// The table's one row: its last line, with a space after it so that the last cell ends as the
// others do.
std::string row_of_connection(const std::string& table) {
  const std::size_t end = table.find_last_not_of('\n');
  const std::size_t start = table.rfind('\n', end);
  return table.substr(start + 1, end - start) + " ";
}

TEST(MonitorViewsTest, APlainPoolsConnectionsShowNoTlsAndH2c) {
  const std::string table = scpool::connections_view(connection_list("http", "h2c", ""));
  EXPECT_EQ(table.rfind("http://127.0.0.1:8080: 1 connection(s)\n", 0), 0u) << table;
  const std::string row = row_of_connection(table);
  EXPECT_NE(row.find(" none "), std::string::npos) << row;
  EXPECT_NE(row.find(" h2c "), std::string::npos) << row;
  // Not "no": a plain connection did not fail to resume a TLS session, it has none.
  EXPECT_EQ(row.find(" no "), std::string::npos) << row;
}

TEST(MonitorViewsTest, ATlsPoolsConnectionsShowTheirVersionAndResumption) {
  const std::string table = scpool::connections_view(connection_list("https", "h2", "TLSv1.3"));
  EXPECT_EQ(table.rfind("https://127.0.0.1:8080: 1 connection(s)\n", 0), 0u) << table;
  const std::string row = row_of_connection(table);
  EXPECT_NE(row.find(" TLSv1.3 "), std::string::npos) << row;
  EXPECT_NE(row.find(" no "), std::string::npos) << row;
}

TEST(MonitorViewsTest, AServerThatNamesNoSchemeGetsTheEndpointAlone) {
  const std::string table = scpool::connections_view(connection_list(nullptr, "h2", "TLSv1.3"));
  EXPECT_EQ(table.rfind("127.0.0.1:8080: 1 connection(s)\n", 0), 0u) << table;
  const json stats = json::array({{{"namespace", "relay"}, {"endpoint", "127.0.0.1:8080"}, {"scheme", "http"}}});
  EXPECT_NE(scpool::stats_view(stats).find("http://127.0.0.1:8080"), std::string::npos) << scpool::stats_view(stats);
}

}  // namespace

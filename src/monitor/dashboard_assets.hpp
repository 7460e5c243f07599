// The dashboard's files (web/), built into the library by cmake/embed_files.cmake: the page at
// / and /dashboard, its script and its style sheet.
#pragma once

#include <span>
#include <string_view>

namespace securechannel::monitor {

struct DashboardAsset {
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
};

std::span<const DashboardAsset> dashboard_assets() noexcept;
// nullptr when `path` is not one of the dashboard's.
const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept;

}  // namespace securechannel::monitor

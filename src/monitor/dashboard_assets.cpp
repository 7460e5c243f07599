#include "monitor/dashboard_assets.hpp"

namespace securechannel::monitor {

const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept {
  for (const DashboardAsset& asset : dashboard_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace securechannel::monitor

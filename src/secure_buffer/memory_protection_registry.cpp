#include "secure_buffer/memory_protection_registry.hpp"

#include "secure_buffer/secure_region.hpp"

#include <atomic>
#include <mutex>
#include <unordered_set>

namespace securechannel {
namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_set<const SecureBuffer::Region*> regions;
  std::size_t mlock_failures = 0;
};

// Never destroyed: a SecureBuffer with static storage duration may be destroyed after any
// function-local static, and must still find the registry to leave it.
Registry& registry() {
  static Registry* const instance = new Registry;
  return *instance;
}

std::atomic<detail::WipeInspector> wipe_inspector{nullptr};

}  // namespace

namespace detail {

void register_region(const SecureBuffer::Region& region) {
  Registry& all = registry();
  std::lock_guard lock(all.mutex);
  all.regions.insert(&region);
  if (!region.locked) ++all.mlock_failures;
}

void unregister_region(const SecureBuffer::Region& region) noexcept {
  Registry& all = registry();
  std::lock_guard lock(all.mutex);
  all.regions.erase(&region);
}

void inspect_wiped_pages(std::span<const std::byte> pages) noexcept {
  if (const WipeInspector inspector = wipe_inspector.load(std::memory_order_acquire)) inspector(pages);
}

void set_wipe_inspector(WipeInspector inspector) noexcept { wipe_inspector.store(inspector, std::memory_order_release); }

}  // namespace detail

MemoryProtectionStatus memory_protection_status() {
  Registry& all = registry();
  std::lock_guard lock(all.mutex);
  // "Every live buffer" holds trivially when there is none; secure_buffers tells that case apart.
  MemoryProtectionStatus status{.enabled = true, .self_check = true};
  status.buffers = all.regions.size();
  status.secure_buffers = status.buffers > 0;
  status.mlock_failures = all.mlock_failures;
  for (const SecureBuffer::Region* region : all.regions) {
    if (region->locked) {
      status.locked_bytes += region->data_size;
    } else {
      status.enabled = false;
    }
    // Unregistering takes this mutex first, so no region here is being torn down.
    if (!region->canaries_intact()) status.self_check = false;
  }
  return status;
}

}  // namespace securechannel

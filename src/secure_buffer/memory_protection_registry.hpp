// The process-wide list of live SecureBuffer regions behind memory_protection_status(), and the
// test hook that inspects wiped pages. Regions register once they are fully set up and
// unregister before they are wiped, so the status never reads a region being torn down.
#pragma once

#include "securechannel/secure_buffer.hpp"

#include <cstddef>
#include <span>

namespace securechannel::detail {

void register_region(const SecureBuffer::Region& region);  // counts a refused mlock too
void unregister_region(const SecureBuffer::Region& region) noexcept;
// Hands the wiped data pages to the inspector set by set_wipe_inspector(), if any.
void inspect_wiped_pages(std::span<const std::byte> pages) noexcept;

}  // namespace securechannel::detail

#include "securechannel/secure_buffer.hpp"

#include "secure_buffer/secure_region.hpp"

#include <openssl/crypto.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <utility>

namespace securechannel {
namespace {

// Keys, passphrases and tokens are a few KB at most. Anything larger is not a secret we were
// meant to read, and would eat into RLIMIT_MEMLOCK (8 MB by default) for nothing.
constexpr off_t max_file_size = 1 << 20;

class FileDescriptor {
 public:
  explicit FileDescriptor(int descriptor) noexcept : descriptor_(descriptor) {}
  ~FileDescriptor() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const noexcept { return descriptor_; }

 private:
  int descriptor_;
};

std::string errno_text(int error_number) { return std::generic_category().message(error_number); }

}  // namespace

SecureBuffer::SecureBuffer() noexcept = default;

SecureBuffer::SecureBuffer(std::size_t size) {
  if (size > 0) region_ = std::make_unique<Region>(size);
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept = default;
SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept = default;
SecureBuffer::~SecureBuffer() = default;

SecureBuffer SecureBuffer::copy_of(std::string_view bytes) {
  SecureBuffer buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(buffer.region_->secret, bytes.data(), bytes.size());
  return buffer;
}

SecureBuffer SecureBuffer::from_file(const std::string& path, std::string& error) {
  const auto fail = [&](const std::string& reason) {
    error = "cannot read " + path + ": " + reason;
    return SecureBuffer();
  };
  const FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (file.get() < 0) return fail(errno_text(errno));
  struct stat status {};
  if (::fstat(file.get(), &status) != 0) return fail(errno_text(errno));
  if (!S_ISREG(status.st_mode)) return fail("not a regular file");
  if (status.st_size > max_file_size) {
    return fail("larger than " + std::to_string(max_file_size) + " bytes, not a key or passphrase file");
  }
  // Straight from the kernel into the locked pages: no std::string or stdio buffer in between.
  SecureBuffer buffer(static_cast<std::size_t>(status.st_size));
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const ssize_t got = ::read(file.get(), buffer.region_->secret + filled, buffer.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(errno_text(errno));
    if (got == 0) return fail("the file shrank while it was read");
    filled += static_cast<std::size_t>(got);
  }
  std::byte extra{};
  ssize_t more = 0;
  do {
    more = ::read(file.get(), &extra, 1);
  } while (more < 0 && errno == EINTR);
  if (more != 0) return fail("the file grew while it was read");
  error.clear();
  return buffer;
}

std::size_t SecureBuffer::size() const noexcept { return region_ ? region_->size : 0; }

bool SecureBuffer::locked() const noexcept { return region_ && region_->locked; }

void SecureBuffer::read(const std::function<void(std::span<const std::byte>)>& reader) const {
  if (!region_) {
    reader({});
    return;
  }
  std::shared_lock lock(region_->mutex);
  reader({region_->secret, region_->size});
}

void SecureBuffer::write(const std::function<void(std::span<std::byte>)>& writer) {
  if (!region_) {
    writer({});
    return;
  }
  std::unique_lock lock(region_->mutex);
  writer({region_->secret, region_->size});
}

bool SecureBuffer::equals(std::string_view candidate) const {
  // The loop runs over the candidate, which the caller (an attacker, for a token) already knows,
  // comparing each byte with the secret's byte at the same position modulo its length: the time
  // taken depends neither on where the two first differ nor on the secret's length.
  if (!region_) return candidate.empty();
  unsigned difference = region_->size != candidate.size() ? 1U : 0U;
  std::shared_lock lock(region_->mutex);
  const auto* presented = reinterpret_cast<const unsigned char*>(candidate.data());
  const auto* secret = reinterpret_cast<const unsigned char*>(region_->secret);
  for (std::size_t i = 0; i < candidate.size(); ++i) difference |= presented[i] ^ secret[i % region_->size];
  return difference == 0;
}

bool SecureBuffer::self_check() const { return !region_ || region_->canaries_intact(); }

void SecureBuffer::wipe() {
  if (!region_) return;
  std::unique_lock lock(region_->mutex);
  OPENSSL_cleanse(region_->secret, region_->size);
}

void secure_wipe(void* bytes, std::size_t size) noexcept {
  if (bytes != nullptr && size > 0) OPENSSL_cleanse(bytes, size);
}

void secure_wipe(std::string& text) noexcept {
  // The whole capacity, not only size(): bytes past the end (a shorter value assigned earlier,
  // or what a move left in the small-string buffer) may still hold the secret. resize() within
  // the capacity never reallocates, and makes every byte ours to overwrite.
  text.resize(text.capacity());
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

namespace detail {

SecureBufferPages pages_of(const SecureBuffer& buffer) noexcept {
  const SecureBuffer::Region* region = buffer.region_.get();
  if (region == nullptr) return {};
  return {.leading_guard = region->mapping,
          .data = region->data,
          .data_size = region->data_size,
          .trailing_guard = region->data + region->data_size};
}

}  // namespace detail

SharedSecret make_shared_secret(std::string_view bytes) {
  if (bytes.empty()) return nullptr;
  return std::make_shared<const SecureBuffer>(SecureBuffer::copy_of(bytes));
}

SharedSecret take_secret(std::string& text) {
  SharedSecret secret = make_shared_secret(text);
  secure_wipe(text);
  return secret;
}

SharedSecret read_secret_file(const std::string& path, std::string& error) {
  error.clear();
  const SecureBuffer file = SecureBuffer::from_file(path, error);
  if (!error.empty()) return nullptr;
  SharedSecret secret;
  file.read([&](std::span<const std::byte> bytes) {
    // A view into the locked bytes: the line end is dropped without a plain copy of the secret.
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (text.ends_with('\n')) text.remove_suffix(1);
    if (text.ends_with('\r')) text.remove_suffix(1);
    secret = make_shared_secret(text);
  });
  if (!secret) error = path + " is empty";
  return secret;
}

}  // namespace securechannel

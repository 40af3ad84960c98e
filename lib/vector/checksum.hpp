// Internal: a streaming 64-bit checksum for index files, fast enough for hundreds of megabytes
// (four FNV-style lanes over 8-byte words, then a MurmurHash3 finaliser). It detects torn and
// corrupted files; it is not a cryptographic hash.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keel::vector {

class Checksum {
 public:
  void update(const void* data, std::size_t size) noexcept;
  std::uint64_t value() const noexcept;

 private:
  void word(std::uint64_t w) noexcept;

  std::uint64_t lanes_[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9ce484222325cbf2ull,
                             0x2325cbf29ce48422ull};
  std::uint64_t words_ = 0;  // full words hashed so far
  std::uint64_t pending_ = 0;
  unsigned pending_bytes_ = 0;
  std::uint64_t total_bytes_ = 0;
};

std::uint64_t checksum(const void* data, std::size_t size) noexcept;

}  // namespace keel::vector

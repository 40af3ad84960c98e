// Internal: SHA-256 (FIPS 180-4), used by the Bitcoin base58check validator and by salted-hash
// redaction. Written from the standard; no allocation except in sha256_hex's result.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::detail {

// Incremental SHA-256. update() any number of times, then finish() once; after finish() the object
// must be reset() before it is used again.
class Sha256 {
 public:
  using Digest = std::array<unsigned char, 32>;

  Sha256() noexcept { reset(); }
  void reset() noexcept;
  void update(const void* data, std::size_t size) noexcept;
  void update(std::string_view data) noexcept { update(data.data(), data.size()); }
  Digest finish() noexcept;

 private:
  void compress(const unsigned char* block) noexcept;

  std::array<std::uint32_t, 8> state_{};
  std::array<unsigned char, 64> buffer_{};
  std::size_t buffered_ = 0;     // bytes waiting in buffer_
  std::uint64_t total_bits_ = 0;  // message length so far, in bits (mod 2^64)
};

std::array<unsigned char, 32> sha256(std::string_view data) noexcept;
// Lower-case hexadecimal digest (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace keel::detail

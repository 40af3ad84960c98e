#include "vector/checksum.hpp"

#include <cstring>

namespace keel::vector {
namespace {

constexpr std::uint64_t prime = 0x100000001b3ull;

std::uint64_t fmix64(std::uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

std::uint64_t load64(const unsigned char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

}  // namespace

void Checksum::word(std::uint64_t w) noexcept {
  auto& lane = lanes_[words_ & 3];
  lane = (lane ^ w) * prime;
  ++words_;
}

void Checksum::update(const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  total_bytes_ += size;
  while (pending_bytes_ != 0 && size > 0) {
    pending_ |= static_cast<std::uint64_t>(*p++) << (8 * pending_bytes_);
    --size;
    if (++pending_bytes_ == 8) {
      word(pending_);
      pending_ = 0;
      pending_bytes_ = 0;
    }
  }
  while ((words_ & 3) != 0 && size >= 8) {
    word(load64(p));
    p += 8;
    size -= 8;
  }
  // Four independent lanes: the multiplies overlap instead of forming one long chain.
  std::uint64_t a = lanes_[0], b = lanes_[1], c = lanes_[2], d = lanes_[3];
  std::size_t blocks = size / 32;
  for (std::size_t i = 0; i < blocks; ++i, p += 32) {
    a = (a ^ load64(p)) * prime;
    b = (b ^ load64(p + 8)) * prime;
    c = (c ^ load64(p + 16)) * prime;
    d = (d ^ load64(p + 24)) * prime;
  }
  lanes_[0] = a, lanes_[1] = b, lanes_[2] = c, lanes_[3] = d;
  words_ += 4 * blocks;
  size -= 32 * blocks;
  while (size >= 8) {
    word(load64(p));
    p += 8;
    size -= 8;
  }
  while (size > 0) {
    pending_ |= static_cast<std::uint64_t>(*p++) << (8 * pending_bytes_);
    ++pending_bytes_;
    --size;
  }
}

std::uint64_t Checksum::value() const noexcept {
  std::uint64_t h = fmix64(total_bytes_ ^ pending_ ^ (static_cast<std::uint64_t>(pending_bytes_) << 56));
  for (std::uint64_t lane : lanes_)
    h = fmix64(h ^ lane) * prime;
  return fmix64(h);
}

std::uint64_t checksum(const void* data, std::size_t size) noexcept {
  Checksum c;
  c.update(data, size);
  return c.value();
}

}  // namespace keel::vector

// The inner product behind every vector search: each implementation this CPU runs agrees
// with a double-precision reference at every length and alignment.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "vector/dot.hpp"

using namespace keel;

TEST_CASE("every dot implementation matches the reference at every length and offset") {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> a(600), b(600);
  for (auto& x : a)
    x = normal(rng);
  for (auto& x : b)
    x = normal(rng);
  auto implementations = vector::dot_implementations();
  CHECK(implementations.size() >= 1);
  bool chosen_listed = false;
  for (auto [name, dot] : implementations) {
    chosen_listed = chosen_listed || name == vector::dot_implementation();
    for (std::size_t offset : {0, 1, 3}) {  // unaligned starts
      for (std::size_t n = 0; n <= 520; n += (n < 80 ? 1 : 37)) {
        double reference = 0, magnitude = 0;
        for (std::size_t i = 0; i < n; ++i) {
          reference += static_cast<double>(a[offset + i]) * b[offset + i];
          magnitude += std::abs(static_cast<double>(a[offset + i]) * b[offset + i]);
        }
        INFO(name << " n=" << n << " offset=" << offset);
        CHECK(std::abs(dot(a.data() + offset, b.data() + offset, n) - reference) <=
              1e-5 * (magnitude + 1));
      }
    }
  }
  CHECK(chosen_listed);
  CHECK(vector::dot(a.data(), b.data(), 384) == implementations.back().second(a.data(), b.data(), 384));
}

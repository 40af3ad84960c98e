// The inner product behind every vector search: each implementation this CPU runs agrees
// with a double-precision reference at every length and alignment.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "vector/dot.hpp"

using namespace keel;

namespace {

// `dot` against a double-precision sum at every length up to 520 and unaligned starts.
template <class Dot, class A, class B>
void check_against_reference(std::string_view name, Dot dot, const std::vector<A>& a,
                             const std::vector<B>& b) {
  for (std::size_t offset : {0, 1, 3}) {
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

}  // namespace

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
    check_against_reference(name, dot, a, b);
  }
  CHECK(chosen_listed);
  CHECK(vector::dot(a.data(), b.data(), 384) ==
        implementations.back().second(a.data(), b.data(), 384));
}

TEST_CASE("every int8 dot implementation is exact at every length and offset") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> value(-127, 127);
  std::vector<std::int8_t> a(700), b(700);
  for (auto& x : a)
    x = static_cast<std::int8_t>(value(rng));
  for (auto& x : b)
    x = static_cast<std::int8_t>(value(rng));
  std::fill(a.begin() + 600, a.end(), std::int8_t{127});  // the largest products, all alike
  std::fill(b.begin() + 600, b.end(), std::int8_t{-127});
  for (auto [name, dot] : vector::dot_i8_implementations()) {
    for (std::size_t offset : {0, 1, 3}) {
      for (std::size_t n = 0; n <= 520; n += (n < 80 ? 1 : 37)) {
        std::int32_t reference = 0;
        for (std::size_t i = 0; i < n; ++i)
          reference += a[offset + i] * b[offset + i];
        INFO(name << " n=" << n << " offset=" << offset);
        CHECK(dot(a.data() + offset, b.data() + offset, n) == reference);
      }
    }
    CHECK(dot(a.data() + 600, b.data() + 600, 100) == -127 * 127 * 100);
  }
  CHECK(vector::dot_i8(a.data(), b.data(), 384) ==
        vector::dot_i8_implementations().back().second(a.data(), b.data(), 384));
}

TEST_CASE("quantize_i8 keeps each value within half a step and maps the peak to 127") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(384);
  for (auto& x : v)
    x = normal(rng);
  v[17] = -9.0f;  // the peak, negative
  std::vector<std::int8_t> q(v.size());
  const float scale = vector::quantize_i8(v.data(), v.size(), q.data());
  CHECK(scale == doctest::Approx(9.0f / 127));
  CHECK(q[17] == -127);
  for (std::size_t i = 0; i < v.size(); ++i)
    CHECK(std::abs(v[i] - scale * q[i]) <= scale / 2 * 1.0001f);

  std::vector<float> zero(8, 0.0f);
  CHECK(vector::quantize_i8(zero.data(), zero.size(), q.data()) == 0.0f);
  v[3] = std::nanf("");
  CHECK(vector::quantize_i8(v.data(), v.size(), q.data()) == 0.0f);
  CHECK(std::all_of(q.begin(), q.end(), [](std::int8_t x) { return x == 0; }));
}

TEST_CASE("every float-by-int8 dot implementation matches the reference") {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> value(-127, 127);
  std::vector<float> a(600);
  std::vector<std::int8_t> b(600);
  for (auto& x : a)
    x = normal(rng);
  for (auto& x : b)
    x = static_cast<std::int8_t>(value(rng));
  for (auto [name, dot] : vector::dot_f32_i8_implementations())
    check_against_reference(name, dot, a, b);
  CHECK(vector::dot_f32_i8(a.data(), b.data(), 384) ==
        vector::dot_f32_i8_implementations().back().second(a.data(), b.data(), 384));
}

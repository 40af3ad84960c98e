#include "vector/dot.hpp"

#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KEEL_DOT_X86 1
#endif

namespace keel::vector {
namespace {

// Eight independent sums so the compiler can keep them in SSE registers without reordering
// one long dependency chain (no -ffast-math).
float dot_portable(const float* a, const float* b, std::size_t n) noexcept {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j)
      s[j] += a[i + j] * b[i + j];
  }
  float tail = 0;
  for (; i < n; ++i)
    tail += a[i] * b[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
}

#ifdef KEEL_DOT_X86
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b,
                                                    std::size_t n) noexcept {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  if (i + 8 <= n) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    i += 8;
  }
  __m256 s = _mm256_add_ps(s0, s1);
  __m128 lo = _mm256_castps256_ps128(s), hi = _mm256_extractf128_ps(s, 1);
  __m128 q = _mm_add_ps(lo, hi);
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  float total = _mm_cvtss_f32(q);
  for (; i < n; ++i)
    total += a[i] * b[i];
  return total;
}
#endif

using DotFunction = float (*)(const float*, const float*, std::size_t) noexcept;

bool has_avx2_fma() noexcept {
#ifdef KEEL_DOT_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

DotFunction choose() noexcept {
#ifdef KEEL_DOT_X86
  if (has_avx2_fma()) return dot_avx2;
#endif
  return dot_portable;
}

// Chosen once at load time; a plain pointer afterwards (no guard on the hot path).
const DotFunction chosen = choose();

}  // namespace

float dot(const float* a, const float* b, std::size_t n) noexcept { return chosen(a, b, n); }

std::string_view dot_implementation() noexcept {
  return chosen == dot_portable ? "portable" : "avx2+fma";
}

float normalize(float* v, std::size_t n) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i)
    sum += static_cast<double>(v[i]) * v[i];
  if (sum <= 0) return 0;
  auto length = static_cast<float>(std::sqrt(sum));
  float inverse = 1.0f / length;
  for (std::size_t i = 0; i < n; ++i)
    v[i] *= inverse;
  return length;
}

}  // namespace keel::vector

#include "vector/dot.hpp"

#include <atomic>
#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
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

// Four 16-wide sums: on a vector fetched from memory (the usual case in a graph search) the
// wider loads leave fewer instructions waiting on each cache line; ~35% faster than AVX2 there.
__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b,
                                                    std::size_t n) noexcept {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
         s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {  // the last 1..15: masked loads read nothing past the end
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i),
                         s1);
  }
  // (Not _mm512_reduce_add_ps: GCC 12's header for it warns of an uninitialised variable.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  float total = 0;
  for (float lane : lanes)
    total += lane;
  return total;
}

#endif

#ifdef KEEL_DOT_X86
// What the processor and the operating system support, asked of CPUID directly rather than
// through __builtin_cpu_supports: that links libgcc's CPU probe, a constructor that runs at
// load in every process linking keel (a few dozen CPUID instructions, each a trap to the
// hypervisor on a virtual machine). Asked once, at the first dot product.
struct Features {
  bool avx2_fma = false;
  bool avx512 = false;
};

Features features() noexcept {
  Features out;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return out;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return out;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  const bool ymm_state = (xcr0_low & 0x6) == 0x6;            // SSE and AVX registers saved
  const bool zmm_state = (xcr0_low & 0xE6) == 0xE6;          // and the AVX-512 ones
  if (!ymm_state || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return out;
  out.avx2_fma = fma && (b & (1u << 5));
  out.avx512 = zmm_state && (b & (1u << 16));
  return out;
}
#endif

bool has_avx2_fma() noexcept {
#ifdef KEEL_DOT_X86
  return features().avx2_fma;
#else
  return false;
#endif
}

bool has_avx512() noexcept {
#ifdef KEEL_DOT_X86
  return features().avx512;
#else
  return false;
#endif
}

DotFunction choose() noexcept {
#ifdef KEEL_DOT_X86
  const Features f = features();
  if (f.avx512) return dot_avx512;
  if (f.avx2_fma) return dot_avx2;
#endif
  return dot_portable;
}

// The first call chooses; a plain pointer afterwards (a relaxed atomic load is a plain load on
// the hot path). Two threads choosing at once choose the same.
float dot_first(const float* a, const float* b, std::size_t n) noexcept;
std::atomic<DotFunction> chosen{dot_first};

DotFunction current() noexcept {
  DotFunction f = chosen.load(std::memory_order_relaxed);
  if (f == dot_first) {
    f = choose();
    chosen.store(f, std::memory_order_relaxed);
  }
  return f;
}

float dot_first(const float* a, const float* b, std::size_t n) noexcept { return current()(a, b, n); }

}  // namespace

float dot(const float* a, const float* b, std::size_t n) noexcept {
  return chosen.load(std::memory_order_relaxed)(a, b, n);
}

std::string_view dot_implementation() noexcept {
#ifdef KEEL_DOT_X86
  const DotFunction f = current();
  if (f == dot_avx512) return "avx512";
  if (f == dot_avx2) return "avx2+fma";
#endif
  return "portable";
}

std::vector<std::pair<std::string_view, DotFunction>> dot_implementations() {
  std::vector<std::pair<std::string_view, DotFunction>> out{{"portable", dot_portable}};
#ifdef KEEL_DOT_X86
  if (has_avx2_fma()) out.emplace_back("avx2+fma", dot_avx2);
  if (has_avx512()) out.emplace_back("avx512", dot_avx512);
#endif
  return out;
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

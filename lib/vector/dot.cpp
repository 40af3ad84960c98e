#include "vector/dot.hpp"

#include <algorithm>
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
// one long dependency chain (no -ffast-math). `b` is floats, or an int8 vector's values.
template <class B>
float dot_portable_of(const float* a, const B* b, std::size_t n) noexcept {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j)
      s[j] += a[i + j] * static_cast<float>(b[i + j]);
  }
  float tail = 0;
  for (; i < n; ++i)
    tail += a[i] * static_cast<float>(b[i]);
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
}

float dot_portable(const float* a, const float* b, std::size_t n) noexcept {
  return dot_portable_of(a, b, n);
}

float dot_f32_i8_portable(const float* a, const std::int8_t* b, std::size_t n) noexcept {
  return dot_portable_of(a, b, n);
}

#ifdef KEEL_DOT_X86
// Eight floats of `b`: floats, or int8 values widened.
__attribute__((target("avx2"))) inline __m256 eight(const float* p) noexcept {
  return _mm256_loadu_ps(p);
}
__attribute__((target("avx2"))) inline __m256 eight(const std::int8_t* p) noexcept {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

template <class B>
__attribute__((target("avx2,fma"))) float dot_avx2_of(const float* a, const B* b,
                                                      std::size_t n) noexcept {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), eight(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), eight(b + i + 8), s1);
  }
  if (i + 8 <= n) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), eight(b + i), s0);
    i += 8;
  }
  __m256 s = _mm256_add_ps(s0, s1);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  float total = _mm_cvtss_f32(q);
  for (; i < n; ++i)
    total += a[i] * static_cast<float>(b[i]);
  return total;
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b,
                                                   std::size_t n) noexcept {
  return dot_avx2_of(a, b, n);
}

__attribute__((target("avx2,fma"))) float dot_f32_i8_avx2(const float* a, const std::int8_t* b,
                                                          std::size_t n) noexcept {
  return dot_avx2_of(a, b, n);
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
    s1 =
        _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), s1);
  }
  // (Not _mm512_reduce_add_ps: GCC 12's header for it warns of an uninitialised variable.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  float total = 0;
  for (float lane : lanes)
    total += lane;
  return total;
}

// int8: each 16 bytes widened to 16-bit lanes, multiplied and summed in pairs into 32-bit lanes
// (vpmaddwd): exact, as no pair of products exceeds 2 * 127 * 127.
__attribute__((target("avx2"))) inline __m256i widen(const std::int8_t* p) noexcept {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

__attribute__((target("avx2"))) std::int32_t dot_i8_avx2(const std::int8_t* a, const std::int8_t* b,
                                                         std::size_t n) noexcept {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(widen(a + i), widen(b + i)));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(widen(a + i + 16), widen(b + i + 16)));
  }
  if (i + 16 <= n) {
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(widen(a + i), widen(b + i)));
    i += 16;
  }
  __m256i s = _mm256_add_epi32(s0, s1);
  __m128i q = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, _MM_SHUFFLE(1, 0, 3, 2)));
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, _MM_SHUFFLE(2, 3, 0, 1)));
  std::int32_t total = _mm_cvtsi128_si32(q);
  for (; i < n; ++i)
    total += static_cast<std::int32_t>(a[i]) * b[i];
  return total;
}

#endif

std::int32_t dot_i8_portable(const std::int8_t* a, const std::int8_t* b, std::size_t n) noexcept {
  std::int32_t total = 0;
  for (std::size_t i = 0; i < n; ++i)
    total += static_cast<std::int32_t>(a[i]) * b[i];
  return total;
}

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
  const bool ymm_state = (xcr0_low & 0x6) == 0x6;    // SSE and AVX registers saved
  const bool zmm_state = (xcr0_low & 0xE6) == 0xE6;  // and the AVX-512 ones
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

DotI8Function choose_i8() noexcept {
#ifdef KEEL_DOT_X86
  if (features().avx2_fma) return dot_i8_avx2;
#endif
  return dot_i8_portable;
}

// The first call chooses; a plain pointer afterwards (a relaxed atomic load is a plain load on
// the hot path). Two threads choosing at once choose the same.
float dot_first(const float* a, const float* b, std::size_t n) noexcept;
std::atomic<DotFunction> chosen{dot_first};
std::int32_t dot_i8_first(const std::int8_t* a, const std::int8_t* b, std::size_t n) noexcept;
std::atomic<DotI8Function> chosen_i8{dot_i8_first};

DotFunction current() noexcept {
  DotFunction f = chosen.load(std::memory_order_relaxed);
  if (f == dot_first) {
    f = choose();
    chosen.store(f, std::memory_order_relaxed);
  }
  return f;
}

float dot_first(const float* a, const float* b, std::size_t n) noexcept {
  return current()(a, b, n);
}

DotI8Function current_i8() noexcept {
  DotI8Function f = chosen_i8.load(std::memory_order_relaxed);
  if (f == dot_i8_first) {
    f = choose_i8();
    chosen_i8.store(f, std::memory_order_relaxed);
  }
  return f;
}

std::int32_t dot_i8_first(const std::int8_t* a, const std::int8_t* b, std::size_t n) noexcept {
  return current_i8()(a, b, n);
}

}  // namespace

float dot(const float* a, const float* b, std::size_t n) noexcept {
  return chosen.load(std::memory_order_relaxed)(a, b, n);
}

std::int32_t dot_i8(const std::int8_t* a, const std::int8_t* b, std::size_t n) noexcept {
  return chosen_i8.load(std::memory_order_relaxed)(a, b, n);
}

float dot_f32_i8(const float* a, const std::int8_t* b, std::size_t n) noexcept {
  // A few dozen calls a search, after the graph's int8 ones: follows their choice.
#ifdef KEEL_DOT_X86
  if (current_i8() == dot_i8_avx2) return dot_f32_i8_avx2(a, b, n);
#endif
  return dot_f32_i8_portable(a, b, n);
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

std::vector<std::pair<std::string_view, DotF32I8Function>> dot_f32_i8_implementations() {
  std::vector<std::pair<std::string_view, DotF32I8Function>> out{{"portable", dot_f32_i8_portable}};
#ifdef KEEL_DOT_X86
  if (has_avx2_fma()) out.emplace_back("avx2+fma", dot_f32_i8_avx2);
#endif
  return out;
}

std::vector<std::pair<std::string_view, DotI8Function>> dot_i8_implementations() {
  std::vector<std::pair<std::string_view, DotI8Function>> out{{"portable", dot_i8_portable}};
#ifdef KEEL_DOT_X86
  if (has_avx2_fma()) out.emplace_back("avx2", dot_i8_avx2);
#endif
  return out;
}

float quantize_i8(const float* v, std::size_t n, std::int8_t* q) noexcept {
  float peak = 0;
  for (std::size_t i = 0; i < n; ++i)
    peak = std::max(peak, std::abs(v[i]));  // (a NaN leaves peak as it was: checked below)
  bool finite = std::isfinite(peak);
  for (std::size_t i = 0; i < n && finite; ++i)
    finite = std::isfinite(v[i]);
  if (!finite || peak == 0) {
    std::fill(q, q + n, std::int8_t{0});
    return 0;
  }
  const float inverse = 127.0f / peak;
  for (std::size_t i = 0; i < n; ++i) {
    const float scaled = std::clamp(v[i] * inverse, -127.0f, 127.0f);
    q[i] = static_cast<std::int8_t>(std::lrint(scaled));
  }
  return peak / 127.0f;
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

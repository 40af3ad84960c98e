// Internal: the inner product of float vectors, the hot loop of every vector search, and of
// int8 vectors, the same for a quantised index. keel is built without -march=native, so this
// picks AVX-512 or AVX2 + FMA at run time when the CPU has them and a portable loop otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::vector {

/// Sum of a[i] * b[i] for i < n.
float dot(const float* a, const float* b, std::size_t n) noexcept;

/// "avx512", "avx2+fma" or "portable": the implementation dot() uses on this CPU.
std::string_view dot_implementation() noexcept;

using DotFunction = float (*)(const float*, const float*, std::size_t) noexcept;
/// Every implementation this CPU can run, by name (for tests and benchmarks).
std::vector<std::pair<std::string_view, DotFunction>> dot_implementations();

/// Sum of a[i] * b[i] for i < n, exact for n < 133,000 (|a[i]|, |b[i]| <= 127).
std::int32_t dot_i8(const std::int8_t* a, const std::int8_t* b, std::size_t n) noexcept;

using DotI8Function = std::int32_t (*)(const std::int8_t*, const std::int8_t*,
                                       std::size_t) noexcept;
/// Every int8 implementation this CPU can run, by name (for tests and benchmarks).
std::vector<std::pair<std::string_view, DotI8Function>> dot_i8_implementations();

/// Sum of a[i] * b[i] for i < n: a float vector against an int8 one (a quantised vector's
/// values, to be multiplied by its scale).
float dot_f32_i8(const float* a, const std::int8_t* b, std::size_t n) noexcept;

using DotF32I8Function = float (*)(const float*, const std::int8_t*, std::size_t) noexcept;
/// Every float-by-int8 implementation this CPU can run, by name (for tests).
std::vector<std::pair<std::string_view, DotF32I8Function>> dot_f32_i8_implementations();

/// Writes v[0..n) as int8 values q[i] in -127..127 with v[i] ~ scale * q[i], scale = max|v[i]| /
/// 127 (the rounding error of each is at most scale / 2), and returns the scale; a zero vector, or
/// one with a value that is not finite, gives zeros and scale 0.
float quantize_i8(const float* v, std::size_t n, std::int8_t* q) noexcept;

/// Scales v to unit L2 length; a zero vector stays zero. Returns the original length.
float normalize(float* v, std::size_t n) noexcept;

}  // namespace keel::vector

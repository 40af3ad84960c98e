// Internal: the inner product of float vectors, the hot loop of every vector search. keel is
// built without -march=native, so this picks AVX-512 or AVX2 + FMA at run time when the CPU
// has them and a portable loop otherwise.
#pragma once

#include <cstddef>
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

/// Scales v to unit L2 length; a zero vector stays zero. Returns the original length.
float normalize(float* v, std::size_t n) noexcept;

}  // namespace keel::vector

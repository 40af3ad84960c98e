// The documents kb_crash_writer writes and crash_test.cpp checks.
#pragma once

#include <string>
#include <vector>

#include "kb_test_support.hpp"

namespace keel::crash {

inline constexpr int batch_size = 25;
inline constexpr std::size_t dimension = 16;

inline KnowledgeOptions options() {
  KnowledgeOptions o;
  o.dimension = dimension;
  o.hnsw.ef_construction = 40;
  return o;
}

inline std::string document_id(int batch, int i) {
  return "b" + std::to_string(batch) + "-" + std::to_string(i);
}

inline std::vector<float> vector_of(int batch, int i) {
  return testing::random_vector(
      dimension, static_cast<std::uint64_t>(batch) * 1000 + static_cast<std::uint64_t>(i));
}

inline std::vector<Document> batch(int n) {
  std::vector<Document> out;
  for (int i = 0; i < batch_size; ++i) {
    out.push_back(testing::make_document(
        document_id(n, i),
        "batch" + std::to_string(n) + " item" + std::to_string(i) + " crash data", {{"batch", n}},
        vector_of(n, i)));
  }
  return out;
}

}  // namespace keel::crash

// Helpers for the knowledge base tests: a temporary directory and small vectors.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "keel/knowledge.hpp"

namespace keel::testing {

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "keel-kb-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// A deterministic pseudo-random unit vector.
inline std::vector<float> random_vector(std::size_t dimension, std::uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dimension);
  double norm = 0;
  for (auto& x : v) {
    x = normal(rng);
    norm += static_cast<double>(x) * x;
  }
  for (auto& x : v)
    x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

inline Document make_document(std::string id, std::string text, Json metadata = Json::object(),
                              std::vector<float> vector = {}) {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.metadata = std::move(metadata);
  d.vector = std::move(vector);
  return d;
}

/// Options for a small base of given vectors.
inline KnowledgeOptions small_options(std::size_t dimension = 16) {
  KnowledgeOptions options;
  options.dimension = dimension;
  options.hnsw.ef_construction = 64;
  return options;
}

inline std::vector<std::string> hit_ids(const SearchResult& result) {
  std::vector<std::string> ids;
  for (const auto& hit : result.hits)
    ids.push_back(hit.id);
  return ids;
}

}  // namespace keel::testing

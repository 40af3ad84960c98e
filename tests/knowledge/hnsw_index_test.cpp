// The HNSW index file: a loaded index is the index that was saved. (Loading leaves out what
// only adds and deletions need, made on their first use: these tests use every operation on
// a loaded index.)
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "kb_test_support.hpp"
#include "vector/dot.hpp"
#include "vector/hnsw_index.hpp"

using namespace keel;
using namespace keel::testing;
using keel::vector::HnswIndex;
using keel::vector::Quantization;

namespace {

constexpr std::size_t dimension = 16;
constexpr std::uint64_t owner = 77;

HnswIndex make_index(Quantization quantization) {
  HnswIndex index(dimension, 64, 8, 64, 100, quantization);  // grows past 64 as vectors come
  for (HnswIndex::Label label = 1; label <= 300; ++label)
    index.add(label, random_vector(dimension, label).data());
  for (HnswIndex::Label label = 10; label <= 100; label += 10)
    REQUIRE(index.mark_deleted(label));
  return index;
}

HnswIndex load(const std::string& path, Quantization quantization) {
  HnswIndex::FileInfo info;
  std::string rejection;
  auto loaded = HnswIndex::load(path, dimension, quantization, owner, &info, &rejection);
  REQUIRE_MESSAGE(loaded.has_value(), rejection);
  CHECK(info.quantization == quantization);
  CHECK(info.generation == 5);
  CHECK(info.elements == 300);
  return std::move(*loaded);
}

Quantization either() {
  Quantization quantization = Quantization::none;
  SUBCASE("float32") {}
  SUBCASE("int8") {
    quantization = Quantization::int8;
  }
  return quantization;
}

}  // namespace

TEST_CASE("a loaded index answers, adds, deletes and looks labels up as the one saved") {
  const Quantization quantization = either();
  TempDir dir;
  const auto path = dir.file("index.hnsw");
  HnswIndex original = make_index(quantization);
  original.save(path, {owner, 5});
  HnswIndex loaded = load(path, quantization);
  CHECK(loaded.quantization() == quantization);

  CHECK(loaded.size() == original.size());
  CHECK(loaded.deleted_count() == 10);
  CHECK(loaded.max_label() == 300);
  for (std::uint64_t q = 0; q < 20; ++q) {
    auto query = random_vector(dimension, 1000 + q);
    CHECK(loaded.search(query.data(), 10, 50) == original.search(query.data(), 10, 50));
  }

  CHECK(loaded.contains(7));
  CHECK_FALSE(loaded.contains(20));   // deleted
  CHECK_FALSE(loaded.contains(301));  // never added
  CHECK(loaded.mark_deleted(7));
  CHECK_FALSE(loaded.mark_deleted(7));
  CHECK_FALSE(loaded.mark_deleted(301));
  CHECK_FALSE(loaded.contains(7));

  // A new label, a new vector for a present label, and a deleted label brought back.
  auto fresh = random_vector(dimension, 5000);
  loaded.add(400, fresh.data());
  auto moved = random_vector(dimension, 6000);
  loaded.add(8, moved.data());
  auto back = random_vector(dimension, 7000);
  std::vector<HnswIndex::Label> labels{30, 401};
  std::vector<float> vectors(back);
  auto other = random_vector(dimension, 8000);
  vectors.insert(vectors.end(), other.begin(), other.end());
  loaded.add_batch(2, labels.data(), vectors.data());
  CHECK(loaded.search(fresh.data(), 1, 50)[0].first == 400);
  CHECK(loaded.search(moved.data(), 1, 50)[0].first == 8);
  CHECK(loaded.search(back.data(), 1, 50)[0].first == 30);
  CHECK(loaded.contains(30));
  CHECK(loaded.max_label() == 401);
  CHECK(loaded.size() == 300 - 10 - 1 + 1 + 1 + 1);

  // Past the room the loaded index was given (its arrays move; the loaded elements' upper-level
  // lists, kept in one block, stay where they are).
  for (HnswIndex::Label label = 1000; label < 2500; ++label)
    loaded.add(label, random_vector(dimension, label).data());
  CHECK(loaded.search(random_vector(dimension, 2222).data(), 1, 50)[0].first == 2222);
  CHECK(loaded.search(moved.data(), 1, 50)[0].first == 8);

  // And it saves and loads again.
  loaded.save(path, {owner, 6});
  HnswIndex::FileInfo info;
  auto again = HnswIndex::load(path, dimension, quantization, owner, &info);
  REQUIRE(again.has_value());
  CHECK(info.generation == 6);
  CHECK(again->size() == loaded.size());
  CHECK(again->max_label() == 2499);
  CHECK(again->search(moved.data(), 1, 50)[0].first == 8);
  CHECK_FALSE(again->contains(7));
}

TEST_CASE("an index file with any byte changed or missing is rejected, never loaded") {
  const Quantization quantization = either();
  TempDir dir;
  const auto path = dir.file("index.hnsw");
  make_index(quantization).save(path, {owner, 5});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(bytes.size() > 1000);
  auto rejected = [&](const std::string& contents) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    std::string rejection;
    auto loaded = HnswIndex::load(path, dimension, quantization, owner, nullptr, &rejection);
    CAPTURE(rejection);
    return !loaded.has_value() && !rejection.empty();
  };
  // Every 97th byte flipped in turn: header, graph header, level-0 lists, vectors, labels,
  // upper-level lists.
  for (std::size_t at = 0; at < bytes.size(); at += 97) {
    CAPTURE(at);
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    CHECK(rejected(damaged));
  }
  CHECK(rejected(bytes.substr(0, bytes.size() - 1)));
  CHECK(rejected(bytes + "x"));
  CHECK(rejected(""));
  CHECK_FALSE(rejected(bytes));  // (the untouched file loads)

  // The same file asked for with the other quantization: refused, saying why.
  const Quantization other =
      quantization == Quantization::int8 ? Quantization::none : Quantization::int8;
  std::string rejection;
  CHECK_FALSE(HnswIndex::load(path, dimension, other, owner, nullptr, &rejection).has_value());
  CHECK(rejection == (quantization == Quantization::int8 ? "quantization int8, expected none"
                                                         : "quantization none, expected int8"));

  // Another owner or dimension: refused; 0 for either takes the file's own, which `info` tells.
  CHECK_FALSE(HnswIndex::load(path, dimension, quantization, owner + 1, nullptr, &rejection));
  CHECK(rejection == "belongs to another database");
  CHECK_FALSE(HnswIndex::load(path, dimension + 1, quantization, owner, nullptr, &rejection));
  CHECK(rejection ==
        "dimension " + std::to_string(dimension) + ", expected " + std::to_string(dimension + 1));
  HnswIndex::FileInfo info;
  auto any = HnswIndex::load(path, 0, quantization, 0, &info, &rejection);
  REQUIRE(any.has_value());
  CHECK(any->dimension() == dimension);
  CHECK(info.dimension == dimension);
  CHECK(info.owner == owner);
}

TEST_CASE("an int8 index finds what a float index finds, with similarities close to exact") {
  // Random vectors: the hardest case for HNSW (every distance alike), so the test compares the
  // two quantizations on the same graph parameters rather than with a fixed recall.
  constexpr std::size_t dim = 96, count = 3000, k = 10;
  std::vector<std::vector<float>> vectors;
  HnswIndex exact_index(dim, count, 16, 200, 100, Quantization::none);
  HnswIndex int8_index(dim, count, 16, 200, 100, Quantization::int8);
  for (std::size_t i = 0; i < count; ++i) {
    vectors.push_back(random_vector(dim, 20000 + i));
    vector::normalize(vectors.back().data(), dim);
    exact_index.add(i, vectors.back().data());
    int8_index.add(i, vectors.back().data());
  }
  std::size_t found_float = 0, found_int8 = 0;
  double worst_error = 0;
  for (std::uint64_t q = 0; q < 50; ++q) {
    auto query = random_vector(dim, 90000 + q);
    vector::normalize(query.data(), dim);
    std::vector<std::pair<float, std::size_t>> exact;
    for (std::size_t i = 0; i < count; ++i)
      exact.push_back({vector::dot(query.data(), vectors[i].data(), dim), i});
    std::partial_sort(exact.begin(), exact.begin() + k, exact.end(), std::greater<>());
    auto recalled = [&](const std::vector<std::pair<HnswIndex::Label, float>>& hits) {
      std::size_t found = 0;
      for (auto [label, similarity] : hits)
        for (std::size_t j = 0; j < k; ++j)
          found += exact[j].second == label;
      return found;
    };
    auto hits = int8_index.search(query.data(), k, 64);
    REQUIRE(hits.size() == k);
    found_int8 += recalled(hits);
    found_float += recalled(exact_index.search(query.data(), k, 64));
    for (auto [label, similarity] : hits) {
      const float true_similarity = vector::dot(query.data(), vectors[label].data(), dim);
      worst_error =
          std::max(worst_error, static_cast<double>(std::abs(similarity - true_similarity)));
    }
  }
  const double recall_float = static_cast<double>(found_float) / (50.0 * k);
  const double recall_int8 = static_cast<double>(found_int8) / (50.0 * k);
  CAPTURE(recall_float);
  CAPTURE(recall_int8);
  CAPTURE(worst_error);
  CHECK(recall_float >= 0.85);
  CHECK(recall_int8 >= recall_float - 0.03);
  CHECK(worst_error <= 0.01);
}

TEST_CASE("an int8 index of a dimension not a multiple of four saves, loads and finds") {
  // Its elements are padded to whole 4 bytes, so hnswlib's 32-bit link lists stay aligned
  // (the sanitizer build checks alignment).
  constexpr std::size_t dim = 17;
  TempDir dir;
  const auto path = dir.file("odd.hnsw");
  HnswIndex index(dim, 16, 8, 64, 100, Quantization::int8);
  for (HnswIndex::Label label = 1; label <= 200; ++label)
    index.add(label, random_vector(dim, 300 + label).data());
  index.save(path, {owner, 1});
  std::string rejection;
  auto loaded = HnswIndex::load(path, dim, Quantization::int8, owner, nullptr, &rejection);
  REQUIRE_MESSAGE(loaded.has_value(), rejection);
  for (HnswIndex::Label label = 1; label <= 200; label += 13) {
    auto query = random_vector(dim, 300 + label);
    CHECK(index.search(query.data(), 1, 32)[0].first == label);
    CHECK(loaded->search(query.data(), 1, 32)[0].first == label);
  }
}

TEST_CASE("an index large enough for huge pages loads, grows and answers as the one saved") {
  // 8,192 dimensions: level 0 of 1,224 slots (the loaded elements and room for 1,024 more) is
  // 40 MB, past the 32 MiB from which it is allocated on huge pages.
  constexpr std::size_t wide = 8192;
  TempDir dir;
  const auto path = dir.file("wide.hnsw");
  HnswIndex original(wide, 200, 4, 16, 101);  // few links: 1,400 adds of 8,192 floats
  for (HnswIndex::Label label = 1; label <= 200; ++label)
    original.add(label, random_vector(wide, label).data());
  original.save(path, {owner, 1});
  HnswIndex::FileInfo info;
  std::string rejection;
  auto loaded = HnswIndex::load(path, wide, Quantization::none, owner, &info, &rejection);
  REQUIRE_MESSAGE(loaded.has_value(), rejection);
  CHECK(info.elements == 200);
  for (std::uint64_t q = 0; q < 5; ++q) {
    auto query = random_vector(wide, 1000 + q);
    CHECK(loaded->search(query.data(), 10, 50) == original.search(query.data(), 10, 50));
  }
  // Past its room: the huge-page block is given back and its elements moved.
  for (HnswIndex::Label label = 201; label <= 1400; ++label)
    loaded->add(label, random_vector(wide, label).data());
  CHECK(loaded->size() == 1400);
  CHECK(loaded->search(random_vector(wide, 1333).data(), 1, 50)[0].first == 1333);
  CHECK(loaded->search(random_vector(wide, 17).data(), 1, 50)[0].first == 17);
}

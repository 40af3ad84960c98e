// The HNSW index file: a loaded index is the index that was saved. (Loading leaves out what
// only adds and deletions need, made on their first use: these tests use every operation on
// a loaded index.)
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "kb_test_support.hpp"
#include "vector/hnsw_index.hpp"

using namespace keel;
using namespace keel::testing;
using keel::vector::HnswIndex;

namespace {

constexpr std::size_t dimension = 16;
constexpr std::uint64_t owner = 77;

HnswIndex make_index() {
  HnswIndex index(dimension, 64, 8, 64);  // grows past 64 as vectors come
  for (HnswIndex::Label label = 1; label <= 300; ++label)
    index.add(label, random_vector(dimension, label).data());
  for (HnswIndex::Label label = 10; label <= 100; label += 10)
    REQUIRE(index.mark_deleted(label));
  return index;
}

HnswIndex load(const std::string& path) {
  HnswIndex::FileInfo info;
  std::string rejection;
  auto loaded = HnswIndex::load(path, dimension, owner, &info, &rejection);
  REQUIRE_MESSAGE(loaded.has_value(), rejection);
  CHECK(info.generation == 5);
  CHECK(info.elements == 300);
  return std::move(*loaded);
}

}  // namespace

TEST_CASE("a loaded index answers, adds, deletes and looks labels up as the one saved") {
  TempDir dir;
  const auto path = dir.file("index.hnsw");
  HnswIndex original = make_index();
  original.save(path, {owner, 5, 0, 0, 0});
  HnswIndex loaded = load(path);

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

  // And it saves and loads again.
  loaded.save(path, {owner, 6, 0, 0, 0});
  HnswIndex::FileInfo info;
  auto again = HnswIndex::load(path, dimension, owner, &info);
  REQUIRE(again.has_value());
  CHECK(info.generation == 6);
  CHECK(again->size() == loaded.size());
  CHECK(again->max_label() == 401);
  CHECK(again->search(moved.data(), 1, 50)[0].first == 8);
  CHECK_FALSE(again->contains(7));
}

TEST_CASE("an index file with any byte changed or missing is rejected, never loaded") {
  TempDir dir;
  const auto path = dir.file("index.hnsw");
  make_index().save(path, {owner, 5, 0, 0, 0});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(bytes.size() > 1000);
  auto rejected = [&](const std::string& contents) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    std::string rejection;
    auto loaded = HnswIndex::load(path, dimension, owner, nullptr, &rejection);
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
}

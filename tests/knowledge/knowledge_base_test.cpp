// Documents: open, upsert, get, remove, count, options and bad input.
#include <doctest/doctest.h>

#include <fstream>

#include "kb_test_support.hpp"
#include "keel/llm.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;

TEST_CASE("an in-memory base stores, replaces, returns and deletes documents") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert(make_document("a", "the first text", {{"lang", "en"}}, random_vector(16, 1)));
  kb.upsert(make_document("b", "the second text", {}, random_vector(16, 2)));
  CHECK(kb.count() == 2);

  auto a = kb.get("a");
  REQUIRE(a);
  CHECK(a->text == "the first text");
  CHECK(a->metadata == Json{{"lang", "en"}});
  REQUIRE(a->vector.size() == 16);
  // Cosine bases store unit vectors.
  auto expected = random_vector(16, 1);
  CHECK(a->vector[3] == doctest::Approx(expected[3]).epsilon(1e-5));

  kb.upsert(make_document("a", "replaced words", {{"lang", "fr"}}, random_vector(16, 3)));
  CHECK(kb.count() == 2);
  CHECK(kb.get("a")->text == "replaced words");
  CHECK(kb.get("a")->metadata["lang"] == "fr");

  kb.remove("a");
  CHECK_FALSE(kb.get("a"));
  CHECK(kb.count() == 1);
  CHECK_FALSE(kb.get("missing"));
}

TEST_CASE("removing an unknown document is not_found; removing several counts those that existed") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert(make_document("a", "x", {}, random_vector(16, 1)));
  kb.upsert(make_document("b", "y", {}, random_vector(16, 2)));
  try {
    kb.remove("nope");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::not_found);
    CHECK(std::string(e.what()).find("nope") != std::string::npos);
  }
  CHECK(kb.remove(std::vector<std::string>{"a", "nope", "b"}) == 2);
  CHECK(kb.count() == 0);
}

TEST_CASE("documents without a vector are embedded with the default hashing embedder") {
  KnowledgeOptions options;  // no dimension, no embedder: a 384-dimension hashing embedder
  auto kb = KnowledgeBase::open(":memory:", options);
  CHECK(kb.dimension() == 384);
  kb.upsert(make_document("cat", "the cat sat on the mat"));
  kb.upsert(make_document("stock", "stock markets fell sharply on tuesday"));
  auto doc = kb.get("cat");
  REQUIRE(doc);
  CHECK(doc->vector.size() == 384);
  SearchQuery query;
  query.text = "a cat on a mat";
  query.use_keyword = false;
  auto result = kb.search(query);
  REQUIRE_FALSE(result.hits.empty());
  CHECK(result.hits[0].id == "cat");
}

TEST_CASE("a batch upsert is one transaction: one bad document stores none of them") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert(make_document("kept", "kept", {}, random_vector(16, 9)));
  std::vector<Document> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(make_document("d" + std::to_string(i), "text", {}, random_vector(16, i)));
  batch[7].vector.resize(5);
  try {
    kb.upsert(batch);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
    CHECK(std::string(e.what()).find("\"d7\"") != std::string::npos);
    CHECK(std::string(e.what()).find("expected 16") != std::string::npos);
  }
  CHECK(kb.count() == 1);
  batch[7].vector = random_vector(16, 7);
  kb.upsert(batch);
  CHECK(kb.count() == 11);
}

TEST_CASE("a batch that fails inside the transaction rolls back the rows already written") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert_entity({"paris", "city", Json::object()});
  std::vector<Document> batch;
  batch.push_back(make_document("fine", "fine", {}, random_vector(16, 1)));
  batch.push_back(make_document("paris", "clashes with an entity", {}, random_vector(16, 2)));
  CHECK_THROWS_AS(kb.upsert(batch), Error);
  CHECK(kb.count() == 0);
  CHECK(kb.search("fine").hits.empty());
}

TEST_CASE("bad vectors and metadata are invalid_argument naming the document") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  auto nan = random_vector(16, 1);
  nan[4] = std::nanf("");
  auto check_error = [&](Document d, const std::string& needle) {
    try {
      kb.upsert(std::move(d));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_argument);
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  check_error(make_document("nan-doc", "x", {}, nan),
              "\"nan-doc\": vector[4] is not a finite number");
  auto inf = random_vector(16, 1);
  inf[0] = INFINITY;
  check_error(make_document("inf-doc", "x", {}, inf), "\"inf-doc\"");
  check_error(make_document("short", "x", {}, {1.0f, 2.0f}),
              "\"short\": vector has 2 values, expected 16");
  check_error(make_document("meta", "x", Json::array({1, 2}), random_vector(16, 1)),
              "metadata must be a JSON object");
  check_error(make_document("", "x", {}, random_vector(16, 1)), "empty id");
  CHECK(kb.count() == 0);
}

TEST_CASE("Document::from_json reads documents and names the path of bad fields") {
  auto d = Document::from_json(
      Json::parse(R"({"id": "x", "text": "t", "metadata": {"a": 1}, "vector": [1, 2]})"));
  CHECK(d.id == "x");
  CHECK(d.vector == std::vector<float>{1.0f, 2.0f});
  try {
    (void)Document::from_json(Json::parse(R"({"id": "x", "metadata": "oops"})"), "documents[3]");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
    CHECK(std::string(e.what()).rfind("documents[3].metadata", 0) == 0);
  }
  CHECK_THROWS_AS(Document::from_json(Json::parse(R"({"text": "no id"})")), Error);
  CHECK_THROWS_AS(Document::from_json(Json::parse(R"({"id": "x", "colour": 1})")), Error);
}

TEST_CASE("options from JSON: values are read, unknown keys and wrong types name the JSON path") {
  auto options = KnowledgeOptions::from_json(Json::parse(R"({"dimension": 32, "metric": "cosine",
      "hnsw": {"m": 8, "ef_construction": 50, "ef_search": 20}, "synchronous": "full",
      "compaction": {"deleted_fraction": 0.5, "min_deleted": 10}, "read_connections": 2})"));
  CHECK(options.dimension == 32);
  CHECK(options.hnsw.m == 8);
  CHECK(options.hnsw.ef_search == 20);
  CHECK(options.synchronous == "full");
  CHECK(options.compaction_min_deleted == 10);
  CHECK(KnowledgeOptions::from_json(options.to_json()).to_json() == options.to_json());
  CHECK(options.hnsw.quantization == VectorQuantization::int8);  // the default
  CHECK(options.to_json()["hnsw"]["quantization"] == "int8");
  auto float32 = KnowledgeOptions::from_json(Json::parse(R"({"hnsw": {"quantization": "none"}})"));
  CHECK(float32.hnsw.quantization == VectorQuantization::none);
  CHECK(float32.to_json()["hnsw"]["quantization"] == "none");
  CHECK_THROWS_WITH_AS(KnowledgeOptions::from_json(Json::parse(R"({"hnsw": {"quantization": 8}})")),
                       doctest::Contains("hnsw.quantization"), Error);

  auto error_of = [](const char* text) {
    try {
      (void)KnowledgeOptions::from_json(Json::parse(text));
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_config);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of(R"({"hnsw": {"m": "big"}})").rfind("hnsw.m", 0) == 0);
  CHECK(error_of(R"({"hnsw": {"ef": 3}})").rfind("hnsw", 0) == 0);
  CHECK(error_of(R"({"metric": "l2"})").rfind("metric", 0) == 0);
  CHECK(error_of(R"({"dimensions": 3})").find("dimensions") != std::string::npos);
  CHECK(error_of(R"({"compaction": {"deleted_fraction": 2}})")
            .rfind("compaction.deleted_fraction", 0) == 0);
  CHECK(error_of(R"({"dimension": 32, "embedder": {"provider": "hashing", "dimension": 64}})")
            .rfind("dimension", 0) == 0);
  CHECK(error_of(R"({"embedder": {"provider": "hashing", "colour": 1}})").rfind("embedder", 0) ==
        0);
}

TEST_CASE("a file that is not SQLite is refused with a clear io error") {
  TempDir dir;
  std::string path = dir.file("garbage.db");
  std::ofstream(path) << std::string(8192, 'x');
  try {
    (void)KnowledgeBase::open(path, small_options());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::io);
    CHECK_MESSAGE(std::string(e.what()).find("not a SQLite database") != std::string::npos,
                  e.what());
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
}

TEST_CASE("a SQLite database of another application is refused, not written into") {
  TempDir dir;
  std::string path = dir.file("other.db");
  {
    knowledge::Connection other(path, false);
    other.exec("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)");
  }
  try {
    (void)KnowledgeBase::open(path, small_options());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
    CHECK(std::string(e.what()).find("not a keel knowledge base") != std::string::npos);
  }
}

TEST_CASE(
    "reopening with another dimension or an embedder of another dimension is invalid_config") {
  TempDir dir;
  std::string path = dir.file("kb.db");
  KnowledgeBase::open(path, small_options(16)).close();
  auto options = small_options(32);
  CHECK_THROWS_WITH_AS(KnowledgeBase::open(path, options), doctest::Contains("dimension"), Error);
  KnowledgeOptions with_embedder;
  HashingEmbedder::Options embedder_options;
  embedder_options.dimension = 64;
  with_embedder.embedder = std::make_shared<HashingEmbedder>(embedder_options);
  CHECK_THROWS_WITH_AS(KnowledgeBase::open(path, with_embedder), doctest::Contains("embedder"),
                       Error);
  // No dimension given: the stored one is used.
  auto kb = KnowledgeBase::open(path, KnowledgeOptions{});
  CHECK(kb.dimension() == 16);
}

TEST_CASE("stats report documents, edges, index entries and the database size") {
  TempDir dir;
  auto kb = KnowledgeBase::open(dir.file("kb.db"), small_options());
  for (int i = 0; i < 5; ++i)
    kb.upsert(make_document("d" + std::to_string(i), "text", {}, random_vector(16, i)));
  kb.add_edge({"d0", "d1", "cites", 1.0, Json::object()});
  kb.remove("d4");
  auto stats = kb.stats();
  CHECK(stats["documents"] == 4);
  CHECK(stats["edges"] == 1);
  CHECK(stats["index_elements"] == 5);
  CHECK(stats["deleted_in_index"] == 1);
  CHECK(stats["db_bytes"].get<std::uint64_t>() > 0);
  CHECK(stats["dimension"] == 16);
  CHECK(stats["index"] == "created");
}

TEST_CASE("calls after close are invalid_argument, and close is idempotent") {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.close();
  kb.close();
  CHECK_THROWS_AS(kb.count(), Error);
  CHECK_THROWS_AS(kb.upsert(make_document("a", "x", {}, random_vector(16, 1))), Error);
}

// keel_bm25: FTS5's bm25() scores, with document lengths kept in memory.
#include <doctest/doctest.h>

#include <cmath>

#include "kb_test_support.hpp"
#include "knowledge/fts_query.hpp"
#include "knowledge/ranking.hpp"
#include "knowledge/schema.hpp"
#include "knowledge/sqlite.hpp"

using namespace keel;
using namespace keel::testing;
using keel::knowledge::Connection;
using keel::knowledge::TokenCounts;

namespace {

// Texts of different lengths over a small vocabulary, so that length normalisation matters.
std::string text_of(int i) {
  static const char* words[] = {"river", "stone", "bridge", "lantern", "harbour", "meadow",
                                "signal", "copper", "falcon", "orchard", "ember",  "tide"};
  std::string text;
  for (int w = 0; w < 3 + (i * 7) % 40; ++w) {
    if (w) text += ' ';
    text += words[(i * 5 + w * w + w * 3) % 12];
  }
  return text;
}

// Every matching row's bm25() and keel_bm25() on `db`.
void check_scores_match(Connection& db, const std::string& match) {
  auto rows = db.prepare(
      "SELECT rowid, bm25(documents_fts), keel_bm25(documents_fts) FROM documents_fts "
      "WHERE documents_fts MATCH ?1");
  rows.bind_text(1, match);
  int matched = 0;
  while (rows.step()) {
    ++matched;
    INFO("query " << match << ", label " << rows.int64(0));
    CHECK(rows.real(2) == doctest::Approx(rows.real(1)).epsilon(1e-12));
  }
  CHECK(matched > 0);
}

std::vector<std::string> queries() {
  auto words = text_of(20);
  auto second_space = words.find(' ', words.find(' ') + 1);
  return {"\"river\"",
          "\"stone\" OR \"falcon\" OR \"tide\"",
          "\"" + words.substr(0, second_space) + "\"",  // a phrase of two words
          "\"orch\" *",
          "\"ember\" AND \"copper\"",
          "\"for\" OR \"stone\" OR \"a\" OR \"tide\""};  // with words no row has
}

}  // namespace

TEST_CASE("keel_bm25 scores every row as FTS5's bm25() does, lengths known or not") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    std::vector<Document> documents;
    for (int i = 0; i < 80; ++i)
      documents.push_back(make_document("d" + std::to_string(i), text_of(i)));
    kb.upsert(documents);
    // Lengths change and documents go: the averages and counts move with them.
    kb.upsert(make_document("d3", text_of(3) + " " + text_of(50) + " " + text_of(51)));
    kb.remove(std::vector<std::string>{"d10", "d11", "d12"});
  }
  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  SUBCASE("lengths loaded from the docsize table") {
    auto counts = std::make_shared<TokenCounts>();
    counts->load(db);
    CHECK(counts->view().get(1) > 0);
    knowledge::register_ranking(db, counts);
    for (const auto& match : queries())
      check_scores_match(db, match);
  }
  SUBCASE("no lengths known: each is asked of FTS5") {
    knowledge::register_ranking(db, std::make_shared<TokenCounts>());
    for (const auto& match : queries())
      check_scores_match(db, match);
  }
}

TEST_CASE("the knowledge base's keyword scores follow documents as they are updated and deleted") {
  TempDir dir;
  const auto path = dir.file("kb.db");
  {
    auto kb = KnowledgeBase::open(path, small_options());
    std::vector<Document> documents;
    for (int i = 0; i < 40; ++i) {
      documents.push_back(
          make_document("d" + std::to_string(i), text_of(i), {}, random_vector(16, i)));
    }
    kb.upsert(documents);
  }
  auto kb = KnowledgeBase::open(path, small_options());  // lengths loaded as the base opens
  // d5 grows fourfold: a stale length would score it as the short document it was.
  kb.upsert(make_document("d5", text_of(5) + " " + text_of(30) + " " + text_of(31) + " " +
                                    text_of(32),
                          {}, random_vector(16, 5)));
  kb.remove("d6");
  kb.upsert(make_document("new", "river river stone", {}, random_vector(16, 99)));

  Connection db(path, true);
  knowledge::configure_connection(db, false, "normal");
  for (const std::string text : {"river", "stone falcon tide", "copper"}) {
    SearchQuery query;
    query.text = text;
    query.use_vector = false;
    query.k = 100;
    auto result = kb.search(query);
    REQUIRE(!result.hits.empty());
    for (const auto& hit : result.hits) {
      auto expected = db.prepare(
          "SELECT bm25(documents_fts) FROM documents_fts JOIN documents d "
          "ON d.label = documents_fts.rowid WHERE documents_fts MATCH ?1 AND d.id = ?2");
      const auto match = knowledge::build_match_expression(
          knowledge::keyword_terms(text), SearchQuery::KeywordMode::any, false);
      REQUIRE(expected.bind_text(1, match).bind_text(2, hit.id).step());
      INFO("query " << text << ", hit " << hit.id);
      REQUIRE(hit.keyword);
      CHECK(hit.keyword->score == doctest::Approx(-expected.real(0)).epsilon(1e-12));
      CHECK(hit.id != "d6");
    }
  }
}

TEST_CASE("TokenCounts: blocks made on demand, views stay valid, 0 forgets") {
  TokenCounts counts;
  CHECK(counts.view().get(1) == 0);
  CHECK(counts.memory_bytes() == 0);
  counts.set(1, 12);
  auto early = counts.view();
  counts.set(3 * TokenCounts::block_size + 5, 40);  // a new block: a new directory
  counts.set(1, 13);                                // seen through the old view too
  CHECK(early.get(1) == 13);
  CHECK(early.get(3 * TokenCounts::block_size + 5) == 0);
  auto now = counts.view();
  CHECK(now.get(3 * TokenCounts::block_size + 5) == 40);
  CHECK(now.get(2 * TokenCounts::block_size) == 0);  // a block never made
  CHECK(now.get(-1) == 0);
  CHECK(now.get(1000 * TokenCounts::block_size) == 0);
  counts.set(1, 0);
  CHECK(now.get(1) == 0);
  counts.set(900 * TokenCounts::block_size, 0);  // forgetting the unknown makes nothing
  CHECK(counts.view().get(900 * TokenCounts::block_size) == 0);
  CHECK(counts.memory_bytes() < 3 * sizeof(TokenCounts::Block));
}

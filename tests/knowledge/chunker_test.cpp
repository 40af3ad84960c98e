// chunk_text and chunk_document.
#include <doctest/doctest.h>

#include "keel/knowledge.hpp"

using namespace keel;

namespace {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t j = 1; j < n; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

TEST_CASE("short paragraphs are packed together; long texts are cut at paragraphs first") {
  std::string text =
      "First paragraph here.\n\nSecond paragraph here.\n\n" + std::string(60, 'x') + " end.";
  ChunkOptions options;
  options.max_bytes = 50;
  options.overlap_bytes = 0;
  auto chunks = chunk_text(text, options);
  REQUIRE(chunks.size() >= 2);
  CHECK(chunks[0].text == "First paragraph here.\n\nSecond paragraph here.");
  for (const auto& chunk : chunks) {
    CHECK(chunk.text.size() <= 50);
    CHECK(text.substr(chunk.start, chunk.end - chunk.start) == chunk.text);
  }
}

TEST_CASE("a long paragraph is cut at sentences, and chunks overlap by whole sentences") {
  std::string text = "One is here. Two is here. Three is here. Four is here. Five is here.";
  ChunkOptions options;
  options.max_bytes = 30;
  options.overlap_bytes = 13;
  auto chunks = chunk_text(text, options);
  REQUIRE(chunks.size() >= 3);
  CHECK(chunks[0].text == "One is here. Two is here.");
  CHECK(chunks[1].text.rfind("Two is here.", 0) == 0);  // the overlap repeats a sentence
  for (const auto& chunk : chunks)
    CHECK(chunk.text.size() <= 30);
  CHECK(chunks.back().text.find("Five is here.") != std::string::npos);
}

TEST_CASE("words longer than the limit are cut without splitting a UTF-8 character") {
  std::string word;
  for (int i = 0; i < 40; ++i)
    word += "\xC3\xA9";  // é, two bytes each
  ChunkOptions options;
  options.max_bytes = 17;
  options.overlap_bytes = 0;
  auto chunks = chunk_text(word, options);
  REQUIRE(chunks.size() >= 5);
  std::string joined;
  for (const auto& chunk : chunks) {
    CHECK(chunk.text.size() <= 17);
    CHECK(valid_utf8(chunk.text));
    joined += chunk.text;
  }
  CHECK(joined == word);
}

TEST_CASE("blank text gives no chunks; bad options are invalid_argument") {
  CHECK(chunk_text("  \n\n \t").empty());
  ChunkOptions bad;
  bad.max_bytes = 100;
  bad.overlap_bytes = 60;
  CHECK_THROWS_AS(chunk_text("text", bad), Error);
  bad.max_bytes = 4;
  bad.overlap_bytes = 0;
  CHECK_THROWS_AS(chunk_text("text", bad), Error);
  CHECK_THROWS_AS(
      ChunkOptions::from_json(Json::parse(R"({"max_bytes": 100, "overlap_bytes": 50})")), Error);
}

TEST_CASE("chunk_document keeps the parent id and the offsets in each chunk's metadata") {
  Document doc;
  doc.id = "manual";
  doc.text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota. Kappa lambda mu.";
  doc.metadata = {{"lang", "en"}};
  ChunkOptions options;
  options.max_bytes = 40;
  options.overlap_bytes = 0;
  auto pieces = chunk_document(doc, options);
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0].id == "manual#0");
  CHECK(pieces[1].id == "manual#1");
  CHECK(pieces[1].metadata["parent"] == "manual");
  CHECK(pieces[1].metadata["chunk"] == 1);
  CHECK(pieces[1].metadata["lang"] == "en");
  auto start = pieces[1].metadata["start"].get<std::size_t>();
  auto end = pieces[1].metadata["end"].get<std::size_t>();
  CHECK(doc.text.substr(start, end - start) == pieces[1].text);
  CHECK(pieces[0].vector.empty());
}

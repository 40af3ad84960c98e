// HashingEmbedder: the embedded default embedder.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "keel/llm.hpp"

using keel::Errc;
using keel::Error;
using keel::HashingEmbedder;
using keel::Json;

namespace {

double norm(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v)
    sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    dot += static_cast<double>(a[i]) * b[i];
  return dot;  // the vectors are unit length
}

std::vector<std::size_t> nonzero(const std::vector<float>& v) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0) out.push_back(i);
  }
  return out;
}

// Word unigrams only, so each word owns one bucket and tests can read weights.
HashingEmbedder words_only(std::size_t dimension = 1024) {
  HashingEmbedder::Options o;
  o.dimension = dimension;
  o.word_ngram_min = o.word_ngram_max = 1;
  o.char_ngram_min = o.char_ngram_max = 0;
  return HashingEmbedder(o);
}

std::string config_error(const Json& json) {
  try {
    (void)HashingEmbedder::from_json(json);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_config);
    return e.what();
  }
  return "(no error)";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

// The values below are also what tests/bench/embedder_baseline.py (an independent Python
// implementation of the same method) computes.
TEST_CASE("hashing embedder: output is a fixed function of the text (golden values)") {
  HashingEmbedder words = words_only(64);
  auto hello_world = words.embed("hello world");
  CHECK(nonzero(hello_world) == std::vector<std::size_t>{36, 44});
  CHECK(hello_world[36] == doctest::Approx(0.70710678).epsilon(1e-6));
  CHECK(hello_world[44] == doctest::Approx(-0.70710678).epsilon(1e-6));
  CHECK(words.embed("hello")[44] == doctest::Approx(-1.0).epsilon(1e-6));

  HashingEmbedder defaults;
  auto v = defaults.embed("Reset my password");
  CHECK(nonzero(v).size() == 41);
  CHECK(v[8] == doctest::Approx(0.10585122).epsilon(1e-5));
  CHECK(v[17] == doctest::Approx(-0.10585122).epsilon(1e-5));
  CHECK(v[19] == doctest::Approx(0.24253563).epsilon(1e-5));
  CHECK(v[85] == doctest::Approx(0.10585122).epsilon(1e-5));
  CHECK(defaults.embed("Reset my password") == v);
}

TEST_CASE("hashing embedder: vectors have unit L2 norm") {
  HashingEmbedder embedder;
  for (const char* text : {"a", "reset my password", "The quick brown fox jumps over the lazy dog",
                           "Grüße aus Köln — naïve café", "日本語のテキスト", "42"}) {
    CAPTURE(text);
    CHECK(norm(embedder.embed(text)) == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("hashing embedder: vectors have the configured dimension") {
  HashingEmbedder::Options o;
  o.dimension = 300;
  HashingEmbedder embedder(o);
  CHECK(embedder.dimension() == 300);
  CHECK(embedder.embed("hello").size() == 300);
  auto batch = embedder.embed_batch({"one", "two", ""});
  REQUIRE(batch.size() == 3);
  for (const auto& v : batch)
    CHECK(v.size() == 300);
  CHECK(HashingEmbedder().dimension() == 1024);
}

TEST_CASE("hashing embedder: embed, embed_into and embed_batch agree") {
  HashingEmbedder embedder;
  std::vector<float> into(embedder.dimension(), 7.0f);  // stale contents are overwritten
  embedder.embed_into("where is my parcel", into.data());
  CHECK(embedder.embed("where is my parcel") == into);
  CHECK(embedder.embed_batch({"x", "where is my parcel"})[1] == into);
}

TEST_CASE("hashing embedder: similar texts are closer than unrelated ones") {
  HashingEmbedder embedder;
  auto query = embedder.embed("how do I reset my password");
  auto paraphrase = embedder.embed("I forgot my password, please reset it");
  auto typo = embedder.embed("how do i rest my pasword");
  auto unrelated = embedder.embed("what will the weather be in Paris tomorrow");
  CHECK(cosine(query, paraphrase) > cosine(query, unrelated) + 0.2);
  CHECK(cosine(query, typo) > cosine(query, unrelated) + 0.2);  // character n-grams
}

TEST_CASE("hashing embedder: case, accents, width and compatibility forms fold together") {
  HashingEmbedder embedder;
  auto plain = embedder.embed("cafe creme file strasse 42");
  CHECK(embedder.embed("CAFÉ Crème ﬁle STRASSE 42") == plain);  // accents, ligature fi
  CHECK(embedder.embed("Ｃａｆｅ ｃｒｅｍｅ ｆｉｌｅ ｓｔｒａｓｓｅ ４２") == plain);  // full width
  CHECK(embedder.embed("cafe\xCC\x81 cre\xCC\x80me file stra\xC3\x9F"
                       "e 42") == plain);                            // combining, ß
  CHECK(embedder.embed("cafe  creme,file;strasse...42!") == plain);  // separators
}

TEST_CASE("hashing embedder: marks that spell vowels or voicing are kept, unlike accents") {
  HashingEmbedder embedder;
  CHECK(embedder.embed("\xE3\x81\x8C") != embedder.embed("\xE3\x81\x8B"));              // が, か
  CHECK(embedder.embed("\xE3\x81\x8C") == embedder.embed("\xE3\x81\x8B\xE3\x82\x99"));  // か + ゙
  CHECK(embedder.embed("\xE0\xA4\x95\xE0\xA4\xBF") != embedder.embed("\xE0\xA4\x95"));  // कि, क
  CHECK(nonzero(embedder.embed("\xE0\xA4\x95\xE0\xA4\xBF")) ==
        nonzero(embedder.embed("\xE0\xA4\x95\xE0\xA4\xBF")));
}

TEST_CASE("hashing embedder: word order matters through word bigrams") {
  HashingEmbedder with_bigrams;
  CHECK(with_bigrams.embed("dog bites man") != with_bigrams.embed("man bites dog"));
  HashingEmbedder::Options o;
  o.word_ngram_max = 1;
  HashingEmbedder unigrams(o);
  CHECK(unigrams.embed("dog bites man") == unigrams.embed("man bites dog"));
}

TEST_CASE("hashing embedder: text without letters or digits gives the zero vector") {
  HashingEmbedder embedder;
  embedder.fit({"some corpus", "of documents"});
  for (const char* text : {"", " ", "\t\n  \r\n", "?!... --- ***", "\xE2\x80\x8B"}) {
    CAPTURE(text);
    auto v = embedder.embed(text);
    CHECK(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; }));
  }
}

TEST_CASE("hashing embedder: invalid UTF-8, NUL bytes and huge texts embed without failing") {
  HashingEmbedder embedder;
  const std::string inputs[] = {
      std::string("\xFF\xFE\xFD"),
      std::string("caf\xC3"),                 // truncated sequence
      std::string("\xC0\xAF overlong"),       // overlong encoding
      std::string("\xED\xA0\x80 surrogate"),  // UTF-16 surrogate
      std::string("nul\0inside", 10),
  };
  for (const auto& text : inputs) {
    auto v = embedder.embed(text);
    CHECK(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
  }
  CHECK(embedder.embed(std::string("abc\0def", 7)) == embedder.embed("abc def"));

  std::string bytes(3 << 20, '\0');  // 3 MiB of every byte value, then one 2 MiB "word"
  std::uint32_t state = 12345;
  for (char& c : bytes) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>(state >> 24);
  }
  for (const std::string& huge : {bytes, std::string(2 << 20, 'a')}) {
    auto v = embedder.embed(huge);
    CHECK(norm(v) == doctest::Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("hashing embedder: fit gives rare terms more weight than common ones") {
  HashingEmbedder embedder = words_only();
  auto common = nonzero(embedder.embed("the"));
  auto rare = nonzero(embedder.embed("invoice"));
  REQUIRE(common.size() == 1);
  REQUIRE(rare.size() == 1);
  REQUIRE(common != rare);
  auto before = embedder.embed("the invoice");
  CHECK(std::fabs(before[common[0]]) == doctest::Approx(std::fabs(before[rare[0]])));

  CHECK_FALSE(embedder.fitted());
  embedder.fit({"the cat", "the dog", "the bird", "the invoice"});
  CHECK(embedder.fitted());
  auto after = embedder.embed("the invoice");
  // idf(the) = ln(5/5) + 1 = 1, idf(invoice) = ln(5/2) + 1
  CHECK(std::fabs(after[rare[0]] / after[common[0]]) ==
        doctest::Approx(std::log(5.0 / 2.0) + 1).epsilon(1e-5));
  CHECK(norm(after) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("hashing embedder: copies made before fit keep their weights") {
  HashingEmbedder embedder;
  HashingEmbedder copy = embedder;
  embedder.fit({"alpha beta", "beta gamma"});
  CHECK(embedder.fitted());
  CHECK_FALSE(copy.fitted());
  CHECK(copy.embed("alpha beta") == HashingEmbedder().embed("alpha beta"));
}

TEST_CASE("hashing embedder: to_json and from_json round-trip to identical vectors") {
  HashingEmbedder::Options o;
  o.dimension = 256;
  o.word_ngram_max = 3;
  o.char_ngram_min = 2;
  o.char_ngram_max = 4;
  o.char_weight = 0.75;
  HashingEmbedder embedder(o);

  Json unfitted = embedder.to_json();
  CHECK(unfitted.at("provider") == "hashing");
  CHECK_FALSE(unfitted.contains("idf"));

  embedder.fit({"book a flight to Paris", "cancel my flight", "what is my balance"});
  Json json = embedder.to_json();
  CHECK(json.at("dimension") == 256);
  CHECK(json.at("word_ngrams") == Json::array({1, 3}));
  CHECK(json.at("char_ngrams") == Json::array({2, 4}));
  CHECK(json.at("char_weight") == 0.75);
  CHECK(json.at("idf").size() == 256);

  HashingEmbedder restored = HashingEmbedder::from_json(keel::parse_json(keel::dump_json(json)));
  CHECK(restored.fitted());
  CHECK(restored.options().char_weight == 0.75);
  for (const char* text : {"book a flight", "balance please", "Zürich"}) {
    CHECK(restored.embed(text) == embedder.embed(text));
  }
  CHECK(HashingEmbedder::Options::from_json(o.to_json()).to_json() == o.to_json());
}

TEST_CASE("hashing embedder: from_json errors name the JSON path") {
  CHECK(starts_with(config_error({{"dimension", 8}}), "dimension: must be between 16 and 1048576"));
  CHECK(starts_with(config_error({{"dimension", "big"}}), "dimension: expected integer"));
  CHECK(starts_with(config_error({{"word_ngrams", {2, 1}}}), "word_ngrams: min (2) must not"));
  CHECK(starts_with(config_error({{"word_ngrams", {0, 0}}}), "word_ngrams: must be between 1"));
  CHECK(starts_with(config_error({{"word_ngrams", 2}}), "word_ngrams: expected [min, max]"));
  CHECK(starts_with(config_error({{"char_ngrams", {3, 9}}}), "char_ngrams[1]: must be between"));
  CHECK(starts_with(config_error({{"char_ngrams", {3, 4.5}}}), "char_ngrams[1]: expected integer"));
  CHECK(starts_with(config_error({{"char_ngrams", {0, 4}}}), "char_ngrams: must be between 1"));
  CHECK(starts_with(config_error({{"char_weight", -1}}), "char_weight: must be between 0"));
  CHECK(starts_with(config_error({{"provider", "openai"}}), "provider: expected \"hashing\""));
  CHECK(starts_with(config_error({{"dimenson", 64}}), "dimenson: unknown key"));
  CHECK(starts_with(config_error({{"idf", {1, 2}}}), "idf: expected an array of 1024 numbers"));
  Json idf = Json::array();
  for (int i = 0; i < 16; ++i)
    idf.push_back(1.5);
  idf[3] = "x";
  CHECK(starts_with(config_error({{"dimension", 16}, {"idf", idf}}), "idf[3]: expected a finite"));
  idf[3] = -2;
  CHECK(starts_with(config_error({{"dimension", 16}, {"idf", idf}}), "idf[3]: expected a finite"));
  CHECK_THROWS_AS(HashingEmbedder::from_json(Json::array()), Error);

  // Options alone take no IDF: a saved embedder goes through HashingEmbedder::from_json.
  try {
    (void)HashingEmbedder::Options::from_json({{"idf", Json::array()}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(starts_with(e.what(), "idf: unknown key"));
  }
  CHECK(HashingEmbedder::Options::from_json({{"provider", "hashing"}, {"char_ngrams", {0, 0}}})
            .char_ngram_max == 0);
}

TEST_CASE("hashing embedder: character n-grams can be disabled with [0, 0]") {
  HashingEmbedder embedder = HashingEmbedder::from_json(
      {{"word_ngrams", {1, 1}}, {"char_ngrams", {0, 0}}, {"char_weight", 1.0}});
  CHECK(nonzero(embedder.embed("hello")).size() == 1);
  HashingEmbedder zero_weight =
      HashingEmbedder::from_json({{"word_ngrams", {1, 1}}, {"char_weight", 0}});
  CHECK(zero_weight.embed("hello") == embedder.embed("hello"));
}

TEST_CASE("hashing embedder: out-of-range options are rejected by the constructor") {
  HashingEmbedder::Options o;
  o.dimension = 0;
  CHECK_THROWS_WITH_AS(HashingEmbedder{o}, doctest::Contains("dimension"), Error);
  o = {};
  o.char_ngram_min = 4;
  o.char_ngram_max = 2;
  CHECK_THROWS_WITH_AS(HashingEmbedder{o}, doctest::Contains("char_ngrams"), Error);
  o = {};
  o.char_weight = std::nan("");
  CHECK_THROWS_WITH_AS(HashingEmbedder{o}, doctest::Contains("char_weight"), Error);
  try {
    o = {};
    o.word_ngram_max = 9;
    HashingEmbedder{o};
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
  }
}

TEST_CASE("hashing embedder: embed_batch stops when cancelled or past its deadline") {
  HashingEmbedder embedder;
  keel::CancellationSource source;
  source.cancel();
  keel::CallOptions cancelled;
  cancelled.cancel = source.token();
  try {
    (void)embedder.embed_batch({"a", "b"}, cancelled);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::cancelled);
  }
  keel::CallOptions late;
  late.deadline = keel::Deadline::after_ms(-1);
  try {
    (void)embedder.embed_batch({"a"}, late);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::timeout);
  }
  CHECK(embedder.embed_batch({}, late).empty());
}

TEST_CASE("hashing embedder: concurrent embedding from many threads gives the same vectors") {
  HashingEmbedder embedder;
  embedder.fit({"check my balance", "book a table for two", "play some jazz"});
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) {
    texts.push_back("utterance number " + std::to_string(i) + " about " +
                    std::string(static_cast<std::size_t>(i % 7 + 1), 'x'));
  }
  texts.push_back(std::string(200000, 'b'));  // grows one thread's scratch mid-run
  auto expected = embedder.embed_batch(texts);
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(embedder.dimension());
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          std::size_t k = (i + static_cast<std::size_t>(t) * 5) % texts.size();
          embedder.embed_into(texts[k], out.data());
          if (out != expected[k]) ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (int m : mismatches)
    CHECK(m == 0);
}

TEST_CASE("hashing embedder: a text gives the same bits on a fresh thread and a warmed one") {
  HashingEmbedder embedder;
  auto words = [](int count, std::uint32_t seed) {
    std::string text;
    for (int i = 0; i < count; ++i) {
      for (int k = 0; k < 6; ++k) {
        seed = seed * 1664525u + 1013904223u;
        text += static_cast<char>('a' + (seed >> 24) % 26);
      }
      text += ' ';
    }
    return text;
  };
  (void)embedder.embed(words(20000, 1));  // grows this thread's scratch
  std::string text = words(150, 2);       // ~2,000 distinct features
  auto warmed = embedder.embed(text);
  std::vector<float> fresh;
  std::thread([&] { fresh = embedder.embed(text); }).join();
  CHECK(fresh == warmed);
}

// HashingEmbedder: the embedded default embedder (no model, no network).
//
// A text becomes tokens (runs of letters, digits and non-accent marks after compatibility
// decomposition and case folding, accents stripped), tokens become features (word n-grams and
// character n-grams of each token with '<' and '>' marking its ends), features are hashed with
// FNV-1a 64 + the MurmurHash3 finaliser, and each hash picks a bucket and a sign. Weights:
//   word n-gram      mean IDF of its tokens
//   char n-gram      char_weight * IDF(its token) / sqrt(number of char n-grams of the token)
//   feature value    mean weight of its occurrences * (1 + ln tf)
// then v[bucket] += sign * value and v is L2-normalised. IDF is learnt per bucket from the
// buckets of word unigrams only (character n-grams inherit their token's IDF), so the few
// thousand words of a corpus, not tens of thousands of n-grams, share the buckets' statistics;
// the tuning behind these choices is in tests/bench/bench_embedder.cpp.
//
// Everything per call lives in a thread_local scratch (the feature table grows amortised), so
// embedding allocates nothing once warm, and memory stays bounded on huge inputs.
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keel/llm.hpp"

namespace keel {

namespace {

// ---- hashing: a fixed function of UTF-8 bytes, identical on every platform ----

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

constexpr std::uint64_t fnv(std::uint64_t hash, unsigned char byte) {
  return (hash ^ byte) * fnv_prime;
}
inline std::uint64_t fnv(std::uint64_t hash, std::string_view bytes) {
  for (char c : bytes)
    hash = fnv(hash, static_cast<unsigned char>(c));
  return hash;
}

// A tag byte first, so a word "abc" and the character n-gram "abc" hash differently.
constexpr std::uint64_t word_seed = fnv(fnv_offset, 'w');
constexpr std::uint64_t char_seed = fnv(fnv_offset, 'c');

// MurmurHash3's fmix64: FNV's low bits are weak; this spreads every input bit over the key.
constexpr std::uint64_t finalise(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k == 0 ? 1 : k;  // 0 marks an empty slot of the feature table
}

// The high 32 bits pick the bucket (multiply-shift, no modulo bias worth speaking of); bit 0
// picks the sign.
inline std::size_t bucket_of(std::uint64_t key, std::size_t dimension) {
  return static_cast<std::size_t>(((key >> 32) * static_cast<std::uint64_t>(dimension)) >> 32);
}
inline bool negative(std::uint64_t key) {
  return (key & 1) != 0;
}

// ---- tokenising ----

// Longer "words" (base64, hex dumps, runs without spaces) are cut into pieces of this size, so
// per-token work and scratch stay bounded.
constexpr std::size_t max_token_bytes = 128;

inline bool ascii_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Accents: the combining diacritics of Latin, Greek and Cyrillic and the optional pointing of
// Hebrew and Arabic. Other scripts' marks spell vowels (Devanagari, Thai) or voicing (kana)
// and stay part of the word.
inline bool is_accent(std::int32_t cp) {
  return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
         (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
         (cp >= 0xFE20 && cp <= 0xFE2F) || (cp >= 0x0591 && cp <= 0x05C7) ||
         (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670;
}

// Calls on_token(std::string_view) for each token of `text`, normalised: compatibility
// decomposition (NFKD: the equivalences of NFKC), case folding, default-ignorable and format
// characters dropped without splitting words, accents stripped. Invalid UTF-8 bytes separate
// tokens. `token` is the caller's reusable buffer.
template <class OnToken>
void tokenise(std::string_view text, std::string& token, OnToken&& on_token) {
  token.clear();
  auto flush = [&] {
    if (!token.empty()) {
      on_token(std::string_view(token));
      token.clear();
    }
  };
  auto append = [&](const char* bytes, std::size_t n) {
    if (token.size() + n > max_token_bytes) flush();
    token.append(bytes, n);
  };
  constexpr auto options = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
                                                          UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = bytes[i];
    if (c < 0x80) {  // ASCII: NFKC and case folding are a table look-up
      if (ascii_alnum(c)) {
        char lower = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        append(&lower, 1);
      } else {
        flush();
      }
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    auto length = utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (length <= 0) {
      flush();
      ++i;
      continue;
    }
    i += static_cast<std::size_t>(length);
    std::array<utf8proc_int32_t, 32> decomposed;
    int boundclass = 0;
    auto count = utf8proc_decompose_char(cp, decomposed.data(),
                                         static_cast<utf8proc_ssize_t>(decomposed.size()), options,
                                         &boundclass);
    if (count < 0 || count > static_cast<utf8proc_ssize_t>(decomposed.size())) {
      flush();
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < count; ++k) {
      utf8proc_int32_t d = decomposed[static_cast<std::size_t>(k)];
      auto category = utf8proc_category(d);
      bool keep =
          (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO) ||
          (category >= UTF8PROC_CATEGORY_ND && category <= UTF8PROC_CATEGORY_NO) ||
          (category >= UTF8PROC_CATEGORY_MN && category <= UTF8PROC_CATEGORY_ME && !is_accent(d));
      if (keep) {
        utf8proc_uint8_t encoded[4];
        auto size = utf8proc_encode_char(d, encoded);
        append(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(size));
      } else if (category >= UTF8PROC_CATEGORY_MN && category <= UTF8PROC_CATEGORY_ME) {
        // an accent: dropped, the word goes on
      } else if (category != UTF8PROC_CATEGORY_CF) {
        flush();  // punctuation, symbols, spaces, controls
      }
    }
  }
  flush();
}

inline std::size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// ---- the per-text feature table: feature key -> (sum of weights, count) ----

class FeatureTable {
 public:
  static constexpr std::size_t initial_slots = 1024;
  // 2^20 slots (16 MiB): beyond half of that, features are folded into the output in chunks.
  static constexpr std::size_t max_slots = std::size_t{1} << 20;

  /// Adds one occurrence; false when the table is full and must be drained first.
  bool add(std::uint64_t key, float weight) {
    if (slots_.empty()) resize(initial_slots);
    std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(key) & mask;
    while (true) {
      Slot& slot = slots_[i];
      if (slot.key == key) {
        slot.sum += weight;
        if (slot.count != std::numeric_limits<std::uint32_t>::max()) ++slot.count;
        return true;
      }
      if (slot.key == 0) break;
      i = (i + 1) & mask;
    }
    if (used_.size() + 1 > slots_.size() / 2) {
      if (slots_.size() >= max_slots) return false;
      resize(slots_.size() * 2);
      return add(key, weight);
    }
    slots_[i] = {key, weight, 1};
    used_.push_back(static_cast<std::uint32_t>(i));
    return true;
  }

  /// Calls fn(key, value) for each feature, value = mean weight * (1 + ln tf), and empties
  /// the table.
  template <class Fn>
  void drain(Fn&& fn) {
    for (std::uint32_t i : used_) {
      Slot& slot = slots_[i];
      float value = slot.sum;
      if (slot.count > 1) {
        auto tf = static_cast<float>(slot.count);
        value = slot.sum / tf * (1.0f + std::log(tf));
      }
      fn(slot.key, value);
      slot = {};
    }
    used_.clear();
  }

  /// Forgets the features of a text that failed half-way.
  void clear() {
    for (std::uint32_t i : used_)
      slots_[i] = {};
    used_.clear();
  }

  /// Gives memory back after a huge text.
  void shrink() {
    if (slots_.size() > initial_slots * 16) {
      slots_ = std::vector<Slot>();
      used_ = std::vector<std::uint32_t>();
    }
  }

 private:
  struct Slot {
    std::uint64_t key = 0;
    float sum = 0;
    std::uint32_t count = 0;
  };

  // Keeps insertion order, so drain() adds to the output in the same order whatever the
  // table's size was: the same text gives the same bits on every thread.
  void resize(std::size_t size) {
    std::vector<Slot> old = std::move(slots_);
    std::vector<std::uint32_t> order = std::move(used_);
    slots_.assign(size, Slot{});
    used_.clear();
    used_.reserve(order.size());
    for (std::uint32_t at : order) {
      std::size_t i = static_cast<std::size_t>(old[at].key) & (size - 1);
      while (slots_[i].key != 0)
        i = (i + 1) & (size - 1);
      slots_[i] = old[at];
      used_.push_back(static_cast<std::uint32_t>(i));
    }
  }

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> used_;
};

struct Scratch {
  std::string token;
  FeatureTable table;
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

constexpr int max_ngram = 8;
constexpr std::size_t min_dimension = 16;
constexpr std::size_t max_dimension = std::size_t{1} << 20;

// Range checks shared by the constructor and from_json; `fail(field, message)` throws.
template <class Fail>
void check_options(const HashingEmbedder::Options& o, Fail&& fail) {
  if (o.dimension < min_dimension || o.dimension > max_dimension) {
    fail("dimension", "must be between " + std::to_string(min_dimension) + " and " +
                          std::to_string(max_dimension) + ", got " + std::to_string(o.dimension));
  }
  auto range = [&](const char* field, int lo, int hi, bool may_disable) {
    if (may_disable && lo == 0 && hi == 0) return;
    if (lo < 1 || lo > max_ngram || hi < 1 || hi > max_ngram) {
      fail(field, std::string("must be between 1 and ") + std::to_string(max_ngram) +
                      (may_disable ? " (or [0, 0] to disable)" : "") + ", got [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    if (lo > hi) {
      fail(field,
           "min (" + std::to_string(lo) + ") must not exceed max (" + std::to_string(hi) + ")");
    }
  };
  range("word_ngrams", o.word_ngram_min, o.word_ngram_max, false);
  range("char_ngrams", o.char_ngram_min, o.char_ngram_max, true);
  if (!(o.char_weight >= 0) || !std::isfinite(o.char_weight)) {
    fail("char_weight", "must be a finite number >= 0, got " + Json(o.char_weight).dump());
  }
}

// Reads [min, max], two integers in 0..max_ngram (check_options then checks the range).
std::pair<int, int> read_range(ConfigReader& reader, std::string_view key,
                               std::pair<int, int> fallback) {
  const Json* value = reader.raw(key);
  if (!value) return fallback;
  const std::string path = reader.path_of(key);
  if (!value->is_array() || value->size() != 2) {
    std::string got = value->is_array() ? "an array of " + std::to_string(value->size())
                                        : std::string(json_type_name(*value));
    throw_config_error(path, "expected [min, max], an array of two integers, got " + got);
  }
  std::array<int, 2> bounds{};
  for (std::size_t i = 0; i < 2; ++i) {
    const Json& item = (*value)[i];
    const std::string item_path = json_path_index(path, i);
    if (!item.is_number()) {
      throw_config_error(item_path, "expected integer, got " + std::string(json_type_name(item)));
    }
    double v = item.get<double>();
    if (std::floor(v) != v) throw_config_error(item_path, "expected integer, got " + item.dump());
    if (v < 0 || v > max_ngram) {
      throw_config_error(
          item_path, "must be between 0 and " + std::to_string(max_ngram) + ", got " + item.dump());
    }
    bounds[i] = static_cast<int>(v);
  }
  return {bounds[0], bounds[1]};
}

// The option keys of both Options::from_json and HashingEmbedder::from_json.
HashingEmbedder::Options read_options(ConfigReader& reader) {
  HashingEmbedder::Options o;
  if (auto provider = reader.maybe<std::string>("provider"); provider && *provider != "hashing") {
    throw_config_error(reader.path_of("provider"),
                       "expected \"hashing\", got \"" + *provider + "\"");
  }
  o.dimension = static_cast<std::size_t>(reader.integer(
      "dimension", static_cast<std::int64_t>(o.dimension), static_cast<std::int64_t>(min_dimension),
      static_cast<std::int64_t>(max_dimension)));
  std::tie(o.word_ngram_min, o.word_ngram_max) =
      read_range(reader, "word_ngrams", {o.word_ngram_min, o.word_ngram_max});
  std::tie(o.char_ngram_min, o.char_ngram_max) =
      read_range(reader, "char_ngrams", {o.char_ngram_min, o.char_ngram_max});
  o.char_weight = reader.number("char_weight", o.char_weight, 0.0, 1e6);
  check_options(o, [&](const char* field, const std::string& message) {
    throw_config_error(reader.path_of(field), message);
  });
  return o;
}

}  // namespace

// ---- options ----

HashingEmbedder::Options HashingEmbedder::Options::from_json(const Json& json) {
  ConfigReader reader(json);
  Options o = read_options(reader);
  reader.finish();
  return o;
}

Json HashingEmbedder::Options::to_json() const {
  return Json{{"dimension", dimension},
              {"word_ngrams", {word_ngram_min, word_ngram_max}},
              {"char_ngrams", {char_ngram_min, char_ngram_max}},
              {"char_weight", char_weight}};
}

// ---- the embedder ----

struct HashingEmbedder::Impl {
  Options options;
  std::vector<float> idf;  // one weight per bucket; empty until fit()

  // Embeds one text; the caller has zeroed nothing, `out` holds dimension floats.
  void embed(std::string_view text, float* out) const;
};

namespace {

// Turns the tokens of one text into weighted features in the scratch table, folding them into
// `out` whenever the table fills up (only texts with ~500k distinct features do that).
class FeatureWriter {
 public:
  FeatureWriter(const HashingEmbedder::Options& o, const float* idf, FeatureTable& table,
                float* out)
      : o_(o), idf_(idf), table_(table), out_(out) {
    chars_on_ = o.char_ngram_max > 0 && o.char_weight > 0;
  }

  void token(std::string_view bytes) {
    const std::uint64_t unigram = fnv(word_seed, bytes);
    const float idf = idf_ ? idf_[bucket_of(finalise(unigram), o_.dimension)] : 1.0f;
    word_ngrams(bytes, unigram, idf);
    if (chars_on_) char_ngrams(bytes, idf);
  }

  void finish() { drain(); }

 private:
  // Word n-grams ending at this token: each open n-gram (started by one of the previous
  // word_ngram_max - 1 tokens) carries its running hash and IDF sum, extended by this token.
  void word_ngrams(std::string_view bytes, std::uint64_t unigram, float idf) {
    const int max = o_.word_ngram_max;
    const int open = static_cast<int>(std::min<std::uint64_t>(seen_, max - 1));
    const int newest = static_cast<int>(seen_ % static_cast<std::uint64_t>(max));
    for (int back = open; back >= 1; --back) {
      int slot = (newest - back + max) % max;
      std::uint64_t h = fnv(fnv(running_[slot], ' '), bytes);
      running_[slot] = h;
      idf_sum_[slot] += idf;
      int n = back + 1;
      if (n >= o_.word_ngram_min) add(finalise(h), idf_sum_[slot] / static_cast<float>(n));
    }
    running_[newest] = unigram;
    idf_sum_[newest] = idf;
    if (o_.word_ngram_min == 1) add(finalise(unigram), idf);
    ++seen_;
  }

  // Character n-grams of "<token>", over code points; the token's n-grams share a weight of
  // char_weight * IDF(token) in L2 terms, whatever the token's length.
  void char_ngrams(std::string_view bytes, float idf) {
    // starts[q]: byte offset of code point q of the padded token in `bytes` (q = 1..L);
    // 0 is '<' and L + 1 is '>'.
    std::array<std::uint16_t, max_token_bytes + 2> starts;
    std::size_t length = 0;
    for (std::size_t at = 0; at < bytes.size();
         at += utf8_length(static_cast<unsigned char>(bytes[at]))) {
      starts[++length] = static_cast<std::uint16_t>(at);
    }
    starts[length + 1] = static_cast<std::uint16_t>(bytes.size());
    const std::size_t padded = length + 2;
    const auto min = static_cast<std::size_t>(o_.char_ngram_min);
    const auto max = static_cast<std::size_t>(o_.char_ngram_max);
    std::size_t count = 0;
    for (std::size_t n = min; n <= max && n <= padded; ++n)
      count += padded - n + 1;
    if (count == 0) return;
    const float weight =
        static_cast<float>(o_.char_weight) * idf / std::sqrt(static_cast<float>(count));
    for (std::size_t first = 0; first < padded; ++first) {
      std::uint64_t h = char_seed;
      for (std::size_t q = first; q < padded && q - first < max; ++q) {
        if (q == 0) {
          h = fnv(h, '<');
        } else if (q == padded - 1) {
          h = fnv(h, '>');
        } else {
          h = fnv(h, bytes.substr(starts[q], starts[q + 1] - starts[q]));
        }
        if (q - first + 1 >= min) add(finalise(h), weight);
      }
    }
  }

  void add(std::uint64_t key, float weight) {
    if (!table_.add(key, weight)) {
      drain();
      table_.add(key, weight);
    }
  }

  void drain() {
    const std::size_t dimension = o_.dimension;
    table_.drain([&](std::uint64_t key, float value) {
      out_[bucket_of(key, dimension)] += negative(key) ? -value : value;
    });
  }

  const HashingEmbedder::Options& o_;
  const float* idf_;
  FeatureTable& table_;
  float* out_;
  bool chars_on_ = false;
  std::uint64_t seen_ = 0;  // tokens so far
  std::array<std::uint64_t, max_ngram> running_{};
  std::array<float, max_ngram> idf_sum_{};
};

}  // namespace

void HashingEmbedder::Impl::embed(std::string_view text, float* out) const {
  const std::size_t dimension = options.dimension;
  std::fill(out, out + dimension, 0.0f);
  Scratch& scratch = thread_scratch();
  try {
    FeatureWriter writer(options, idf.empty() ? nullptr : idf.data(), scratch.table, out);
    tokenise(text, scratch.token, [&](std::string_view token) { writer.token(token); });
    writer.finish();
  } catch (...) {
    scratch.table.clear();  // so the next text on this thread starts clean
    throw;
  }
  if (text.size() > (std::size_t{1} << 20)) scratch.table.shrink();

  // Four accumulators in a fixed order: fast, and the same sum on every platform.
  float sums[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= dimension; i += 4) {
    for (std::size_t k = 0; k < 4; ++k)
      sums[k] += out[i + k] * out[i + k];
  }
  for (; i < dimension; ++i)
    sums[0] += out[i] * out[i];
  const float norm = std::sqrt((sums[0] + sums[1]) + (sums[2] + sums[3]));
  if (norm > 0 && std::isfinite(norm)) {
    const float inverse = 1.0f / norm;
    for (std::size_t k = 0; k < dimension; ++k)
      out[k] *= inverse;
  }
}

HashingEmbedder::HashingEmbedder(Options options) : impl_(std::make_shared<Impl>()) {
  check_options(options, [](const char* field, const std::string& message) {
    throw Error(Errc::invalid_argument,
                std::string("HashingEmbedder options: ") + field + ": " + message);
  });
  impl_->options = options;
}

HashingEmbedder::~HashingEmbedder() = default;

std::size_t HashingEmbedder::dimension() const noexcept {
  return impl_->options.dimension;
}

const HashingEmbedder::Options& HashingEmbedder::options() const noexcept {
  return impl_->options;
}

bool HashingEmbedder::fitted() const noexcept {
  return !impl_->idf.empty();
}

void HashingEmbedder::embed_into(std::string_view text, float* out) const {
  if (out == nullptr) throw Error(Errc::invalid_argument, "embed_into: out must not be null");
  try {
    impl_->embed(text, out);
  } catch (...) {
    throw error_from_current_exception();  // only std::bad_alloc can get here
  }
}

std::vector<std::vector<float>> HashingEmbedder::embed_batch(const std::vector<std::string>& texts,
                                                             const CallOptions& options) const {
  try {
    std::vector<std::vector<float>> vectors;
    vectors.reserve(texts.size());
    for (const std::string& text : texts) {
      if (options.cancel.cancelled()) throw Error(Errc::cancelled, "embedding cancelled");
      if (options.deadline.expired()) throw Error(Errc::timeout, "embedding deadline expired");
      vectors.emplace_back(impl_->options.dimension);
      impl_->embed(text, vectors.back().data());
    }
    return vectors;
  } catch (...) {
    throw error_from_current_exception();  // keel::Error passes through; bad_alloc converts
  }
}

void HashingEmbedder::fit(const std::vector<std::string>& corpus) {
  try {
    // Copy on write: copies of this embedder made before fit() keep their weights.
    auto next = std::make_shared<Impl>();
    next->options = impl_->options;
    const std::size_t dimension = next->options.dimension;
    if (corpus.size() >= std::numeric_limits<std::uint32_t>::max()) {
      throw Error(Errc::limit_exceeded, "hashing embedder: fit() takes fewer than 2^32 texts");
    }
    std::vector<std::uint32_t> df(dimension, 0);
    std::vector<std::uint32_t> last_document(dimension, 0);  // 0: not seen in this document
    std::string token;
    std::uint32_t document = 0;
    for (const std::string& text : corpus) {
      ++document;
      tokenise(text, token, [&](std::string_view bytes) {
        std::size_t bucket = bucket_of(finalise(fnv(word_seed, bytes)), dimension);
        if (last_document[bucket] != document) {
          last_document[bucket] = document;
          ++df[bucket];
        }
      });
    }
    const double n = static_cast<double>(corpus.size());
    next->idf.resize(dimension);
    // One logarithm per distinct document frequency (most buckets share a few), not per bucket.
    std::unordered_map<std::uint32_t, float> weight_of;
    for (std::size_t b = 0; b < dimension; ++b) {
      auto [at, added] = weight_of.try_emplace(df[b], 0.0f);
      if (added) at->second = static_cast<float>(std::log((1.0 + n) / (1.0 + df[b])) + 1.0);
      next->idf[b] = at->second;
    }
    impl_ = std::move(next);
  } catch (...) {
    throw error_from_current_exception();
  }
}

Json HashingEmbedder::to_json() const {
  Json json = impl_->options.to_json();
  json["provider"] = "hashing";
  if (fitted()) json["idf"] = impl_->idf;
  return json;
}

HashingEmbedder HashingEmbedder::from_json(const Json& json) {
  ConfigReader reader(json);
  Options options = read_options(reader);
  std::vector<float> idf;
  if (const Json* value = reader.raw("idf")) {
    const std::string path = reader.path_of("idf");
    if (!value->is_array() || value->size() != options.dimension) {
      throw_config_error(path,
                         "expected an array of " + std::to_string(options.dimension) +
                             " numbers (one per bucket), got " +
                             (value->is_array() ? "an array of " + std::to_string(value->size())
                                                : std::string(json_type_name(*value))));
    }
    idf.reserve(options.dimension);
    for (std::size_t i = 0; i < value->size(); ++i) {
      const Json& item = (*value)[i];
      double v = item.is_number() ? item.get<double>() : -1;
      if (!(v >= 0) || !std::isfinite(v) || v > std::numeric_limits<float>::max()) {
        throw_config_error(
            json_path_index(path, i),
            "expected a finite number >= 0, got " +
                (item.is_number() ? item.dump() : std::string(json_type_name(item))));
      }
      idf.push_back(static_cast<float>(v));
    }
  }
  reader.finish();
  HashingEmbedder embedder(options);
  embedder.impl_->idf = std::move(idf);
  return embedder;
}

}  // namespace keel

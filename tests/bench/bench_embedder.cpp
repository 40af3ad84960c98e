// HashingEmbedder speed and quality.
// - Speed: embed_into() and embed() p50 for a 10-word utterance and a 100-word text, fit() on
//   15,000 utterances. Baseline in the same run: the same method in pure Python
//   (tests/bench/embedder_baseline.py), which also cross-checks that both produce one vector.
// - Quality as the router uses it (../shared/data/router): CLINC150 "full" with (a) nearest
//   centroid and (b) 5 nearest utterances (similarity-weighted vote), IDF fitted on the train
//   utterances; one global threshold chosen on val + oos_val (the best in-scope accuracy + OOS
//   recall while in-scope accuracy stays within 1 point of its value without a threshold),
//   reported on test + oos_test. Banking77 test accuracy with (a) and (b).
//   build/bin/bench_embedder [--no-baseline] [--sweep] ['{"dimension": 2048, ...}']
// --sweep also evaluates other dimensions and character weights; a JSON argument overrides
// the default options.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"
#include "datasets.hpp"
#include "keel/llm.hpp"

using namespace keel;
using namespace keel::bench;

namespace {

using SparseVector = std::vector<std::pair<std::uint32_t, float>>;

SparseVector embed_sparse(const HashingEmbedder& embedder, const std::string& text,
                          std::vector<float>& dense) {
  embedder.embed_into(text, dense.data());
  SparseVector out;
  for (std::size_t b = 0; b < dense.size(); ++b) {
    if (dense[b] != 0) out.emplace_back(static_cast<std::uint32_t>(b), dense[b]);
  }
  return out;
}

struct Prediction {
  int label = -1;
  float score = 0;
};

// Nearest centroid and k nearest utterances over the train vectors (an inverted index over
// buckets, so scoring one query costs its buckets' postings, not the whole train set).
class Classifier {
 public:
  Classifier(const HashingEmbedder& embedder, const std::vector<Example>& train, int classes)
      : embedder_(embedder),
        classes_(classes),
        dense_(embedder.dimension()),
        centroids_(static_cast<std::size_t>(classes) * embedder.dimension()),
        postings_(embedder.dimension()) {
    const std::size_t dim = embedder.dimension();
    for (std::size_t i = 0; i < train.size(); ++i) {
      labels_.push_back(train[i].label);
      for (auto [b, v] : embed_sparse(embedder, train[i].text, dense_)) {
        centroids_[static_cast<std::size_t>(train[i].label) * dim + b] += v;
        postings_[b].emplace_back(static_cast<std::uint32_t>(i), v);
      }
    }
    for (int c = 0; c < classes; ++c) {
      float* v = &centroids_[static_cast<std::size_t>(c) * dim];
      double norm = 0;
      for (std::size_t b = 0; b < dim; ++b)
        norm += static_cast<double>(v[b]) * v[b];
      for (std::size_t b = 0; b < dim && norm > 0; ++b)
        v[b] /= static_cast<float>(std::sqrt(norm));
    }
    scores_.resize(train.size());
    order_.resize(train.size());
  }

  // (a) nearest centroid by cosine and (b) k nearest utterances, similarity-weighted vote.
  std::pair<Prediction, Prediction> predict(const std::string& text, int k = 5) {
    const std::size_t dim = embedder_.dimension();
    SparseVector query = embed_sparse(embedder_, text, dense_);
    Prediction centroid;
    centroid.score = -2;
    for (int c = 0; c < classes_; ++c) {
      const float* v = &centroids_[static_cast<std::size_t>(c) * dim];
      float s = 0;
      for (auto [b, x] : query)
        s += x * v[b];
      if (s > centroid.score) centroid = {c, s};
    }
    std::fill(scores_.begin(), scores_.end(), 0.0f);
    for (auto [b, x] : query) {
      for (auto [id, v] : postings_[b])
        scores_[id] += x * v;
    }
    for (std::size_t i = 0; i < order_.size(); ++i)
      order_[i] = static_cast<std::uint32_t>(i);
    auto top = std::min<std::size_t>(static_cast<std::size_t>(k), order_.size());
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(top),
                      order_.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return scores_[a] > scores_[b]; });
    std::vector<float> votes(static_cast<std::size_t>(classes_), 0.0f);
    for (std::size_t j = 0; j < top; ++j) {
      votes[static_cast<std::size_t>(labels_[order_[j]])] += std::max(0.0f, scores_[order_[j]]);
    }
    auto best = std::max_element(votes.begin(), votes.end()) - votes.begin();
    Prediction knn{static_cast<int>(best),
                   votes[static_cast<std::size_t>(best)] / static_cast<float>(k)};
    return {centroid, knn};
  }

 private:
  const HashingEmbedder& embedder_;
  int classes_;
  std::vector<float> dense_;
  std::vector<float> centroids_;
  std::vector<SparseVector> postings_;
  std::vector<int> labels_;
  std::vector<float> scores_;
  std::vector<std::uint32_t> order_;
};

struct Rates {
  double in_scope_accuracy = 0;  // correct and accepted, over in-scope examples
  double oos_recall = 0;         // rejected, over out-of-scope examples
};

Rates rates(const std::vector<Prediction>& predictions, const std::vector<Example>& examples,
            float threshold) {
  std::size_t in_scope = 0, correct = 0, oos = 0, rejected = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    bool accepted = predictions[i].score >= threshold;
    if (examples[i].label >= 0) {
      ++in_scope;
      correct += accepted && predictions[i].label == examples[i].label;
    } else {
      ++oos;
      rejected += !accepted;
    }
  }
  return {in_scope ? 100.0 * static_cast<double>(correct) / static_cast<double>(in_scope) : 0,
          oos ? 100.0 * static_cast<double>(rejected) / static_cast<double>(oos) : 0};
}

// The threshold rule of the header comment, fitted on `val`.
float choose_threshold(const std::vector<Prediction>& predictions,
                       const std::vector<Example>& examples) {
  const float none = -1e30f;
  Rates base = rates(predictions, examples, none);
  float best = none;
  double best_sum = base.in_scope_accuracy + base.oos_recall;
  for (const Prediction& p : predictions) {
    Rates r = rates(predictions, examples, p.score);
    if (r.in_scope_accuracy >= base.in_scope_accuracy - 1.0 &&
        r.in_scope_accuracy + r.oos_recall > best_sum) {
      best_sum = r.in_scope_accuracy + r.oos_recall;
      best = p.score;
    }
  }
  return best;
}

// How well the score separates in-scope from out-of-scope examples, whatever the threshold:
// the probability that an in-scope example scores above an out-of-scope one.
double auroc(const std::vector<Prediction>& predictions, const std::vector<Example>& examples) {
  std::vector<std::pair<float, bool>> scored;  // (score, in scope)
  for (std::size_t i = 0; i < examples.size(); ++i) {
    scored.emplace_back(predictions[i].score, examples[i].label >= 0);
  }
  std::sort(scored.begin(), scored.end());
  double oos_below = 0, pairs = 0, in_scope = 0, oos = 0;
  for (std::size_t i = 0; i < scored.size();) {
    std::size_t j = i;
    double tied_in = 0, tied_oos = 0;
    for (; j < scored.size() && scored[j].first == scored[i].first; ++j) {
      (scored[j].second ? tied_in : tied_oos) += 1;
    }
    pairs += tied_in * (oos_below + tied_oos / 2);
    oos_below += tied_oos;
    in_scope += tied_in;
    oos += tied_oos;
    i = j;
  }
  return in_scope > 0 && oos > 0 ? pairs / (in_scope * oos) : 0;
}

struct Quality {
  Rates centroid, knn;               // CLINC150 test + oos_test, val-fitted thresholds
  double centroid_no_threshold = 0;  // in-scope accuracy without threshold
  double knn_no_threshold = 0;
  double centroid_auroc = 0, knn_auroc = 0;
  double banking_centroid = 0, banking_knn = 0;
};

Quality evaluate(const HashingEmbedder::Options& options, const Dataset& clinc,
                 const Dataset& banking) {
  Quality q;
  {
    HashingEmbedder embedder(options);
    std::vector<std::string> corpus;
    for (const auto& e : clinc.train)
      corpus.push_back(e.text);
    embedder.fit(corpus);
    Classifier classifier(embedder, clinc.train, clinc.classes);
    auto run = [&](const std::vector<Example>& examples, std::vector<Prediction>& centroid,
                   std::vector<Prediction>& knn) {
      for (const auto& e : examples) {
        auto [c, k] = classifier.predict(e.text);
        centroid.push_back(c);
        knn.push_back(k);
      }
    };
    std::vector<Prediction> val_centroid, val_knn, test_centroid, test_knn;
    run(clinc.val, val_centroid, val_knn);
    run(clinc.test, test_centroid, test_knn);
    q.centroid = rates(test_centroid, clinc.test, choose_threshold(val_centroid, clinc.val));
    q.knn = rates(test_knn, clinc.test, choose_threshold(val_knn, clinc.val));
    q.centroid_no_threshold = rates(test_centroid, clinc.test, -1e30f).in_scope_accuracy;
    q.knn_no_threshold = rates(test_knn, clinc.test, -1e30f).in_scope_accuracy;
    q.centroid_auroc = auroc(test_centroid, clinc.test);
    q.knn_auroc = auroc(test_knn, clinc.test);
  }
  {
    HashingEmbedder embedder(options);
    std::vector<std::string> corpus;
    for (const auto& e : banking.train)
      corpus.push_back(e.text);
    embedder.fit(corpus);
    Classifier classifier(embedder, banking.train, banking.classes);
    std::size_t centroid = 0, knn = 0;
    for (const auto& e : banking.test) {
      auto [c, k] = classifier.predict(e.text);
      centroid += c.label == e.label;
      knn += k.label == e.label;
    }
    auto n = static_cast<double>(banking.test.size());
    q.banking_centroid = 100.0 * static_cast<double>(centroid) / n;
    q.banking_knn = 100.0 * static_cast<double>(knn) / n;
  }
  return q;
}

void print_quality_header() {
  std::printf(
      "CLINC150 test + oos_test: in-scope accuracy and out-of-scope recall with the threshold\n"
      "fitted on val + oos_val (in-scope accuracy without threshold; AUROC of in-scope vs\n"
      "out-of-scope scores). Banking77: test accuracy.\n\n"
      "%-24s %-37s %-37s %s\n",
      "", "CLINC150, nearest centroid", "CLINC150, 5 nearest utterances", "Banking77 cen / 5-NN");
}

void print_quality(const std::string& name, const Quality& q) {
  std::printf(
      "%-24s %5.1f%% / %5.1f%% (%5.1f%%; %.3f)   %5.1f%% / %5.1f%% (%5.1f%%; %.3f)   "
      "%5.1f%% / %5.1f%%\n",
      name.c_str(), q.centroid.in_scope_accuracy, q.centroid.oos_recall, q.centroid_no_threshold,
      q.centroid_auroc, q.knn.in_scope_accuracy, q.knn.oos_recall, q.knn_no_threshold, q.knn_auroc,
      q.banking_centroid, q.banking_knn);
  std::fflush(stdout);
}

const char* utterance_10 = "can you tell me the balance of my checking account";

std::string text_100() {
  return "Hello, I moved to a new apartment last month and I still have not received the "
         "replacement debit card that was supposed to arrive within five business days. I "
         "updated my address in the app before the card was shipped, but the tracking page "
         "still shows the old street name. Could you check whether the card was sent to the "
         "wrong place, cancel it if so, and order a new one to my current address? I also "
         "noticed two pending charges from a grocery store I have never visited, so please "
         "tell me how to dispute them and whether I should freeze my account until the new "
         "card arrives. Thanks for your help.";
}

}  // namespace

int main(int argc, char** argv) {
  bool run_baseline = true, sweep = false;
  HashingEmbedder::Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-baseline") {
      run_baseline = false;
    } else if (arg == "--sweep") {
      sweep = true;
    } else {
      options = HashingEmbedder::Options::from_json(parse_json(arg, "options argument"));
    }
  }
  std::printf("keel hashing embedder benchmark (one thread), options %s\n\n",
              dump_json(options.to_json()).c_str());

  Dataset clinc = load_clinc150();
  Dataset banking = load_banking77();

  // ---- speed ----
  HashingEmbedder embedder(options);
  std::vector<std::string> corpus;
  for (const auto& e : clinc.train)
    corpus.push_back(e.text);
  auto fit_start = Clock::now();
  embedder.fit(corpus);
  double fit_ms = micros(Clock::now() - fit_start) / 1000.0;

  std::vector<float> out(embedder.dimension());
  std::string long_text = text_100();
  for (int i = 0; i < 2000; ++i)
    embedder.embed_into(utterance_10, out.data());
  auto short_us = sample(50000, [&] { embedder.embed_into(utterance_10, out.data()); });
  auto long_us = sample(20000, [&] { embedder.embed_into(long_text, out.data()); });
  report("embed_into(), 10-word utterance", short_us);
  report("embed_into(), 100-word text", long_us);
  report("embed() (allocates the vector), 10-word", sample(50000, [&] {
           auto v = embedder.embed(utterance_10);
           (void)v;
         }));
  auto loop_start = Clock::now();
  for (const auto& text : corpus)
    embedder.embed_into(text, out.data());
  double loop_ms = micros(Clock::now() - loop_start) / 1000.0;
  std::printf("embed_into() over the %zu CLINC150 train utterances: %.1f ms (%.0f per second)\n",
              corpus.size(), loop_ms, static_cast<double>(corpus.size()) / loop_ms * 1000.0);
  auto batch_start = Clock::now();
  auto vectors = embedder.embed_batch(corpus);
  double batch_ms = micros(Clock::now() - batch_start) / 1000.0;
  std::printf("embed_batch() of the same, allocating %.0f MiB of vectors: %.1f ms\n",
              static_cast<double>(corpus.size() * embedder.dimension() * sizeof(float)) / (1 << 20),
              batch_ms);
  std::printf("fit() on the same utterances: %.1f ms\n\n", fit_ms);

  // ---- quality ----
  print_quality_header();
  print_quality("these options", evaluate(options, clinc, banking));
  if (sweep) {
    auto variant = [&](const std::string& name, auto change) {
      HashingEmbedder::Options o = options;
      change(o);
      print_quality(name, evaluate(o, clinc, banking));
    };
    for (std::size_t dimension : {512, 2048, 4096, 16384}) {
      variant("dimension " + std::to_string(dimension), [&](auto& o) { o.dimension = dimension; });
    }
    for (double weight : {0.0, 0.5, 1.0, 3.0}) {
      variant("char_weight " + Json(weight).dump(), [&](auto& o) { o.char_weight = weight; });
    }
    for (auto [lo, hi] : {std::pair{1, 1}, std::pair{1, 3}}) {
      variant("word_ngrams [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", [&](auto& o) {
        o.word_ngram_min = lo;
        o.word_ngram_max = hi;
      });
    }
    for (auto [lo, hi] : {std::pair{3, 4}, std::pair{2, 5}, std::pair{3, 6}}) {
      variant("char_ngrams [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", [&](auto& o) {
        o.char_ngram_min = lo;
        o.char_ngram_max = hi;
      });
    }
  }

  if (!run_baseline) return 0;
  std::printf("\nbaseline: the same method in pure Python (tests/bench/embedder_baseline.py)\n");
  std::string command = "python3 " KEEL_SOURCE_DIR "/tests/bench/embedder_baseline.py";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    std::printf("  (could not run python3)\n");
    return 0;
  }
  // The script's default options must match: it checks its vector of the 10-word utterance,
  // unfitted, against keel's.
  HashingEmbedder plain;
  std::vector<float> expected = plain.embed(utterance_10);
  char line[1 << 16];
  double python_short = 0, python_long = 0, max_difference = -1;
  while (std::fgets(line, sizeof line, pipe.get())) {
    double value = 0;
    if (std::strncmp(line, "vector:", 7) == 0) {
      std::vector<float> got(expected.size(), 0.0f);
      std::istringstream in(line + 7);
      std::size_t bucket = 0;
      char colon = 0;
      while (in >> bucket >> colon >> value) {
        if (bucket < got.size()) got[bucket] = static_cast<float>(value);
      }
      max_difference = 0;
      for (std::size_t b = 0; b < got.size(); ++b) {
        max_difference =
            std::max(max_difference, std::fabs(static_cast<double>(got[b] - expected[b])));
      }
      continue;
    }
    std::printf("  %s", line);
    if (std::sscanf(line, "python, 10-word utterance: p50 %lf us", &value) == 1)
      python_short = value;
    if (std::sscanf(line, "python, 100-word text: p50 %lf us", &value) == 1) python_long = value;
  }
  if (max_difference >= 0) {
    std::printf("  Python's vector of the 10-word utterance %s keel's (largest difference %.1e)\n",
                max_difference < 1e-5 ? "equals" : "DIFFERS FROM", max_difference);
  }
  if (python_short > 0 && python_long > 0) {
    std::printf(
        "\nspeed-up of keel over Python (p50): %.0fx on the 10-word utterance, %.0fx on "
        "the 100-word text\n",
        python_short / percentile(short_us, 50), python_long / percentile(long_us, 50));
  }
  return 0;
}

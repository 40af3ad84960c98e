// Internal: the Router's implementation shared by router.cpp (routing, changes), fit.cpp
// (fit, evaluate) and persistence.cpp (save, load, the learnt state's JSON).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keel/router.hpp"
#include "router/llm_tier.hpp"
#include "router/state.hpp"

namespace keel {

namespace router {

/// The semantic tier's view of one query.
struct SemanticScores {
  std::vector<float> query;      // dense embedding
  SparseVector sparse;           // its non-zero coordinates
  std::vector<float> similarity; // per route position: w * nearest + (1 - w) * centroid
  std::vector<float> probability;  // per route position when the layer is used
  std::ptrdiff_t best = -1;      // route position ranked first (-1: no route has utterances)
  double confidence = 0;         // calibrated
  bool layer = false;
  std::vector<double> features;  // calibration features of `best`

  /// The score routes are ranked by: probability with the layer, similarity without.
  float score(std::size_t route) const { return layer ? probability[route] : similarity[route]; }
};

/// Builds one route's data: embeds its utterances.
std::shared_ptr<const RouteData> embed_route(Route spec, std::uint32_t id, const Embedder& embedder);
/// A route's data from vectors loaded from disk.
std::shared_ptr<const RouteData> route_from_vectors(Route spec, std::uint32_t id,
                                                    std::vector<SparseVector> vectors,
                                                    std::size_t dimension);

/// The base64 text of little-endian float32s, and back (Error(parse) on bad text).
std::string floats_to_base64(const std::vector<float>& values);
std::vector<float> floats_from_base64(std::string_view text, const std::string& path);

/// The learnt state to and from RouterConfig::fitted.
/// With `hashing`, the embedder written is that one (its JSON, IDF included, is only made here:
/// a 4,096-weight JSON array costs a router's construction a millisecond otherwise).
Json learnt_to_json(const Learnt& learnt, std::size_t dimension, const HashingEmbedder* hashing);
Learnt learnt_from_json(const Json& json, std::size_t dimension);

}  // namespace router

struct Router::Impl {
  Options options;
  std::shared_ptr<Embedder> embedder;
  Json embedder_config;  // the config's "embedder", written back by config()
  const HashingEmbedder* hashing = nullptr;  // the fast embedding path when it is one
  // Where asynchronous answers are delivered: the options' executor, else the process's
  // shared one, started only when first needed (a router that never routes asynchronously
  // starts no threads).
  Executor& executor() const { return options.executor ? *options.executor : Executor::shared(); }
  // The current snapshot. A mutex held only to copy the pointer, not std::atomic<shared_ptr>:
  // GCC 12's is a spinlock ThreadSanitizer cannot see, and the copy costs ~20 ns either way.
  mutable std::mutex current_mutex;
  std::shared_ptr<const router::State> current;
  std::mutex writer;  // add_route, remove_route, fit
  std::uint32_t next_route_id = 0;

  /// Sets up the embedder and the first snapshot. `saved_embedder` and `vectors` come from a
  /// saved file (no embedding then); otherwise every utterance is embedded.
  void build(RouterConfig config, const Json* saved_embedder,
             std::vector<std::vector<router::SparseVector>>* vectors);

  std::shared_ptr<const router::State> snapshot() const {
    std::lock_guard lock(current_mutex);
    return current;
  }
  void publish(std::shared_ptr<const router::State> next) {
    std::lock_guard lock(current_mutex);
    current.swap(next);  // the old snapshot is released after the lock, by `next`
  }

  /// A new snapshot from routes (their data built), settings and learnt state: compiles the
  /// conditions, the centroid matrix, the exact matrix or the HNSW index (reusing `index`
  /// when given), and maps the layer's columns.
  std::shared_ptr<const router::State> assemble(router::Settings settings,
                                                std::vector<std::shared_ptr<const router::RouteData>> routes,
                                                router::Learnt learnt,
                                                std::shared_ptr<router::UtteranceIndex> index) const;

  /// Embeds `text` and scores every route of `state`.
  void score(const router::State& state, std::string_view text, router::SemanticScores& out) const;

  /// Condition and semantic tiers. Returns true when one decided; fills `result`.
  bool first_tiers(const router::State& state, const RouteRequest& request, RouteResult& result,
                   router::SemanticScores& scores) const;
  /// The fallback/none outcome of a request no tier decided.
  void no_decision(const router::State& state, RouteResult& result, double best_confidence,
                   std::string reason) const;
  /// The threshold a route exits at in the semantic and LLM tiers.
  static double threshold_of(const router::State& state, std::size_t route);

  /// The LLM tier's answer applied to a result.
  void apply_llm_answer(const router::State& state, RouteResult& result,
                        const router::LlmChoice& choice, double best_confidence) const;

  void emit_event(const RouteResult& result) const;
};

}  // namespace keel

// Internal: one immutable snapshot of a router — its routes with their vectors, the compiled
// conditions, the semantic index and what fit() learnt. route() reads a snapshot; add_route,
// remove_route and fit publish a new one (sharing what did not change), so a request never
// sees half a change.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "keel/router.hpp"
#include "router/conditions.hpp"
#include "router/learning.hpp"

namespace keel::router {

/// A route with its embedded utterances (immutable once built).
struct RouteData {
  Route spec;
  std::uint32_t id = 0;               // stable across snapshots: labels of the shared index
  std::vector<SparseVector> vectors;  // one per utterance, L2-normalised
  // The same vectors flattened (utterance u owns [start[u], start[u + 1])), for the scan.
  std::vector<std::uint32_t> flat_start;
  std::vector<std::uint32_t> flat_index;
  std::vector<float> flat_value;
  SparseVector centroid;  // the utterances' sum, L2-normalised, by increasing index; empty without
                          // utterances (a dense copy per route cost a page fault every 1,024
                          // dimensions to make, and routes × dimension floats to keep)
};

/// The HNSW index over every utterance, shared by snapshots and changed in place by
/// add_route/remove_route (it locks itself); labels of routes a snapshot does not know are
/// skipped by that snapshot.
class UtteranceIndex {
 public:
  UtteranceIndex(std::size_t dimension, std::size_t capacity);
  ~UtteranceIndex();
  /// Adds a route's utterance vectors (sparse, expanded to `dimension` floats).
  void add(std::uint32_t route_id, const std::vector<SparseVector>& vectors);
  /// Removes every vector of a route.
  void remove(std::uint32_t route_id);
  /// The k nearest utterances: (route id, similarity), best first.
  void search(const float* query, std::size_t k, std::size_t ef,
              std::vector<std::pair<std::uint32_t, float>>& out) const;
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The settings of a routes file other than the routes and the learnt state.
struct Settings {
  double exit_threshold = 0.8;
  std::string fallback;
  std::size_t top_k = 5;
  RouterConfig::Semantic semantic;
  RouterConfig::Llm llm;
};

/// What fit() learnt.
struct Learnt {
  std::shared_ptr<const SoftmaxLayer> layer;  // columns named by layer_routes
  std::vector<std::string> layer_routes;
  Calibration layer_calibration;       // features: p1, p1 - p2, s1, s1 - s2
  Calibration similarity_calibration;  // features: s1, s1 - s2
  double threshold = 0;                // the shared tuned threshold (per-route ones are in routes)
  Json embedder;  // a fitted state's embedder JSON, as read (see learnt_to_json)
};

struct State {
  Settings settings;
  std::size_t dimension = 0;
  std::vector<std::shared_ptr<const RouteData>> routes;
  std::unordered_map<std::string, std::size_t> by_name;
  std::unordered_map<std::uint32_t, std::size_t> by_id;
  std::shared_ptr<const ConditionTier> conditions;
  // The centroids, feature-major, for the features some centroid holds (by increasing index):
  // a query adds one row per non-zero coordinate it shares with them. (Every dimension's row,
  // most of them zeros for a routes file of a few dozen utterances, cost a new process a page
  // fault every 1,024 / routes dimensions to make.)
  std::vector<std::uint32_t> centroid_features;
  std::vector<float> centroids;  // centroid_features.size() × routes

  // Exact search (the default unless the vectors are dense and many): the nearest utterance
  // of the leading candidate routes — ranked by centroid, or by the layer — is found by
  // scanning their utterance vectors against the dense query; the other routes score by their
  // centroid alone. With few routes every route is a candidate and the search is exact.
  // (Postings by feature were tried: common features' long lists made a query cost ~100 us.)
  bool exact = true;
  std::shared_ptr<UtteranceIndex> index;  // HNSW search (large sets)

  Learnt learnt;
  std::vector<int> layer_column;  // route position -> layer column; empty when the layer is unused
};

}  // namespace keel::router

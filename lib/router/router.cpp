// The Router: construction, the cascade (condition -> semantic -> LLM), run-time changes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "router/llm_tier.hpp"
#include "router/router_impl.hpp"

namespace keel {

using router::Learnt;
using router::RouteData;
using router::SemanticScores;
using router::Settings;
using router::SparseVector;
using router::State;

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

// z += scale * row over n floats (vectorised).
inline void axpy(float* __restrict z, const float* __restrict row, float scale, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    z[i] += scale * row[i];
}

// Before fit(): confidence = sigmoid(10 (s1 - 0.55) + 10 (s1 - s2)) — a near-paraphrase with a
// clear margin passes 0.8, a vague match does not.
const router::Calibration& default_similarity_calibration() {
  static const router::Calibration calibration{{-5.5, 10.0, 10.0}};
  return calibration;
}

std::string format_confidence(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return buffer;
}

Settings settings_of(const RouterConfig& config) {
  Settings s;
  s.exit_threshold = config.exit_threshold;
  s.fallback = config.fallback;
  s.top_k = config.top_k;
  s.semantic = config.semantic;
  s.llm = config.llm;
  return s;
}

struct Scratch {
  SemanticScores scores;
  std::vector<router::ConditionHit> hits;
  std::vector<float> nearest;
  std::vector<std::pair<float, std::size_t>> candidates;
  std::vector<std::pair<std::uint32_t, float>> neighbours;
  std::vector<float> layer_output;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

namespace router {

std::shared_ptr<const RouteData> route_from_vectors(Route spec, std::uint32_t id,
                                                    std::vector<SparseVector> vectors,
                                                    std::size_t dimension) {
  auto data = std::make_shared<RouteData>();
  data->spec = std::move(spec);
  data->id = id;
  data->vectors = std::move(vectors);
  data->flat_start.reserve(data->vectors.size() + 1);
  data->flat_start.push_back(0);
  for (const auto& v : data->vectors) {
    data->flat_index.insert(data->flat_index.end(), v.index.begin(), v.index.end());
    data->flat_value.insert(data->flat_value.end(), v.value.begin(), v.value.end());
    data->flat_start.push_back(static_cast<std::uint32_t>(data->flat_index.size()));
  }
  // The sum of the vectors: every (index, value) in index order, equal indices added up.
  std::vector<std::pair<std::uint32_t, float>> entries;
  entries.reserve(data->flat_index.size());
  for (std::size_t k = 0; k < data->flat_index.size(); ++k)
    entries.emplace_back(data->flat_index[k], data->flat_value[k]);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  SparseVector& centroid = data->centroid;
  for (const auto& [index, value] : entries) {
    if (index >= dimension) continue;  // (an embedder's vectors have `dimension` floats)
    if (!centroid.index.empty() && centroid.index.back() == index) {
      centroid.value.back() += value;
    } else {
      centroid.index.push_back(index);
      centroid.value.push_back(value);
    }
  }
  double norm = 0;
  for (float x : centroid.value)
    norm += static_cast<double>(x) * x;
  if (norm > 0) {
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : centroid.value)
      x *= inv;
  }
  return data;
}

std::shared_ptr<const RouteData> embed_route(Route spec, std::uint32_t id,
                                             const Embedder& embedder) {
  const std::size_t dimension = embedder.dimension();
  std::vector<SparseVector> vectors;
  vectors.reserve(spec.utterances.size());
  auto add = [&](std::vector<float>& v) {
    // Cosine similarity throughout: normalise whatever the embedder returns.
    double norm = 0;
    for (float x : v)
      norm += static_cast<double>(x) * x;
    if (norm > 0 && std::abs(norm - 1.0) > 1e-4) {
      const float inv = static_cast<float>(1.0 / std::sqrt(norm));
      for (float& x : v)
        x *= inv;
    }
    vectors.push_back(sparsify(v.data(), dimension));
  };
  if (const auto* hashing = dynamic_cast<const HashingEmbedder*>(&embedder)) {
    // One buffer for every utterance: a fresh 4,096-float vector per utterance costs a new
    // process a page fault each, about a millisecond for a routes file.
    std::vector<float> v(dimension);
    for (const auto& utterance : spec.utterances) {
      hashing->embed_into(utterance, v.data());
      add(v);
    }
  } else if (!spec.utterances.empty()) {
    auto dense = embedder.embed_batch(spec.utterances);
    if (dense.size() != spec.utterances.size())
      throw Error(Errc::provider, "route \"" + spec.name + "\": the embedder returned " +
                                      std::to_string(dense.size()) + " vectors for " +
                                      std::to_string(spec.utterances.size()) + " utterances");
    for (auto& v : dense) {
      if (v.size() != dimension)
        throw Error(Errc::provider, "route \"" + spec.name +
                                        "\": the embedder returned a vector of " +
                                        std::to_string(v.size()) + " floats, expected " +
                                        std::to_string(dimension));
      add(v);
    }
  }
  return route_from_vectors(std::move(spec), id, std::move(vectors), dimension);
}

}  // namespace router

// ---- snapshots ----

std::shared_ptr<const State> Router::Impl::assemble(
    Settings settings, std::vector<std::shared_ptr<const RouteData>> routes, Learnt learnt,
    std::shared_ptr<router::UtteranceIndex> index) const {
  auto state = std::make_shared<State>();
  state->settings = std::move(settings);
  state->dimension = embedder->dimension();
  state->routes = std::move(routes);
  const std::size_t R = state->routes.size(), D = state->dimension;
  std::vector<Route> specs;
  specs.reserve(R);
  std::size_t utterances = 0;
  for (std::size_t r = 0; r < R; ++r) {
    const auto& data = *state->routes[r];
    specs.push_back(data.spec);
    state->by_name.emplace(data.spec.name, r);
    state->by_id.emplace(data.id, r);
    utterances += data.vectors.size();
  }
  state->conditions = std::make_shared<const router::ConditionTier>(specs);

  auto& features = state->centroid_features;
  for (const auto& route : state->routes)
    features.insert(features.end(), route->centroid.index.begin(), route->centroid.index.end());
  std::sort(features.begin(), features.end());
  features.erase(std::unique(features.begin(), features.end()), features.end());
  state->centroids.assign(features.size() * R, 0.0f);
  for (std::size_t r = 0; r < R; ++r) {
    const auto& c = state->routes[r]->centroid;
    auto row = features.begin();
    for (std::size_t k = 0; k < c.index.size(); ++k) {
      row = std::lower_bound(row, features.end(), c.index[k]);  // (both by increasing index)
      state->centroids[static_cast<std::size_t>(row - features.begin()) * R + r] = c.value[k];
    }
  }

  // Exact search unless the index is asked for, or the vectors are dense and many (scanning
  // a dense embedder's utterances costs the full dimension each: HNSW then wins above a
  // thousand utterances).
  const auto& semantic = state->settings.semantic;
  std::size_t entries = 0;
  for (const auto& route : state->routes)
    entries += route->flat_index.size();
  const bool dense = utterances > 0 && entries > utterances * D / 4;
  bool use_hnsw = index != nullptr || semantic.index == "hnsw" ||
                  (semantic.index == "auto" && dense && utterances > semantic.hnsw_min_utterances);
  if (semantic.index == "exact") use_hnsw = false;
  state->exact = !use_hnsw;
  if (use_hnsw) {
    if (!index) {
      index = std::make_shared<router::UtteranceIndex>(D, utterances + utterances / 4 + 16);
      for (const auto& route : state->routes)
        index->add(route->id, route->vectors);
    }
    state->index = std::move(index);
  }

  state->learnt = std::move(learnt);
  if (state->learnt.layer) {
    std::unordered_map<std::string, int> column;
    for (std::size_t c = 0; c < state->learnt.layer_routes.size(); ++c)
      column.emplace(state->learnt.layer_routes[c], static_cast<int>(c));
    bool covered = true;
    std::vector<int> mapping(R, -1);
    for (std::size_t r = 0; r < R; ++r) {
      auto it = column.find(state->routes[r]->spec.name);
      if (it != column.end())
        mapping[r] = it->second;
      else if (!state->routes[r]->vectors.empty())
        covered = false;
    }
    if (covered) state->layer_column = std::move(mapping);
  }
  return state;
}

double Router::Impl::threshold_of(const State& state, std::size_t route) {
  const auto& spec = state.routes[route]->spec;
  return spec.threshold ? *spec.threshold : state.settings.exit_threshold;
}

// ---- the semantic tier ----

void Router::Impl::score(const State& state, std::string_view text, SemanticScores& out) const {
  const std::size_t D = state.dimension, R = state.routes.size();
  Scratch& s = scratch();
  out.query.resize(D);
  if (hashing) {
    hashing->embed_into(text, out.query.data());
  } else {
    auto v = embedder->embed(text);
    if (v.size() != D)
      throw Error(Errc::provider, "the embedder returned a vector of " + std::to_string(v.size()) +
                                      " floats, expected " + std::to_string(D));
    double norm = 0;
    for (float x : v)
      norm += static_cast<double>(x) * x;
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    for (std::size_t k = 0; k < D; ++k)
      out.query[k] = v[k] * inv;
  }
  out.sparse.index.clear();
  out.sparse.value.clear();
  for (std::size_t k = 0; k < D; ++k) {
    if (out.query[k] != 0.0f) {
      out.sparse.index.push_back(static_cast<std::uint32_t>(k));
      out.sparse.value.push_back(out.query[k]);
    }
  }
  out.best = -1;
  out.confidence = 0;
  out.layer = false;
  out.features.clear();
  out.similarity.assign(R, 0.0f);
  out.probability.clear();
  if (out.sparse.index.empty() || R == 0) return;  // nothing to compare: no letters or digits

  // Centroids: one contiguous row update per non-zero coordinate of the query that some
  // centroid holds (both by increasing index).
  std::vector<float>& centroid = out.similarity;
  const auto& features = state.centroid_features;
  auto row = features.begin();
  for (std::size_t k = 0; k < out.sparse.index.size() && row != features.end(); ++k) {
    row = std::lower_bound(row, features.end(), out.sparse.index[k]);
    if (row == features.end() || *row != out.sparse.index[k]) continue;
    axpy(centroid.data(),
         state.centroids.data() + static_cast<std::size_t>(row - features.begin()) * R,
         out.sparse.value[k], R);
  }

  if (!state.layer_column.empty()) {
    out.layer = true;
    state.learnt.layer->predict(out.sparse, s.layer_output);
    out.probability.assign(R, 0.0f);
    for (std::size_t r = 0; r < R; ++r) {
      if (state.layer_column[r] >= 0) out.probability[r] = s.layer_output[state.layer_column[r]];
    }
  }

  // Nearest utterance per route.
  s.nearest.assign(R, -2.0f);
  if (state.exact) {
    // The candidates: the leading routes by the layer (4: the layer ranks, nearest only
    // feeds the calibration's margin) or by the centroid (8: nearest ranks too); a route far
    // behind would not win on one near utterance. Scanning a route costs its utterances ×
    // non-zero coordinates, ~5 us for a CLINC150 intent, so scanning all would cost ~750 us.
    const std::size_t wanted = out.layer ? 4 : 8;
    s.candidates.clear();
    for (std::size_t r = 0; r < R; ++r) {
      if (!state.routes[r]->vectors.empty())
        s.candidates.emplace_back(out.layer ? out.probability[r] : centroid[r], r);
    }
    if (s.candidates.size() > wanted) {
      std::nth_element(
          s.candidates.begin(), s.candidates.begin() + static_cast<std::ptrdiff_t>(wanted),
          s.candidates.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      s.candidates.resize(wanted);
    }
    const float* q = out.query.data();
    for (const auto& candidate : s.candidates) {
      const RouteData& route = *state.routes[candidate.second];
      const std::uint32_t* index = route.flat_index.data();
      const float* value = route.flat_value.data();
      float best = -2.0f;
      for (std::size_t u = 0; u + 1 < route.flat_start.size(); ++u) {
        float dot = 0.0f;
        for (std::uint32_t k = route.flat_start[u]; k < route.flat_start[u + 1]; ++k)
          dot += q[index[k]] * value[k];
        best = std::max(best, dot);
      }
      s.nearest[candidate.second] = best;
    }
    for (std::size_t r = 0; r < R; ++r) {
      if (s.nearest[r] < -1.0f) s.nearest[r] = centroid[r];
    }
  } else {
    state.index->search(out.query.data(), state.settings.semantic.neighbours,
                        state.settings.semantic.ef_search, s.neighbours);
    float last = s.neighbours.empty() ? 0.0f : s.neighbours.back().second;
    for (const auto& [route_id, similarity] : s.neighbours) {
      auto it = state.by_id.find(route_id);
      if (it == state.by_id.end()) continue;  // a route added or removed after this snapshot
      float& best = s.nearest[it->second];
      best = std::max(best, similarity);
    }
    for (std::size_t r = 0; r < R; ++r) {
      if (s.nearest[r] < -1.0f) s.nearest[r] = std::min(last, centroid[r]);
    }
  }
  const float w = static_cast<float>(state.settings.semantic.nearest_weight);
  for (std::size_t r = 0; r < R; ++r) {
    if (state.routes[r]->vectors.empty()) {
      out.similarity[r] = -1.0f;  // cannot be matched semantically
      continue;
    }
    out.similarity[r] = w * s.nearest[r] + (1.0f - w) * centroid[r];
  }

  // Rank, then the calibration features of the top route.
  std::ptrdiff_t best = -1;
  for (std::size_t r = 0; r < R; ++r) {
    if (state.routes[r]->vectors.empty()) continue;
    if (best < 0 || out.score(r) > out.score(static_cast<std::size_t>(best)))
      best = static_cast<std::ptrdiff_t>(r);
  }
  out.best = best;
  if (best < 0) return;
  float second_score = -1.0f, second_similarity = -1.0f;
  for (std::size_t r = 0; r < R; ++r) {
    if (static_cast<std::ptrdiff_t>(r) == best || state.routes[r]->vectors.empty()) continue;
    second_score = std::max(second_score, out.score(r));
    second_similarity = std::max(second_similarity, out.similarity[r]);
  }
  if (second_similarity < -0.5f) second_similarity = 0.0f;  // a single route
  if (second_score < -0.5f) second_score = 0.0f;
  const double s1 = out.similarity[best];
  if (out.layer) {
    const double p1 = out.probability[best];
    out.features = {p1, p1 - second_score, s1, s1 - second_similarity};
    out.confidence = state.learnt.layer_calibration(out.features.data(), out.features.size());
  } else {
    out.features = {s1, s1 - second_similarity};
    const auto& calibration = state.learnt.similarity_calibration.fitted()
                                  ? state.learnt.similarity_calibration
                                  : default_similarity_calibration();
    out.confidence = calibration(out.features.data(), out.features.size());
  }
}

// ---- the cascade ----

bool Router::Impl::first_tiers(const State& state, const RouteRequest& request, RouteResult& result,
                               SemanticScores& scores) const {
  Scratch& s = scratch();
  auto start = Clock::now();
  state.conditions->evaluate(request.text, request.metadata, s.hits);
  result.timings_us.condition = since(start);
  result.candidates.clear();
  const std::size_t top_k = state.settings.top_k;
  if (!s.hits.empty()) {
    for (std::size_t i = 0; i < s.hits.size() && i < top_k; ++i)
      result.candidates.push_back({state.routes[s.hits[i].route]->spec.name, s.hits[i].confidence});
    result.confidence = s.hits[0].confidence;
    if (s.hits[0].confidence >= state.settings.exit_threshold) {
      result.route = state.routes[s.hits[0].route]->spec.name;
      result.tier = "condition";
      return true;
    }
  }

  start = Clock::now();
  score(state, request.text, scores);
  result.timings_us.semantic = since(start);
  if (scores.best < 0) return false;
  // Candidates: the best routes by the semantic score.
  std::vector<std::pair<float, std::size_t>> ranked;
  ranked.reserve(state.routes.size());
  for (std::size_t r = 0; r < state.routes.size(); ++r) {
    if (!state.routes[r]->vectors.empty()) ranked.emplace_back(scores.score(r), r);
  }
  std::size_t keep = std::min(top_k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                    ranked.end(), [](const auto& a, const auto& b) {
                      return a.first > b.first || (a.first == b.first && a.second < b.second);
                    });
  result.candidates.clear();
  for (std::size_t i = 0; i < keep; ++i)
    result.candidates.push_back({state.routes[ranked[i].second]->spec.name, ranked[i].first});
  const auto best = static_cast<std::size_t>(scores.best);
  result.confidence = std::max(result.confidence, scores.confidence);
  if (scores.confidence >= threshold_of(state, best)) {
    result.route = state.routes[best]->spec.name;
    result.confidence = scores.confidence;
    result.tier = "semantic";
    return true;
  }
  return false;
}

void Router::Impl::no_decision(const State& state, RouteResult& result, double best_confidence,
                               std::string reason) const {
  result.confidence = best_confidence;
  result.reason = std::move(reason);
  if (!state.settings.fallback.empty()) {
    result.route = state.settings.fallback;
    result.tier = "fallback";
  } else {
    result.route.reset();
    result.tier = "none";
  }
}

void Router::Impl::emit_event(const RouteResult& result) const {
  if (!options.events) return;
  Json event = make_event("router.route", result.timings_us.total);
  event["route"] = result.route ? Json(*result.route) : Json(nullptr);
  event["tier"] = result.tier;
  event["confidence"] = result.confidence;
  emit(options.events, event);
}

namespace {

// Why the first two tiers did not decide.
std::string undecided_reason(const State& state, const RouteResult& result,
                             const SemanticScores& scores) {
  if (scores.best < 0)
    return "no condition held and no route has utterances that resemble the text";
  const auto best = static_cast<std::size_t>(scores.best);
  const auto& spec = state.routes[best]->spec;
  double threshold = spec.threshold ? *spec.threshold : state.settings.exit_threshold;
  (void)result;
  return "no tier was confident: best semantic match \"" + spec.name + "\" at " +
         format_confidence(scores.confidence) + ", below its threshold " +
         format_confidence(threshold);
}

std::vector<router::OfferedRoute> offered_routes(const State& state, const SemanticScores& scores) {
  std::vector<router::OfferedRoute> offered;
  const std::size_t limit = state.settings.llm.max_routes;
  if (state.routes.size() <= limit || scores.best < 0) {
    for (std::size_t r = 0; r < state.routes.size() && offered.size() < limit; ++r)
      offered.push_back({state.routes[r]->spec.name, state.routes[r]->spec.description});
    return offered;
  }
  std::vector<std::pair<float, std::size_t>> ranked;
  for (std::size_t r = 0; r < state.routes.size(); ++r)
    ranked.emplace_back(scores.score(r), r);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(limit),
                    ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < limit; ++i)
    offered.push_back({state.routes[ranked[i].second]->spec.name,
                       state.routes[ranked[i].second]->spec.description});
  return offered;
}

}  // namespace

void Router::Impl::apply_llm_answer(const State& state, RouteResult& result,
                                    const router::LlmChoice& choice, double best_confidence) const {
  const Impl& impl = *this;
  if (choice.route) {
    std::size_t position = state.by_name.at(*choice.route);
    double threshold = Router::Impl::threshold_of(state, position);
    if (choice.confidence >= threshold) {
      result.route = *choice.route;
      result.confidence = choice.confidence;
      result.tier = "llm";
      result.reason.clear();
      return;
    }
    impl.no_decision(state, result, std::max(best_confidence, choice.confidence),
                     "the model chose \"" + *choice.route + "\" at " +
                         format_confidence(choice.confidence) + ", below its threshold " +
                         format_confidence(threshold));
    return;
  }
  if (choice.answered_none) {
    impl.no_decision(state, result, best_confidence, "the model found no matching route");
    return;
  }
  impl.no_decision(state, result, best_confidence, choice.refusal);
}

RouteResult Router::route(const RouteRequest& request) const {
  auto start = Clock::now();
  auto state = impl_->snapshot();
  RouteResult result;
  SemanticScores& scores = scratch().scores;
  if (!impl_->first_tiers(*state, request, result, scores)) {
    const double best = result.confidence;
    std::string reason = undecided_reason(*state, result, scores);
    const bool llm = request.use_llm && state->settings.llm.enabled && impl_->options.model &&
                     !state->routes.empty();
    if (!llm) {
      impl_->no_decision(*state, result, best, std::move(reason));
    } else {
      auto offered = offered_routes(*state, scores);
      auto llm_start = Clock::now();
      CallOptions call;
      call.deadline = Deadline::after_ms(state->settings.llm.timeout_ms).earliest(request.deadline);
      call.cancel = request.cancel;
      router::LlmChoice choice;
      try {
        ChatResponse response =
            impl_->options.model->chat(router::llm_route_request(request.text, offered), call);
        choice = router::parse_llm_choice(response.message.content, offered);
      } catch (const Error& e) {
        if (e.code() == Errc::invalid_argument && impl_->executor().running_in_this_thread()) throw;
        choice.refusal = std::string("the model call failed: ") + e.what();
      }
      result.timings_us.llm = since(llm_start);
      impl_->apply_llm_answer(*state, result, choice, best);
    }
  }
  result.timings_us.total = since(start);
  impl_->emit_event(result);
  return result;
}

RouteResult Router::route(std::string_view text, const Json& metadata) const {
  RouteRequest request;
  request.text = std::string(text);
  request.metadata = metadata;
  return route(request);
}

void Router::route_async(RouteRequest request, Callback<RouteResult> done) const {
  auto start = Clock::now();
  auto state = impl_->snapshot();
  auto result = std::make_shared<RouteResult>();
  Executor& executor = impl_->executor();
  try {
    SemanticScores& scores = scratch().scores;
    bool decided = impl_->first_tiers(*state, request, *result, scores);
    const bool llm = request.use_llm && state->settings.llm.enabled && impl_->options.model &&
                     !state->routes.empty();
    if (decided || !llm) {
      if (!decided)
        impl_->no_decision(*state, *result, result->confidence,
                           undecided_reason(*state, *result, scores));
      result->timings_us.total = since(start);
      impl_->emit_event(*result);
      executor.post([done = std::move(done), result]() mutable { done(std::move(*result)); });
      return;
    }
    auto offered =
        std::make_shared<std::vector<router::OfferedRoute>>(offered_routes(*state, scores));
    CallOptions call;
    call.deadline = Deadline::after_ms(state->settings.llm.timeout_ms).earliest(request.deadline);
    call.cancel = request.cancel;
    const double best = result->confidence;
    auto llm_start = Clock::now();
    const Impl* impl = impl_.get();
    impl_->options.model->chat_async(
        router::llm_route_request(request.text, *offered), std::move(call),
        [impl, state, offered, result, best, start, llm_start,
         done = std::move(done)](Result<ChatResponse> response) mutable {
          router::LlmChoice choice;
          if (response.ok())
            choice = router::parse_llm_choice(response.value().message.content, *offered);
          else
            choice.refusal = std::string("the model call failed: ") + response.error().what();
          result->timings_us.llm = since(llm_start);
          impl->apply_llm_answer(*state, *result, choice, best);
          result->timings_us.total = since(start);
          impl->emit_event(*result);
          done(std::move(*result));
        });
  } catch (...) {
    Error error = error_from_current_exception();
    executor.post([done = std::move(done), error]() mutable { done(error); });
  }
}

std::vector<RouteCandidate> Router::top_k(std::string_view text, std::size_t k,
                                          const Json& metadata) const {
  auto state = impl_->snapshot();
  Scratch& s = scratch();
  state->conditions->evaluate(text, metadata, s.hits);
  std::vector<double> best(state->routes.size(), -1.0);
  for (const auto& hit : s.hits)
    best[hit.route] = hit.confidence;
  impl_->score(*state, text, s.scores);
  if (s.scores.best >= 0) {
    for (std::size_t r = 0; r < state->routes.size(); ++r) {
      if (!state->routes[r]->vectors.empty())
        best[r] = std::max(best[r], static_cast<double>(s.scores.score(r)));
    }
  }
  std::vector<RouteCandidate> out;
  for (std::size_t r = 0; r < state->routes.size(); ++r) {
    if (best[r] >= 0) out.push_back({state->routes[r]->spec.name, best[r]});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  if (out.size() > k) out.resize(k);
  return out;
}

// ---- construction and changes ----

void Router::Impl::build(RouterConfig config, const Json* saved_embedder,
                         std::vector<std::vector<SparseVector>>* vectors) {
  embedder_config = config.embedder;
  if (options.embedder) {
    embedder = options.embedder;
  } else {
    Json embedder_json = config.embedder;
    std::string where = "embedder";
    if (saved_embedder) {
      embedder_json = *saved_embedder;
    } else if (config.fitted.is_object() && config.fitted.contains("embedder")) {
      embedder_json = config.fitted["embedder"];
      where = "fitted.embedder";
    }
    const bool is_hashing =
        embedder_json.is_null() ||
        (embedder_json.is_object() && embedder_json.value("provider", "") == "hashing");
    if (is_hashing) {
      std::shared_ptr<HashingEmbedder> made;
      if (embedder_json.is_null()) {
        // 4,096 buckets: a linear layer over 1,024 loses several points of accuracy to hash
        // collisions (CLINC150: 88% against 92% top-1); the vectors stay sparse either way.
        HashingEmbedder::Options defaults;
        defaults.dimension = 4096;
        made = std::make_shared<HashingEmbedder>(defaults);
      } else {
        try {
          made = std::make_shared<HashingEmbedder>(HashingEmbedder::from_json(embedder_json));
        } catch (const Error& e) {
          throw Error(e.code(), where + (e.what()[0] == ':' ? "" : ".") + e.what());
        }
      }
      if (!made->fitted() && !vectors) {
        // IDF from the utterances: words every route uses weigh less than distinctive ones.
        std::vector<std::string> corpus;
        for (const auto& route : config.routes)
          corpus.insert(corpus.end(), route.utterances.begin(), route.utterances.end());
        if (!corpus.empty()) made->fit(corpus);
      }
      embedder = made;
    } else {
      if (!embedder_json.is_object() || !embedder_json.contains("provider"))
        throw Error(Errc::invalid_argument,
                    "this router was made with a host embedder: pass one in Router::Options");
      embedder = make_embedder(embedder_json, ModelContext{&executor(), options.events});
    }
  }
  hashing = dynamic_cast<const HashingEmbedder*>(embedder.get());
  const std::size_t dimension = embedder->dimension();
  Learnt learnt;
  if (!config.fitted.is_null()) learnt = router::learnt_from_json(config.fitted, dimension);

  std::vector<std::shared_ptr<const RouteData>> routes;
  routes.reserve(config.routes.size());
  for (std::size_t r = 0; r < config.routes.size(); ++r) {
    if (vectors) {
      routes.push_back(router::route_from_vectors(std::move(config.routes[r]), next_route_id++,
                                                  std::move((*vectors)[r]), dimension));
    } else {
      routes.push_back(
          router::embed_route(std::move(config.routes[r]), next_route_id++, *embedder));
    }
  }
  publish(assemble(settings_of(config), std::move(routes), std::move(learnt), nullptr));
}

Router::Router(RouterConfig config, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->build(std::move(config), nullptr, nullptr);
}

Router::Router(const Json& config, Options options)
    : Router(RouterConfig::from_json(config), std::move(options)) {}

Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

void Router::add_route(Route route) {
  // Validate through the JSON form, which checks everything a routes file is checked for.
  route = Route::from_json(route.to_json(), "route");
  std::lock_guard lock(impl_->writer);
  auto state = impl_->snapshot();
  auto data = router::embed_route(std::move(route), impl_->next_route_id++, *impl_->embedder);
  auto routes = state->routes;
  auto existing = state->by_name.find(data->spec.name);
  if (state->index) {
    if (existing != state->by_name.end()) state->index->remove(routes[existing->second]->id);
    state->index->add(data->id, data->vectors);
  }
  if (existing != state->by_name.end())
    routes[existing->second] = data;
  else
    routes.push_back(data);
  impl_->publish(impl_->assemble(state->settings, std::move(routes), state->learnt, state->index));
}

bool Router::remove_route(std::string_view name) {
  std::lock_guard lock(impl_->writer);
  auto state = impl_->snapshot();
  auto existing = state->by_name.find(std::string(name));
  if (existing == state->by_name.end()) return false;
  auto routes = state->routes;
  if (state->index) state->index->remove(routes[existing->second]->id);
  routes.erase(routes.begin() + static_cast<std::ptrdiff_t>(existing->second));
  Settings settings = state->settings;
  if (settings.fallback == name) settings.fallback.clear();  // it would name no route
  impl_->publish(
      impl_->assemble(std::move(settings), std::move(routes), state->learnt, state->index));
  return true;
}

RouterConfig Router::config() const {
  auto state = impl_->snapshot();
  RouterConfig config;
  config.exit_threshold = state->settings.exit_threshold;
  config.fallback = state->settings.fallback;
  config.top_k = state->settings.top_k;
  config.semantic = state->settings.semantic;
  config.llm = state->settings.llm;
  config.embedder = impl_->embedder_config;
  for (const auto& route : state->routes)
    config.routes.push_back(route->spec);
  if (state->learnt.layer || state->learnt.layer_calibration.fitted() ||
      state->learnt.similarity_calibration.fitted())
    config.fitted = router::learnt_to_json(state->learnt, state->dimension, impl_->hashing);
  return config;
}

std::vector<std::string> Router::route_names() const {
  auto state = impl_->snapshot();
  std::vector<std::string> names;
  for (const auto& route : state->routes)
    names.push_back(route->spec.name);
  return names;
}

}  // namespace keel

// The router: decides which route (a skill, an agent, a queue) handles a request, through a
// three-tier cascade where the first confident tier wins:
//   1. condition — keyword sets, RE2 patterns and metadata predicates written by the author;
//   2. semantic  — the request embedded and compared with each route's example utterances
//                  (nearest utterances and centroids, or a linear layer learnt by fit());
//   3. llm       — a ChatModel picks among the route names and descriptions.
// When no tier is confident the result is the configured fallback route (tier "fallback") or
// no route (tier "none").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/export.hpp"
#include "keel/json.hpp"
#include "keel/llm.hpp"
#include "keel/result.hpp"

namespace keel {

/// One rule of the condition tier. Exactly one of keywords, regex, metadata is set.
/// JSON: {"keywords": ["invoice", "refund"], "match": "any" | "all", "confidence": 0.9} or
/// {"regex": "\\bcharged twice\\b", "confidence": 0.95} or
/// {"metadata": {"channel": {"eq": "stripe"}}, "confidence": 1.0}.
///
/// Keywords match whole words, case-insensitively, after the firewall's text normalisation
/// (compatibility forms, case folding, accents and invisible characters removed); a keyword of
/// several words matches them in sequence. Patterns are RE2 syntax run on the original text
/// (write `(?i)` for case-insensitivity). Metadata predicates: {"eq": v}, {"in": [...]},
/// {"exists": bool}, {"gte": n, "lte": m} (also "gt", "lt"), on keys or dotted paths.
struct KEEL_API RouteCondition {
  std::vector<std::string> keywords;
  bool match_all = false;  ///< "match": "all": every keyword must occur
  std::string regex;
  Json metadata;  ///< a metadata filter; null when unused
  double confidence = 0.9;

  Json to_json() const;
  static RouteCondition from_json(const Json& json, const std::string& path = "condition");
};

/// A route. JSON: {"name", "description", "conditions": [...], "utterances": [...],
/// "threshold": 0.8}. `threshold`, when set, replaces the router's exit_threshold for this
/// route in the semantic and LLM tiers (fit() tunes it); conditions carry their own confidence
/// and decide when it reaches exit_threshold.
struct KEEL_API Route {
  std::string name;
  std::string description;
  std::vector<RouteCondition> conditions;
  std::vector<std::string> utterances;
  std::optional<double> threshold;

  Json to_json() const;
  static Route from_json(const Json& json, const std::string& path = "route");
};

/// The routes file of SPEC.md plus tuning knobs, all optional but "routes":
/// {"exit_threshold": 0.8, "fallback": "general", "routes": [...],
///  "top_k": 5,                 candidates listed in a result
///  "embedder": {...},          make_embedder() JSON; default: a HashingEmbedder whose IDF is
///                              fitted on the utterances
///  "semantic": {"index": "auto" | "exact" | "hnsw", "hnsw_min_utterances": 1000,
///               "neighbours": 32, "ef_search": 96, "nearest_weight": 0.5},
///  "llm": {"enabled": true, "max_routes": 30, "timeout_ms": 20000},
///  "fitted": {...}}            what fit() learnt (calibration, linear layer, embedder IDF);
///                              written by fit(), read back as is
struct KEEL_API RouterConfig {
  double exit_threshold = 0.8;
  std::string fallback;
  std::vector<Route> routes;
  std::size_t top_k = 5;
  Json embedder;  ///< null: the default hashing embedder

  struct Semantic {
    std::string index = "auto";  ///< "auto": exact below hnsw_min_utterances, HNSW above
    std::size_t hnsw_min_utterances = 1000;
    std::size_t neighbours = 32;  ///< utterances retrieved per query
    std::size_t ef_search = 96;
    double nearest_weight = 0.5;  ///< route similarity = w * nearest + (1 - w) * centroid
  } semantic;

  struct Llm {
    bool enabled = true;       ///< used only when the router has a model
    std::size_t max_routes = 30;  ///< more routes than this: the semantic top ones are offered
    int timeout_ms = 20000;
  } llm;

  Json fitted;  ///< null until fit()

  /// Throws Error(invalid_config) naming the JSON path (`routes[3].threshold: expected number`);
  /// duplicate or empty route names, a fallback that names no route, a condition with none or
  /// several of keywords/regex/metadata, and bad RE2 syntax are errors too.
  static RouterConfig from_json(const Json& json);
  Json to_json() const;
};

/// A request to route: the text and optional JSON metadata (channel, user tier, ...).
struct KEEL_API RouteRequest {
  std::string text;
  Json metadata;
  bool use_llm = true;  ///< false: stop after the semantic tier
  Deadline deadline;
  CancellationToken cancel;

  /// {"text": "...", "metadata": {...}}
  static RouteRequest from_json(const Json& json, const std::string& path = "request");
};

struct KEEL_API RouteCandidate {
  std::string route;
  double score = 0;
};

/// The outcome of routing one request:
/// {"route": "billing" | null, "confidence": 0.93, "tier": "condition|semantic|llm|fallback|none",
///  "candidates": [{"route", "score"}], "timings_us": {"condition", "semantic", "llm", "total"},
///  "reason": "..." (when no tier decided, or the model's answer was refused)}.
/// With tier "fallback", `route` is the fallback route and `confidence` the best confidence
/// any tier reached.
struct KEEL_API RouteResult {
  std::optional<std::string> route;
  double confidence = 0;
  std::string tier = "none";
  std::vector<RouteCandidate> candidates;
  std::string reason;
  struct Timings {
    std::int64_t condition = 0, semantic = 0, llm = 0, total = 0;
  } timings_us;

  Json to_json() const;
};

/// A labelled example for fit() and evaluate(): {"text", "metadata"?, "route": "name" | null}
/// (null: out of scope, no route should take it).
struct KEEL_API RouteExample {
  std::string text;
  Json metadata;
  std::optional<std::string> route;

  static RouteExample from_json(const Json& json, const std::string& path = "example");
};

/// What evaluate() measured:
/// {"examples", "accuracy", "in_scope": {"examples", "accuracy"}, "out_of_scope": {"examples",
///  "recall", "precision"}, "tiers": {"condition": n, ...}, "routes": {"billing": {"precision",
///  "recall", "support"}}, "confused": [{"expected", "predicted", "count"}]}. A route counts as
/// predicted when the router answered it (fallback answers count as out of scope).
struct KEEL_API RouterEvaluation {
  std::size_t examples = 0;
  double accuracy = 0;           ///< every example, out-of-scope ones right when rejected
  std::size_t in_scope = 0;
  double in_scope_accuracy = 0;
  std::size_t out_of_scope = 0;
  double out_of_scope_recall = 0;     ///< out-of-scope examples rejected
  double out_of_scope_precision = 0;  ///< rejections that were out of scope
  Json tiers = Json::object();
  Json routes = Json::object();
  Json confused = Json::array();

  Json to_json() const;
};

/// Options of fit().
struct KEEL_API FitOptions {
  /// "auto": train a linear layer over the embeddings on the route utterances and keep it when
  /// it beats similarity scoring on the examples; "always"; "never".
  std::string layer = "auto";
  int epochs = 30;
  double l2 = 1e-5;
  /// The thresholds maximise (1 - w) × in-scope accuracy + w × out-of-scope recall on the
  /// examples (plain accuracy when they have no out-of-scope ones). The default 0.2 prices a
  /// request wrongly rejected at four wrongly accepted: a misrouted out-of-scope request
  /// usually meets a route that declines it, a rejected in-scope one meets nobody; and the
  /// out-of-scope examples people collect are fewer and easier than real out-of-scope
  /// traffic. CLINC150 (tests/bench/bench_router.cpp) meets its targets from 0.1 to 0.25;
  /// 0.5 weighs both alike.
  double out_of_scope_weight = 0.2;
  /// Tune one threshold per route (shrunk towards the shared one) rather than one for all.
  bool per_route_thresholds = true;
  std::uint64_t seed = 42;

  static FitOptions from_json(const Json& json);
};

/// What fit() did: {"layer": true, "threshold": 0.62, "objective": 0.79, "in_scope_accuracy",
/// "out_of_scope_recall", "routes_tuned": n, "seconds"}.
struct KEEL_API FitReport {
  bool layer = false;
  double threshold = 0;
  double objective = 0;
  double in_scope_accuracy = 0;
  double out_of_scope_recall = 0;
  std::size_t routes_tuned = 0;
  double seconds = 0;
  Json to_json() const;
};

/// What a Router is built with besides its configuration.
struct KEEL_API RouterOptions {
  std::shared_ptr<Embedder> embedder;  ///< overrides the config's "embedder"
  std::shared_ptr<ChatModel> model;    ///< the LLM tier; none: the tier is skipped
  EventSink events;                    ///< a "router.route" event per request
  Executor* executor = nullptr;        ///< for route_async; default Executor::shared()
};

/// The router. Thread safety: route(), top_k() and evaluate() run concurrently from many
/// threads; add_route() and remove_route() may run alongside them (routing sees the routes
/// before or after the change, never half of it; changes are serialised by a writer lock);
/// fit() replaces the learnt state the same way.
class KEEL_API Router {
 public:
  using Options = RouterOptions;

  /// Embeds every utterance and builds the index. Throws Error(invalid_config) for a bad
  /// configuration, or the embedder's error.
  explicit Router(RouterConfig config, Options options = {});
  explicit Router(const Json& config, Options options = {});
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  /// Routes one request. Never throws for anything the model answers or fails with: those
  /// become tier "none"/"fallback" with a reason. Throws Error(invalid_argument) only when
  /// called from one of the executor's threads while the LLM tier is needed (use route_async).
  RouteResult route(const RouteRequest& request) const;
  RouteResult route(std::string_view text, const Json& metadata = nullptr) const;
  /// The asynchronous form: the first two tiers run on the calling thread, the LLM tier on
  /// the executor without holding a thread; `done` runs once.
  void route_async(RouteRequest request, Callback<RouteResult> done) const;

  /// The k best routes for a text by the condition and semantic tiers, with their scores
  /// (condition confidence, or semantic confidence), best first.
  std::vector<RouteCandidate> top_k(std::string_view text, std::size_t k,
                                    const Json& metadata = nullptr) const;

  /// Learns from labelled examples (out-of-scope ones have no route): trains the semantic
  /// layer (see FitOptions), calibrates confidence, and tunes thresholds to maximise the mean
  /// of in-scope accuracy and out-of-scope recall (plain accuracy when the examples have no
  /// out-of-scope ones). The LLM tier is not consulted. Throws Error(invalid_argument) for
  /// examples naming unknown routes or an empty list.
  FitReport fit(const std::vector<RouteExample>& examples, const FitOptions& options = {});

  /// Routes every example (the LLM tier only when `use_llm`) and measures the outcome.
  RouterEvaluation evaluate(const std::vector<RouteExample>& examples,
                            bool use_llm = false) const;

  /// Adds a route (embedding only its utterances) or replaces one of the same name. Throws
  /// Error(invalid_config) for a bad route. A learnt layer does not cover a new route: the
  /// router scores by similarity until the next fit().
  void add_route(Route route);
  /// Removes a route; false when there is none of that name.
  bool remove_route(std::string_view name);

  /// The configuration as it stands: routes, tuned thresholds and the learnt state.
  RouterConfig config() const;
  std::vector<std::string> route_names() const;

  /// Saves the router with its utterance vectors (and learnt state) to one file, so load()
  /// does not embed again. Written to a temporary file and renamed: never half a file.
  void save(const std::string& path) const;
  /// Loads what save() wrote; the file is verified (magic, version, sizes, checksum) and a bad
  /// one is Error(io) or Error(parse), never a crash. The embedder of `options`, when given,
  /// must have the saved dimension (its vectors are trusted to match the saved ones).
  static Router load(const std::string& path, Options options = {});
  /// True when `path` starts like a file save() wrote.
  static bool is_saved_router(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Router() = default;
};

}  // namespace keel

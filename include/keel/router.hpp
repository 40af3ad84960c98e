/// \file
/// The router: decides which route (a skill, an agent, a queue) handles a request, through a
/// three-tier cascade where the first confident tier wins:
///   1. condition — keyword sets, RE2 patterns and metadata predicates written by the author;
///   2. semantic  — the request embedded and compared with each route's example utterances
///                  (nearest utterances and centroids, or a linear layer learnt by fit());
///   3. llm       — a ChatModel picks among the route names and descriptions.
/// When no tier is confident the result is the configured fallback route (tier "fallback") or
/// no route (tier "none").
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
  /// Words or phrases, any of which (or all of which, with match_all) must occur.
  std::vector<std::string> keywords;
  bool match_all = false;  ///< "match": "all": every keyword must occur
  /// An RE2 pattern that must match somewhere in the text.
  std::string regex;
  Json metadata;  ///< a metadata filter; null when unused
  /// The confidence the route gets when the condition holds (0..1).
  double confidence = 0.9;

  /// The JSON form above.
  Json to_json() const;
  /// Reads the JSON form. Throws Error(invalid_config) naming `path` (also for bad RE2 syntax
  /// and for none or several of keywords, regex, metadata).
  static RouteCondition from_json(const Json& json, const std::string& path = "condition");
};

/// A route. JSON: {"name", "description", "conditions": [...], "utterances": [...],
/// "threshold": 0.8}. `threshold`, when set, replaces the router's exit_threshold for this
/// route in the semantic and LLM tiers (fit() tunes it); conditions carry their own confidence
/// and decide when it reaches exit_threshold.
struct KEEL_API Route {
  /// The route's name, which results report; unique and not empty.
  std::string name;
  /// What the route handles, for the LLM tier.
  std::string description;
  /// Rules of the condition tier.
  std::vector<RouteCondition> conditions;
  /// Example requests, for the semantic tier.
  std::vector<std::string> utterances;
  /// The route's own threshold (0..1); see above.
  std::optional<double> threshold;

  /// The JSON form above (empty description and conditions left out).
  Json to_json() const;
  /// Reads the JSON form. Throws Error(invalid_config) naming `path`.
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
  /// The confidence (0..1) at which a tier decides.
  double exit_threshold = 0.8;
  /// The route that takes requests no tier decided; "" = none.
  std::string fallback;
  /// The routes.
  std::vector<Route> routes;
  /// Candidates listed in a result (1..1000).
  std::size_t top_k = 5;
  Json embedder;  ///< null: the default hashing embedder

  /// How the semantic tier finds and scores routes.
  struct Semantic {
    std::string index = "auto";  ///< "auto": exact below hnsw_min_utterances, HNSW above
    /// See index.
    std::size_t hnsw_min_utterances = 1000;
    std::size_t neighbours = 32;  ///< utterances retrieved per query
    /// HNSW search breadth.
    std::size_t ef_search = 96;
    double nearest_weight = 0.5;  ///< route similarity = w * nearest + (1 - w) * centroid
  } semantic;
  /// \var semantic
  /// The semantic tier's settings.

  /// When and how the LLM tier asks the model.
  struct Llm {
    bool enabled = true;       ///< used only when the router has a model
    std::size_t max_routes = 30;  ///< more routes than this: the semantic top ones are offered
    /// How long the tier waits for the model, in milliseconds.
    int timeout_ms = 20000;
  } llm;
  /// \var llm
  /// The LLM tier's settings.

  Json fitted;  ///< null until fit()

  /// Throws Error(invalid_config) naming the JSON path (`routes[3].threshold: expected number`);
  /// duplicate or empty route names, a fallback that names no route, a condition with none or
  /// several of keywords/regex/metadata, and bad RE2 syntax are errors too.
  static RouterConfig from_json(const Json& json);
  /// The routes file above, "fitted" included, which from_json() reads back.
  Json to_json() const;
};

/// A request to route: the text and optional JSON metadata (channel, user tier, ...).
struct KEEL_API RouteRequest {
  /// The text to route.
  std::string text;
  /// Tested by metadata conditions: a JSON object, or null.
  Json metadata;
  bool use_llm = true;  ///< false: stop after the semantic tier
  /// When the LLM tier stops waiting for the model (the earlier of it and llm.timeout_ms).
  Deadline deadline;
  /// Cancelling it stops the LLM tier's call.
  CancellationToken cancel;

  /// {"text": "...", "metadata": {...}}, or a JSON string (the text). Throws
  /// Error(invalid_config) naming `path`.
  static RouteRequest from_json(const Json& json, const std::string& path = "request");
};

/// A route and how well a request matched it.
struct KEEL_API RouteCandidate {
  /// The route's name.
  std::string route;
  /// Its score in the tier that listed it: a condition's confidence, or the semantic score.
  double score = 0;
};

/// The outcome of routing one request:
/// {"route": "billing" | null, "confidence": 0.93, "tier": "condition|semantic|llm|fallback|none",
///  "candidates": [{"route", "score"}], "timings_us": {"condition", "semantic", "llm", "total"},
///  "reason": "..." (when no tier decided, or the model's answer was refused)}.
/// With tier "fallback", `route` is the fallback route and `confidence` the best confidence
/// any tier reached.
struct KEEL_API RouteResult {
  /// The chosen route's name; empty when no route takes the request.
  std::optional<std::string> route;
  /// The deciding tier's confidence, 0..1 (for fallback and none: the best any tier reached).
  double confidence = 0;
  /// "condition", "semantic", "llm", "fallback" or "none".
  std::string tier = "none";
  /// The leading routes by the condition tier, or by the semantic tier when it ran, best first
  /// (at most top_k).
  std::vector<RouteCandidate> candidates;
  /// Why no tier decided, or why the model's answer was refused; "" otherwise.
  std::string reason;
  /// Microseconds spent in each tier, and in all.
  struct Timings {
    ///@{
    /// Microseconds in the condition, semantic and LLM tiers (0 for a tier that did not run),
    /// and in the whole request.
    std::int64_t condition = 0, semantic = 0, llm = 0, total = 0;
    ///@}
  } timings_us;
  /// \var timings_us
  /// Where the time went.

  /// The JSON form above.
  Json to_json() const;
};

/// A labelled example for fit() and evaluate(): {"text", "metadata"?, "route": "name" | null}
/// (null: out of scope, no route should take it).
struct KEEL_API RouteExample {
  /// The request's text.
  std::string text;
  /// The request's metadata (a JSON object, or null).
  Json metadata;
  /// The route that should take it; empty when out of scope.
  std::optional<std::string> route;

  /// Reads the JSON above ("route" required, null for out of scope). Throws
  /// Error(invalid_config) naming `path`.
  static RouteExample from_json(const Json& json, const std::string& path = "example");
};

/// What evaluate() measured:
/// {"examples", "accuracy", "in_scope": {"examples", "accuracy"}, "out_of_scope": {"examples",
///  "recall", "precision"}, "tiers": {"condition": n, ...}, "routes": {"billing": {"precision",
///  "recall", "support"}}, "confused": [{"expected", "predicted", "count"}]}. A route counts as
/// predicted when the router answered it (fallback answers count as out of scope).
struct KEEL_API RouterEvaluation {
  /// Number of examples.
  std::size_t examples = 0;
  double accuracy = 0;           ///< every example, out-of-scope ones right when rejected
  /// Number of examples with a route.
  std::size_t in_scope = 0;
  /// Share of in-scope examples routed to their route.
  double in_scope_accuracy = 0;
  /// Number of examples without a route.
  std::size_t out_of_scope = 0;
  double out_of_scope_recall = 0;     ///< out-of-scope examples rejected
  double out_of_scope_precision = 0;  ///< rejections that were out of scope
  /// How many examples each tier decided: {"condition": n, "semantic": n, ...}.
  Json tiers = Json::object();
  /// Per route: {"name": {"precision", "recall", "support"}}.
  Json routes = Json::object();
  /// The mistakes, most frequent first: [{"expected", "predicted", "count"}].
  Json confused = Json::array();

  /// The JSON form above.
  Json to_json() const;
};

/// Options of fit().
struct KEEL_API FitOptions {
  /// "auto": train a linear layer over the embeddings on the route utterances and keep it when
  /// it beats similarity scoring on the examples; "always"; "never".
  std::string layer = "auto";
  /// Passes over the utterances when training the layer (1..1000).
  int epochs = 30;
  /// The layer's weight decay (0..1).
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
  /// Seeds the shuffling of training samples, so a fit is repeatable.
  std::uint64_t seed = 42;

  /// {"layer", "epochs", "l2", "out_of_scope_weight", "per_route_thresholds", "seed"}, every
  /// key optional; null gives the defaults. Throws Error(invalid_config) naming the JSON path.
  static FitOptions from_json(const Json& json);
};

/// What fit() did: {"layer": true, "threshold": 0.62, "objective": 0.79, "in_scope_accuracy",
/// "out_of_scope_recall", "routes_tuned": n, "seconds"}.
struct KEEL_API FitReport {
  /// Whether a linear layer was trained and kept.
  bool layer = false;
  /// The shared threshold chosen.
  double threshold = 0;
  /// The objective reached on the examples (see FitOptions::out_of_scope_weight).
  double objective = 0;
  /// In-scope accuracy on the examples, with the chosen thresholds.
  double in_scope_accuracy = 0;
  /// Out-of-scope recall on the examples, with the chosen thresholds.
  double out_of_scope_recall = 0;
  /// Routes given a threshold of their own.
  std::size_t routes_tuned = 0;
  /// How long fit() took.
  double seconds = 0;
  /// The JSON form above.
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
  /// What a Router is built with besides its configuration.
  using Options = RouterOptions;

  /// Embeds every utterance and builds the index. Throws Error(invalid_config) for a bad
  /// configuration, or the embedder's error.
  explicit Router(RouterConfig config, Options options = {});
  /// From the routes file's JSON (see RouterConfig); throws as the other constructor does.
  explicit Router(const Json& config, Options options = {});
  ~Router();
  /// Takes over another router; the moved-from one may only be destroyed or assigned to.
  Router(Router&&) noexcept;
  /// Takes over another router; the moved-from one may only be destroyed or assigned to.
  Router& operator=(Router&&) noexcept;

  /// Routes one request. Never throws for anything the model answers or fails with: those
  /// become tier "none"/"fallback" with a reason. Throws Error(invalid_argument) only when
  /// called from one of the executor's threads while the LLM tier is needed (use route_async).
  RouteResult route(const RouteRequest& request) const;
  /// Routes `text` with `metadata` (a JSON object, or null) and the LLM tier on.
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
  /// The routes' names, in order.
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

// The router's JSON: routes files, requests, examples, results and reports.
#include <re2/re2.h>
#include <re2/set.h>

#include <set>

#include "core/metadata_filter.hpp"
#include "keel/router.hpp"

namespace keel {

namespace {

// An object-or-null metadata value at `key`.
Json read_metadata(ConfigReader& reader, std::string_view key) {
  const Json* value = reader.raw(key);
  if (!value) return nullptr;
  if (!value->is_object())
    throw_config_error(reader.path_of(key),
                       "expected an object, got " + std::string(json_type_name(*value)));
  return *value;
}

}  // namespace

// ---- routes file ----

Json RouteCondition::to_json() const {
  Json out = Json::object();
  if (!keywords.empty()) {
    out["keywords"] = keywords;
    out["match"] = match_all ? "all" : "any";
  } else if (!regex.empty()) {
    out["regex"] = regex;
  } else {
    out["metadata"] = metadata;
  }
  out["confidence"] = confidence;
  return out;
}

RouteCondition RouteCondition::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  RouteCondition c;
  int kinds = 0;
  if (r.has("keywords")) {
    ++kinds;
    c.keywords = r.required<std::vector<std::string>>("keywords");
    if (c.keywords.empty()) throw_config_error(r.path_of("keywords"), "expected at least one keyword");
    for (std::size_t i = 0; i < c.keywords.size(); ++i) {
      bool blank = c.keywords[i].find_first_not_of(" \t\r\n") == std::string::npos;
      if (blank) throw_config_error(json_path_index(r.path_of("keywords"), i), "empty keyword");
    }
    c.match_all = r.choice("match", "any", {"any", "all"}) == "all";
  }
  if (r.has("regex")) {
    ++kinds;
    c.regex = r.required<std::string>("regex");
    // Parsed, not compiled, so that a bad pattern is reported at its path: the condition tier
    // compiles every pattern once, into one set (a compile here took a fifth of a router's
    // construction).
    RE2::Options options;
    options.set_log_errors(false);
    RE2::Set parsed(options, RE2::UNANCHORED);
    std::string error;
    if (parsed.Add(c.regex, &error) < 0) throw_config_error(r.path_of("regex"), error);
  }
  if (r.has("metadata")) {
    ++kinds;
    c.metadata = read_metadata(r, "metadata");
    if (c.metadata.empty()) throw_config_error(r.path_of("metadata"), "expected at least one field");
    (void)MetadataFilter::parse(c.metadata, r.path_of("metadata"));
  }
  if (kinds != 1)
    throw_config_error(path, kinds == 0 ? "expected one of \"keywords\", \"regex\", \"metadata\""
                                        : "expected only one of \"keywords\", \"regex\", \"metadata\"");
  if (c.keywords.empty() && r.has("match"))
    throw_config_error(r.path_of("match"), "only keyword conditions take \"match\"");
  c.confidence = r.number("confidence", 0.9, 0.0, 1.0);
  r.finish();
  return c;
}

Json Route::to_json() const {
  Json out{{"name", name}};
  if (!description.empty()) out["description"] = description;
  if (!conditions.empty()) {
    Json list = Json::array();
    for (const auto& c : conditions) list.push_back(c.to_json());
    out["conditions"] = std::move(list);
  }
  out["utterances"] = utterances;
  if (threshold) out["threshold"] = *threshold;
  return out;
}

Route Route::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  Route route;
  route.name = r.required<std::string>("name");
  if (route.name.empty()) throw_config_error(r.path_of("name"), "must not be empty");
  route.description = r.optional<std::string>("description", "");
  std::size_t index = 0;
  for (auto& entry : r.objects("conditions")) {
    route.conditions.push_back(
        RouteCondition::from_json(entry.json(), json_path_index(r.path_of("conditions"), index++)));
  }
  route.utterances = r.optional<std::vector<std::string>>("utterances", {});
  if (r.has("threshold")) route.threshold = r.number("threshold", 0.8, 0.0, 1.0);
  r.finish();
  return route;
}

RouterConfig RouterConfig::from_json(const Json& json) {
  ConfigReader r(json, "");
  RouterConfig config;
  config.exit_threshold = r.number("exit_threshold", 0.8, 0.0, 1.0);
  config.fallback = r.optional<std::string>("fallback", "");
  config.top_k = static_cast<std::size_t>(r.integer("top_k", 5, 1, 1000));
  if (const Json* embedder = r.raw("embedder")) {
    if (!embedder->is_object()) throw_config_error(r.path_of("embedder"), "expected object");
    config.embedder = *embedder;
  }
  if (auto s = r.optional_object("semantic")) {
    config.semantic.index = s->choice("index", "auto", {"auto", "exact", "hnsw"});
    config.semantic.hnsw_min_utterances =
        static_cast<std::size_t>(s->integer("hnsw_min_utterances", 1000, 1, 1LL << 40));
    config.semantic.neighbours = static_cast<std::size_t>(s->integer("neighbours", 32, 1, 10000));
    config.semantic.ef_search = static_cast<std::size_t>(s->integer("ef_search", 96, 1, 100000));
    config.semantic.nearest_weight = s->number("nearest_weight", 0.5, 0.0, 1.0);
    s->finish();
  }
  if (auto l = r.optional_object("llm")) {
    config.llm.enabled = l->optional<bool>("enabled", true);
    config.llm.max_routes = static_cast<std::size_t>(l->integer("max_routes", 30, 1, 100000));
    config.llm.timeout_ms = static_cast<int>(l->integer("timeout_ms", 20000, 1, 3600000));
    l->finish();
  }
  if (const Json* fitted = r.raw("fitted")) {
    if (!fitted->is_object()) throw_config_error(r.path_of("fitted"), "expected object");
    config.fitted = *fitted;
  }
  const Json* routes = r.raw("routes");
  if (!routes) throw_config_error("routes", "required");
  if (!routes->is_array())
    throw_config_error("routes", "expected array, got " + std::string(json_type_name(*routes)));
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < routes->size(); ++i) {
    std::string path = json_path_index("routes", i);
    config.routes.push_back(Route::from_json((*routes)[i], path));
    if (!names.insert(config.routes.back().name).second)
      throw_config_error(json_path_join(path, "name"),
                         "duplicate route name \"" + config.routes.back().name + "\"");
  }
  if (!config.fallback.empty() && !names.count(config.fallback))
    throw_config_error("fallback", "names no route: \"" + config.fallback + "\"");
  r.finish();
  return config;
}

Json RouterConfig::to_json() const {
  Json out;
  out["exit_threshold"] = exit_threshold;
  if (!fallback.empty()) out["fallback"] = fallback;
  out["top_k"] = top_k;
  if (!embedder.is_null()) out["embedder"] = embedder;
  out["semantic"] = {{"index", semantic.index},
                     {"hnsw_min_utterances", semantic.hnsw_min_utterances},
                     {"neighbours", semantic.neighbours},
                     {"ef_search", semantic.ef_search},
                     {"nearest_weight", semantic.nearest_weight}};
  out["llm"] = {{"enabled", llm.enabled},
                {"max_routes", llm.max_routes},
                {"timeout_ms", llm.timeout_ms}};
  Json list = Json::array();
  for (const auto& route : routes) list.push_back(route.to_json());
  out["routes"] = std::move(list);
  if (!fitted.is_null()) out["fitted"] = fitted;
  return out;
}

// ---- requests and examples ----

RouteRequest RouteRequest::from_json(const Json& json, const std::string& path) {
  RouteRequest request;
  if (json.is_string()) {
    request.text = json.get<std::string>();
    return request;
  }
  ConfigReader r(json, path);
  request.text = r.required<std::string>("text");
  request.metadata = read_metadata(r, "metadata");
  r.finish();
  return request;
}

RouteExample RouteExample::from_json(const Json& json, const std::string& path) {
  ConfigReader r(json, path);
  RouteExample example;
  example.text = r.required<std::string>("text");
  example.metadata = read_metadata(r, "metadata");
  if (!r.json().contains("route")) throw_config_error(r.path_of("route"), "required (null: out of scope)");
  example.route = r.maybe<std::string>("route");
  r.finish();
  return example;
}

FitOptions FitOptions::from_json(const Json& json) {
  FitOptions options;
  if (json.is_null()) return options;
  ConfigReader r(json, "fit");
  options.layer = r.choice("layer", "auto", {"auto", "always", "never"});
  options.epochs = static_cast<int>(r.integer("epochs", 30, 1, 1000));
  options.l2 = r.number("l2", 1e-5, 0.0, 1.0);
  options.out_of_scope_weight = r.number("out_of_scope_weight", 0.2, 0.0, 1.0);
  options.per_route_thresholds = r.optional<bool>("per_route_thresholds", true);
  options.seed = static_cast<std::uint64_t>(r.integer("seed", 42, 0, INT64_MAX));
  r.finish();
  return options;
}

// ---- results ----

Json RouteResult::to_json() const {
  Json out;
  out["route"] = route ? Json(*route) : Json(nullptr);
  out["confidence"] = confidence;
  out["tier"] = tier;
  Json list = Json::array();
  for (const auto& c : candidates) list.push_back({{"route", c.route}, {"score", c.score}});
  out["candidates"] = std::move(list);
  out["timings_us"] = {{"condition", timings_us.condition},
                       {"semantic", timings_us.semantic},
                       {"llm", timings_us.llm},
                       {"total", timings_us.total}};
  if (!reason.empty()) out["reason"] = reason;
  return out;
}

Json RouterEvaluation::to_json() const {
  return Json{{"examples", examples},
              {"accuracy", accuracy},
              {"in_scope", {{"examples", in_scope}, {"accuracy", in_scope_accuracy}}},
              {"out_of_scope",
               {{"examples", out_of_scope},
                {"recall", out_of_scope_recall},
                {"precision", out_of_scope_precision}}},
              {"tiers", tiers},
              {"routes", routes},
              {"confused", confused}};
}

Json FitReport::to_json() const {
  return Json{{"layer", layer},
              {"threshold", threshold},
              {"objective", objective},
              {"in_scope_accuracy", in_scope_accuracy},
              {"out_of_scope_recall", out_of_scope_recall},
              {"routes_tuned", routes_tuned},
              {"seconds", seconds}};
}

}  // namespace keel

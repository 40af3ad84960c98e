// JSON forms of the knowledge base's options, documents, queries and results.
#include <cmath>

#include "keel/knowledge.hpp"
#include "keel/llm.hpp"
#include "knowledge/knowledge_base_impl.hpp"

namespace keel {

namespace {

const char* to_string(EdgeDirection direction) {
  switch (direction) {
    case EdgeDirection::incoming:
      return "incoming";
    case EdgeDirection::both:
      return "both";
    default:
      return "outgoing";
  }
}

EdgeDirection direction_from(ConfigReader& reader, std::string_view key, EdgeDirection fallback) {
  auto name = reader.choice(key, to_string(fallback), {"outgoing", "incoming", "both"});
  return name == "incoming" ? EdgeDirection::incoming
         : name == "both"   ? EdgeDirection::both
                            : EdgeDirection::outgoing;
}

std::vector<float> floats_from(ConfigReader& reader, std::string_view key) {
  std::vector<float> out;
  for (double v : reader.optional<std::vector<double>>(key, {}))
    out.push_back(static_cast<float>(v));
  return out;
}

// Data records (documents, entities, edges) are caller input, not configuration: their
// errors are invalid_argument, with the same JSON paths.
template <class Fn>
auto as_argument_error(Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    if (e.code() == Errc::invalid_config) throw Error(Errc::invalid_argument, e.what());
    throw;
  }
}

Json object_or_empty(const Json* value, const std::string& path) {
  if (!value) return Json::object();
  if (!value->is_object()) {
    throw_config_error(path, "expected an object, got " + std::string(json_type_name(*value)));
  }
  return *value;
}

}  // namespace

HnswOptions HnswOptions::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  HnswOptions out;
  out.m = static_cast<std::size_t>(reader.integer("m", 16, 2, 100));
  out.ef_construction = static_cast<std::size_t>(reader.integer("ef_construction", 200, 10, 4096));
  out.ef_search = static_cast<std::size_t>(reader.integer("ef_search", 64, 1, 4096));
  out.seed = static_cast<std::size_t>(reader.integer("seed", 100, 0, INT64_MAX));
  // (the default is the struct's: int8)
  out.quantization =
      reader.choice("quantization",
                    vector::quantization_name(knowledge::index_quantization(out.quantization)),
                    {"none", "int8"}) == "int8"
          ? VectorQuantization::int8
          : VectorQuantization::none;
  reader.finish();
  return out;
}

Json HnswOptions::to_json() const {
  return {{"m", m},
          {"ef_construction", ef_construction},
          {"ef_search", ef_search},
          {"seed", seed},
          {"quantization", vector::quantization_name(knowledge::index_quantization(quantization))}};
}

KnowledgeOptions KnowledgeOptions::from_json(const Json& json) {
  ConfigReader reader(json);
  KnowledgeOptions out;
  out.dimension = static_cast<std::size_t>(reader.integer("dimension", 0, 0, 65536));
  if (reader.has("metric"))
    out.metric = reader.choice("metric", "cosine", {"cosine", "inner_product"});
  if (const Json* hnsw = reader.raw("hnsw")) out.hnsw = HnswOptions::from_json(*hnsw, "hnsw");
  out.synchronous = reader.choice("synchronous", "normal", {"normal", "full"});
  if (auto compaction = reader.optional_object("compaction")) {
    out.compaction_deleted_fraction = compaction->number("deleted_fraction", 0.2, 0.01, 1.0);
    out.compaction_min_deleted =
        static_cast<std::size_t>(compaction->integer("min_deleted", 64, 1, INT64_MAX));
    compaction->finish();
  }
  out.read_connections = static_cast<std::size_t>(reader.integer("read_connections", 8, 1, 256));
  out.index_threads = static_cast<unsigned>(reader.integer("index_threads", 1, 1, 64));
  if (const Json* embedder = reader.raw("embedder")) {
    if (!embedder->is_object()) throw_config_error("embedder", "expected an object");
    try {
      out.embedder = make_embedder(*embedder);
    } catch (const Error& e) {
      if (e.code() != Errc::invalid_config && e.code() != Errc::invalid_argument) throw;
      std::string message = e.what();
      // make_embedder's paths start at its own root; ours start at "embedder".
      throw Error(Errc::invalid_config,
                  message.rfind("embedder", 0) == 0 ? message : "embedder." + message);
    }
    out.embedder_config = *embedder;
  }
  reader.finish();
  if (out.embedder && out.dimension && out.embedder->dimension() != out.dimension) {
    throw_config_error("dimension", "is " + std::to_string(out.dimension) +
                                        " but the embedder makes vectors of " +
                                        std::to_string(out.embedder->dimension()));
  }
  return out;
}

Json KnowledgeOptions::to_json() const {
  Json out = {{"dimension", dimension},
              {"metric", metric.empty() ? "cosine" : metric},
              {"hnsw", hnsw.to_json()},
              {"synchronous", synchronous},
              {"compaction",
               {{"deleted_fraction", compaction_deleted_fraction},
                {"min_deleted", compaction_min_deleted}}},
              {"read_connections", read_connections},
              {"index_threads", index_threads}};
  if (!embedder_config.is_null()) out["embedder"] = embedder_config;
  return out;
}

Document Document::from_json(const Json& json, const std::string& path) {
  return as_argument_error([&] {
    ConfigReader reader(json, path);
    Document out;
    out.id = reader.required<std::string>("id");
    out.text = reader.optional<std::string>("text", "");
    out.metadata = object_or_empty(reader.raw("metadata"), reader.path_of("metadata"));
    out.vector = floats_from(reader, "vector");
    reader.finish();
    return out;
  });
}

Json Document::to_json(bool with_vector) const {
  Json out = {{"id", id}, {"text", text}, {"metadata", metadata}};
  if (with_vector) out["vector"] = vector;
  return out;
}

Entity Entity::from_json(const Json& json, const std::string& path) {
  return as_argument_error([&] {
    ConfigReader reader(json, path);
    Entity out;
    out.id = reader.required<std::string>("id");
    out.type = reader.optional<std::string>("type", "");
    out.properties = object_or_empty(reader.raw("properties"), reader.path_of("properties"));
    reader.finish();
    return out;
  });
}

Json Entity::to_json() const {
  return {{"id", id}, {"type", type}, {"properties", properties}};
}

Edge Edge::from_json(const Json& json, const std::string& path) {
  return as_argument_error([&] {
    ConfigReader reader(json, path);
    Edge out;
    out.from = reader.required<std::string>("from");
    out.to = reader.required<std::string>("to");
    out.type = reader.required<std::string>("type");
    out.weight = reader.number("weight", 1.0, 1e-300, 1e300);
    out.properties = object_or_empty(reader.raw("properties"), reader.path_of("properties"));
    reader.finish();
    return out;
  });
}

Json Edge::to_json() const {
  return {
      {"from", from}, {"to", to}, {"type", type}, {"weight", weight}, {"properties", properties}};
}

NeighbourQuery NeighbourQuery::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  NeighbourQuery out;
  out.hops = static_cast<std::size_t>(reader.integer("hops", 1, 1, 8));
  out.edge_types = reader.optional<std::vector<std::string>>("edge_types", {});
  out.direction = direction_from(reader, "direction", EdgeDirection::outgoing);
  out.limit = static_cast<std::size_t>(reader.integer("limit", 0, 0, INT64_MAX));
  reader.finish();
  return out;
}

Json NeighbourQuery::to_json() const {
  return {{"hops", hops},
          {"edge_types", edge_types},
          {"direction", to_string(direction)},
          {"limit", limit}};
}

Json Neighbour::to_json() const {
  return {{"id", id},         {"kind", kind}, {"hops", hops},
          {"weight", weight}, {"via", via},   {"edge_type", edge_type}};
}

SearchQuery SearchQuery::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  SearchQuery out;
  out.text = reader.optional<std::string>("text", "");
  out.vector = floats_from(reader, "vector");
  out.k = static_cast<std::size_t>(reader.integer("k", 10, 1, 10000));
  if (const Json* filter = reader.raw("filter")) out.filter = *filter;
  bool graph_given = false;
  if (auto signals = reader.optional_object("signals")) {
    out.use_keyword = signals->optional<bool>("keyword", true);
    out.use_vector = signals->optional<bool>("vector", true);
    if (signals->has("graph")) {
      out.use_graph = signals->required<bool>("graph");
      graph_given = true;
    }
    signals->finish();
  }
  if (auto keyword = reader.optional_object("keyword")) {
    auto mode = keyword->choice("mode", "any", {"any", "all", "phrase"});
    out.keyword_mode = mode == "all"      ? KeywordMode::all
                       : mode == "phrase" ? KeywordMode::phrase
                                          : KeywordMode::any;
    out.prefix = keyword->optional<bool>("prefix", false);
    keyword->finish();
  }
  if (auto graph = reader.optional_object("graph")) {
    out.seeds = graph->optional<std::vector<std::string>>("seeds", {});
    out.graph_hops = static_cast<std::size_t>(graph->integer("hops", 1, 1, 8));
    out.graph_decay = graph->number("decay", 0.5, 1e-9, 1.0);
    out.graph_edge_types = graph->optional<std::vector<std::string>>("edge_types", {});
    out.graph_direction = direction_from(*graph, "direction", EdgeDirection::both);
    out.graph_seed_hits = static_cast<std::size_t>(graph->integer("seed_hits", 3, 1, 1000));
    graph->finish();
    if (!graph_given && !out.seeds.empty()) out.use_graph = true;
  }
  if (auto fusion = reader.optional_object("fusion")) {
    auto method = fusion->choice("method", "rrf", {"rrf", "weighted"});
    out.fusion = method == "weighted" ? FusionMethod::weighted : FusionMethod::rrf;
    out.rrf_k = fusion->number("rrf_k", 60, 0, 1e9);
    out.candidates = static_cast<std::size_t>(fusion->integer("candidates", 50, 1, 10000));
    if (auto weights = fusion->optional_object("weights")) {
      out.keyword_weight = weights->number("keyword", out.keyword_weight, 0, 1e6);
      out.vector_weight = weights->number("vector", out.vector_weight, 0, 1e6);
      out.graph_weight = weights->number("graph", out.graph_weight, 0, 1e6);
      weights->finish();
    }
    fusion->finish();
  }
  out.ef_search = static_cast<std::size_t>(reader.integer("ef_search", 0, 0, 100000));
  if (auto snippet = reader.optional_object("snippet")) {
    out.snippet_tokens = static_cast<std::size_t>(snippet->integer("tokens", 16, 1, 64));
    out.snippet_open = snippet->optional<std::string>("open", out.snippet_open);
    out.snippet_close = snippet->optional<std::string>("close", out.snippet_close);
    out.snippet_ellipsis = snippet->optional<std::string>("ellipsis", out.snippet_ellipsis);
    snippet->finish();
  }
  reader.finish();
  return out;
}

Json SearchQuery::to_json() const {
  const char* mode = keyword_mode == KeywordMode::all      ? "all"
                     : keyword_mode == KeywordMode::phrase ? "phrase"
                                                           : "any";
  Json out = {
      {"text", text},
      {"k", k},
      {"signals", {{"keyword", use_keyword}, {"vector", use_vector}, {"graph", use_graph}}},
      {"keyword", {{"mode", mode}, {"prefix", prefix}}},
      {"graph",
       {{"seeds", seeds},
        {"hops", graph_hops},
        {"decay", graph_decay},
        {"edge_types", graph_edge_types},
        {"direction", to_string(graph_direction)},
        {"seed_hits", graph_seed_hits}}},
      {"fusion",
       {{"method", fusion == FusionMethod::weighted ? "weighted" : "rrf"},
        {"rrf_k", rrf_k},
        {"candidates", candidates},
        {"weights",
         {{"keyword", keyword_weight}, {"vector", vector_weight}, {"graph", graph_weight}}}}},
      {"ef_search", ef_search},
      {"snippet",
       {{"tokens", snippet_tokens},
        {"open", snippet_open},
        {"close", snippet_close},
        {"ellipsis", snippet_ellipsis}}}};
  if (!vector.empty()) out["vector"] = vector;
  if (!filter.is_null()) out["filter"] = filter;
  return out;
}

namespace {

Json signal_json(const SignalScore& signal, bool with_hops) {
  Json out = {{"rank", signal.rank}, {"score", std::isfinite(signal.score) ? signal.score : 0.0}};
  if (with_hops) out["hops"] = signal.hops;
  return out;
}

}  // namespace

Json SearchHit::to_json() const {
  Json signals = Json::object();
  if (keyword) signals["keyword"] = signal_json(*keyword, false);
  if (vector) signals["vector"] = signal_json(*vector, false);
  if (graph) signals["graph"] = signal_json(*graph, true);
  return {{"id", id},           {"score", score},
          {"snippet", snippet}, {"metadata", metadata},
          {"text", text},       {"signals", std::move(signals)}};
}

Json SearchResult::to_json() const {
  Json list = Json::array();
  for (const auto& hit : hits)
    list.push_back(hit.to_json());
  return {
      {"hits", std::move(list)}, {"timings_us", timings_us}, {"vector_strategy", vector_strategy}};
}

ChunkOptions ChunkOptions::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  ChunkOptions out;
  out.max_bytes = static_cast<std::size_t>(reader.integer("max_bytes", 1000, 16, INT64_MAX));
  out.overlap_bytes = static_cast<std::size_t>(reader.integer("overlap_bytes", 150, 0, INT64_MAX));
  reader.finish();
  if (out.overlap_bytes * 2 >= out.max_bytes) {
    throw_config_error(reader.path_of("overlap_bytes"), "must be less than max_bytes / 2");
  }
  return out;
}

Json ChunkOptions::to_json() const {
  return {{"max_bytes", max_bytes}, {"overlap_bytes", overlap_bytes}};
}

}  // namespace keel

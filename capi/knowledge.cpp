// The knowledge base's C ABI.
#include <memory>
#include <mutex>

#include "boundary.hpp"
#include "handles.hpp"
#include "keel/knowledge.hpp"
#include "keel/llm.hpp"

namespace {

using keel::capi::as_argument;
using keel::capi::bytes_arg;
using keel::Errc;
using keel::Error;
using keel::Json;

}  // namespace

struct keel_kb {
  keel::KnowledgeBase kb;
  std::shared_ptr<keel::capi::EventHook> events;
};

namespace {

using keel::capi::require;
using keel::capi::text_arg;

// A non-empty id argument.
std::string id_arg(const char* id, const char* name) {
  std::string_view view = text_arg(id, name);
  if (view.empty()) throw Error(Errc::invalid_argument, std::string(name) + " must not be empty");
  return std::string(view);
}

// An optional JSON argument: NULL or "" is absent (null).
Json optional_json(const char* text, std::string_view what) {
  if (text == nullptr || *text == '\0') return Json();
  return keel::parse_json(text, what);
}

const keel::KnowledgeBase& live(const keel_kb* kb) {
  require(kb, "kb");
  return kb->kb;
}

keel::KnowledgeBase& live(keel_kb* kb) {
  require(kb, "kb");
  return kb->kb;
}

// Clears a required char** out-parameter before the work, so a failure leaves it NULL.
void clear_out(char** out, const char* name) {
  require(out, name);
  *out = nullptr;
}

[[noreturn]] void wrong_shape(const std::string& path, const char* expected, const Json& got) {
  throw Error(Errc::invalid_argument,
              path + ": expected " + expected + ", got " + std::string(keel::json_type_name(got)));
}

keel::EdgeDirection direction_arg(const char* direction) {
  if (direction == nullptr || *direction == '\0') return keel::EdgeDirection::both;
  std::string_view name(direction);
  if (name == "outgoing") return keel::EdgeDirection::outgoing;
  if (name == "incoming") return keel::EdgeDirection::incoming;
  if (name == "both") return keel::EdgeDirection::both;
  throw Error(Errc::invalid_argument,
              "direction: expected \"outgoing\", \"incoming\" or \"both\", got \"" +
                  std::string(name) + "\"");
}

char* json_out(const Json& json) {
  return keel::capi::copy_out(keel::dump_json(json));
}

}  // namespace

extern "C" {

KEEL_API keel_status keel_kb_open(const char* path, const char* options_json,
                                  keel_embedder* embedder, keel_kb** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    require(out, "out");
    *out = nullptr;
    std::string file(text_arg(path, "path"));
    if (file.empty()) throw Error(Errc::invalid_argument, "path must not be empty");
    Json config = optional_json(options_json, "knowledge base options");
    if (config.is_null()) config = Json::object();
    if (embedder != nullptr && config.is_object() && config.contains("embedder")) {
      throw Error(Errc::invalid_config,
                  "embedder: given both in options_json and as the embedder argument");
    }
    keel::KnowledgeOptions options = keel::KnowledgeOptions::from_json(config);
    // KnowledgeBase::open checks the embedder's dimension against the options and the base.
    if (embedder != nullptr) options.embedder = embedder->embedder;
    auto hook = std::make_shared<keel::capi::EventHook>();
    options.events = keel::capi::event_sink(hook);
    keel::KnowledgeBase kb = keel::KnowledgeBase::open(file, std::move(options));
    *out = new keel_kb{std::move(kb), std::move(hook)};
  });
}

KEEL_API void keel_kb_free(keel_kb* kb) {
  delete kb;
}  // ~KnowledgeBase closes

KEEL_API keel_status keel_kb_close(keel_kb* kb, keel_error** err) {
  return keel::capi::call(err, [&] {
    require(kb, "kb");
    kb->kb.close();
  });
}

KEEL_API keel_status keel_kb_checkpoint(keel_kb* kb, keel_error** err) {
  return keel::capi::call(err, [&] { live(kb).checkpoint(); });
}

KEEL_API keel_status keel_kb_compact(keel_kb* kb, keel_error** err) {
  return keel::capi::call(err, [&] { live(kb).compact(); });
}

KEEL_API keel_status keel_kb_stats(const keel_kb* kb, char** stats_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(stats_json, "stats_json");
    *stats_json = json_out(base.stats());
  });
}

KEEL_API keel_status keel_kb_upsert(keel_kb* kb, const char* documents_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::KnowledgeBase& base = live(kb);
    Json json = keel::parse_json(text_arg(documents_json, "documents_json"), "documents");
    if (json.is_object()) {
      base.upsert(keel::Document::from_json(json, "document"));
    } else if (json.is_array()) {
      std::vector<keel::Document> documents;
      documents.reserve(json.size());
      for (std::size_t i = 0; i < json.size(); ++i) {
        documents.push_back(
            keel::Document::from_json(json[i], keel::json_path_index("documents", i)));
      }
      base.upsert(std::move(documents));
    } else {
      wrong_shape("documents", "a document object or an array of them", json);
    }
  });
}

KEEL_API keel_status keel_kb_get(const keel_kb* kb, const char* id, char** document_json,
                                 keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(document_json, "document_json");
    std::string key = id_arg(id, "id");
    auto document = base.get(key);
    if (!document) throw Error(Errc::not_found, "document \"" + key + "\" not found");
    *document_json = json_out(document->to_json());
  });
}

KEEL_API keel_status keel_kb_delete(keel_kb* kb, const char* id, keel_error** err) {
  return keel::capi::call(err, [&] { live(kb).remove(id_arg(id, "id")); });
}

KEEL_API keel_status keel_kb_delete_many(keel_kb* kb, const char* ids_json, size_t* deleted,
                                         keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::KnowledgeBase& base = live(kb);
    if (deleted) *deleted = 0;
    Json json = keel::parse_json(text_arg(ids_json, "ids_json"), "ids");
    if (!json.is_array()) wrong_shape("ids", "an array of strings", json);
    std::vector<std::string> ids;
    ids.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
      if (!json[i].is_string()) wrong_shape(keel::json_path_index("ids", i), "a string", json[i]);
      ids.push_back(json[i].get<std::string>());
    }
    std::size_t n = base.remove(ids);
    if (deleted) *deleted = n;
  });
}

KEEL_API keel_status keel_kb_count(const keel_kb* kb, size_t* count, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    require(count, "count");
    *count = 0;
    *count = base.count();
  });
}

KEEL_API keel_status keel_kb_upsert_entity(keel_kb* kb, const char* entity_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::KnowledgeBase& base = live(kb);
    Json json = keel::parse_json(text_arg(entity_json, "entity_json"), "entity");
    if (!json.is_object()) wrong_shape("entity", "an object", json);
    base.upsert_entity(keel::Entity::from_json(json, "entity"));
  });
}

KEEL_API keel_status keel_kb_get_entity(const keel_kb* kb, const char* id, char** entity_json,
                                        keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(entity_json, "entity_json");
    std::string key = id_arg(id, "id");
    auto entity = base.get_entity(key);
    if (!entity) throw Error(Errc::not_found, "entity \"" + key + "\" not found");
    *entity_json = json_out(entity->to_json());
  });
}

KEEL_API keel_status keel_kb_delete_entity(keel_kb* kb, const char* id, keel_error** err) {
  return keel::capi::call(err, [&] { live(kb).remove_entity(id_arg(id, "id")); });
}

KEEL_API keel_status keel_kb_link(keel_kb* kb, const char* edges_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::KnowledgeBase& base = live(kb);
    Json json = keel::parse_json(text_arg(edges_json, "edges_json"), "edges");
    if (json.is_object()) {
      base.add_edge(keel::Edge::from_json(json, "edge"));
    } else if (json.is_array()) {
      std::vector<keel::Edge> edges;
      edges.reserve(json.size());
      for (std::size_t i = 0; i < json.size(); ++i) {
        edges.push_back(keel::Edge::from_json(json[i], keel::json_path_index("edges", i)));
      }
      base.add_edges(std::move(edges));
    } else {
      wrong_shape("edges", "an edge object or an array of them", json);
    }
  });
}

KEEL_API keel_status keel_kb_unlink(keel_kb* kb, const char* from, const char* to, const char* type,
                                    keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::KnowledgeBase& base = live(kb);
    base.remove_edge(id_arg(from, "from"), id_arg(to, "to"), id_arg(type, "type"));
  });
}

KEEL_API keel_status keel_kb_edges(const keel_kb* kb, const char* id, const char* direction,
                                   char** edges_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(edges_json, "edges_json");
    std::string key = id_arg(id, "id");
    Json list = Json::array();
    for (const auto& edge : base.edges(key, direction_arg(direction)))
      list.push_back(edge.to_json());
    *edges_json = json_out(list);
  });
}

KEEL_API keel_status keel_kb_neighbours(const keel_kb* kb, const char* id, const char* query_json,
                                        char** neighbours_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(neighbours_json, "neighbours_json");
    std::string key = id_arg(id, "id");
    Json json = optional_json(query_json, "neighbour query");
    keel::NeighbourQuery query;
    if (!json.is_null()) {
      if (!json.is_object()) wrong_shape("query", "an object", json);
      query = as_argument([&] { return keel::NeighbourQuery::from_json(json, "query"); });
    }
    Json list = Json::array();
    for (const auto& neighbour : base.neighbours(key, query))
      list.push_back(neighbour.to_json());
    *neighbours_json = json_out(list);
  });
}

KEEL_API keel_status keel_kb_search(const keel_kb* kb, const char* query_json, char** result_json,
                                    keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(result_json, "result_json");
    Json json = keel::parse_json(text_arg(query_json, "query_json"), "search query");
    keel::SearchQuery query;
    if (json.is_string()) {
      query.text = json.get<std::string>();
    } else if (json.is_object()) {
      query = as_argument([&] { return keel::SearchQuery::from_json(json, "query"); });
    } else {
      wrong_shape("query", "{\"text\": ...} or a JSON string", json);
    }
    *result_json = json_out(base.search(query).to_json());
  });
}

KEEL_API keel_status keel_kb_search_text(const keel_kb* kb, const char* text, size_t len, size_t k,
                                         char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::KnowledgeBase& base = live(kb);
    clear_out(result_json, "result_json");
    if (k == 0) throw Error(Errc::invalid_argument, "k must be at least 1");
    *result_json = json_out(base.search(bytes_arg(text, len), k).to_json());
  });
}

KEEL_API keel_status keel_kb_set_event_callback(keel_kb* kb, keel_event_fn callback,
                                                void* user_data, keel_error** err) {
  return keel::capi::call(err, [&] {
    require(kb, "kb");
    kb->events->set(callback, user_data);
  });
}

KEEL_API keel_status keel_chunk_text(const char* text, size_t len, const char* options_json,
                                     char** chunks_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    clear_out(chunks_json, "chunks_json");
    std::string_view input = bytes_arg(text, len);
    Json json = optional_json(options_json, "chunk options");
    keel::ChunkOptions options;
    if (!json.is_null()) options = keel::ChunkOptions::from_json(json, "options");
    Json list = Json::array();
    for (const auto& chunk : keel::chunk_text(input, options)) {
      list.push_back({{"text", chunk.text}, {"start", chunk.start}, {"end", chunk.end}});
    }
    *chunks_json = json_out(list);
  });
}

}  // extern "C"

// The router's C ABI.
#include <memory>
#include <mutex>

#include "boundary.hpp"
#include "handles.hpp"
#include "keel/router.hpp"

namespace {

using keel::capi::as_argument;
using keel::capi::bytes_arg;
using keel::Errc;
using keel::Error;
using keel::Json;

}  // namespace

struct keel_router {
  // Shared so that an asynchronous route still in flight keeps the router alive after
  // keel_router_free (Go's Route returns as soon as its context ends).
  std::shared_ptr<keel::Router> router;
  std::shared_ptr<keel::capi::EventHook> events;
};

namespace {

keel::Router::Options router_options(keel_model* model, keel_embedder* embedder,
                                     const std::shared_ptr<keel::capi::EventHook>& hook) {
  keel::Router::Options options;
  if (model != nullptr) options.model = model->model;
  if (embedder != nullptr) options.embedder = embedder->embedder;
  options.events = keel::capi::event_sink(hook);
  return options;
}

// A request: RouteRequest's JSON plus the run settings "use_llm" and "timeout_ms".
keel::RouteRequest parse_request(const char* request_json) {
  Json json = keel::parse_json(keel::capi::text_arg(request_json, "request_json"), "route request");
  bool use_llm = true;
  std::int64_t timeout_ms = 0;
  if (json.is_object()) {
    if (auto it = json.find("use_llm"); it != json.end()) {
      if (!it->is_boolean()) {
        throw Error(Errc::invalid_argument, "request.use_llm: expected boolean, got " +
                                                std::string(keel::json_type_name(*it)));
      }
      use_llm = it->get<bool>();
      json.erase(it);
    }
    if (auto it = json.find("timeout_ms"); it != json.end()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 1) {
        throw Error(Errc::invalid_argument, "request.timeout_ms: expected a positive integer");
      }
      timeout_ms = it->get<std::int64_t>();
      json.erase(it);
    }
  } else if (!json.is_string()) {
    throw Error(Errc::invalid_argument,
                "request: expected {\"text\": ...} or a JSON string, got " +
                    std::string(keel::json_type_name(json)));
  }
  auto request = as_argument([&] { return keel::RouteRequest::from_json(json, "request"); });
  request.use_llm = use_llm;
  if (timeout_ms > 0) request.deadline = keel::Deadline::after_ms(timeout_ms);
  return request;
}

std::vector<keel::RouteExample> parse_examples(const char* examples_json) {
  Json json = keel::parse_json(keel::capi::text_arg(examples_json, "examples_json"), "examples");
  if (!json.is_array()) {
    throw Error(Errc::invalid_argument, "examples: expected an array, got " +
                                            std::string(keel::json_type_name(json)));
  }
  std::vector<keel::RouteExample> examples;
  examples.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    examples.push_back(as_argument([&] {
      return keel::RouteExample::from_json(json[i], keel::json_path_index("examples", i));
    }));
  }
  return examples;
}

const keel::Router& live(const keel_router* router) {
  keel::capi::require(router, "router");
  return *router->router;
}

keel::Router& live(keel_router* router) {
  keel::capi::require(router, "router");
  return *router->router;
}

char* result_out(const keel::RouteResult& result) {
  return keel::capi::copy_out(keel::dump_json(result.to_json()));
}

}  // namespace

extern "C" {

KEEL_API keel_status keel_router_new(const char* config_json, keel_model* model,
                                     keel_embedder* embedder, keel_router** out,
                                     keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    Json config = keel::parse_json(keel::capi::text_arg(config_json, "config_json"), "routes config");
    auto hook = std::make_shared<keel::capi::EventHook>();
    auto router = std::make_shared<keel::Router>(config, router_options(model, embedder, hook));
    *out = new keel_router{std::move(router), std::move(hook)};
  });
}

KEEL_API void keel_router_free(keel_router* router) { delete router; }

KEEL_API keel_status keel_router_route(const keel_router* router, const char* request_json,
                                       char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    *result_json = result_out(r.route(parse_request(request_json)));
  });
}

KEEL_API keel_status keel_router_route_text(const keel_router* router, const char* text,
                                            size_t len, char** result_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    *result_json = result_out(r.route(bytes_arg(text, len)));
  });
}

KEEL_API keel_status keel_router_route_async(const keel_router* router, const char* request_json,
                                             keel_done_fn done, void* user_data, keel_call** call,
                                             keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(router, "router");
    keel::capi::require(reinterpret_cast<void*>(done), "done");
    if (call) *call = nullptr;
    keel::RouteRequest request = parse_request(request_json);
    auto handle = std::make_unique<keel_call>();
    request.cancel = handle->cancel.token();
    // The completion keeps the router alive; the last reference is dropped from a task posted
    // after `done` returns, never inside the router's own completion path.
    auto keep = std::make_shared<std::shared_ptr<keel::Router>>(router->router);
    router->router->route_async(
        std::move(request), [done, user_data, keep](keel::Result<keel::RouteResult> result) {
          std::string json;
          keel_status status = KEEL_OK;
          try {
            json = result.ok() ? keel::dump_json(result.value().to_json()) : result.error().what();
            if (!result.ok()) status = static_cast<keel_status>(result.error().code());
          } catch (...) {
            keel::Error e = keel::error_from_current_exception();
            status = static_cast<keel_status>(e.code());
            json = e.what();
          }
          done(status, json.c_str(), user_data);
          try {
            keel::Executor::shared().post([router_ref = std::move(*keep)] {});
          } catch (...) {
            // Posting failed (no memory): the reference is released here instead.
          }
        });
    // After the start, so a failure to start hands out nothing (`done` may already have run:
    // the handle stays valid for keel_call_free).
    if (call) *call = handle.release();
  });
}

KEEL_API keel_status keel_router_top_k(const keel_router* router, const char* text, size_t len,
                                       size_t k, const char* metadata_json,
                                       char** candidates_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    keel::capi::require(candidates_json, "candidates_json");
    *candidates_json = nullptr;
    if (k == 0) throw Error(Errc::invalid_argument, "k must be at least 1");
    Json metadata;
    if (metadata_json != nullptr && *metadata_json != '\0') {
      metadata = keel::parse_json(metadata_json, "metadata");
      if (!metadata.is_object() && !metadata.is_null()) {
        throw Error(Errc::invalid_argument, "metadata: expected an object, got " +
                                                std::string(keel::json_type_name(metadata)));
      }
    }
    Json list = Json::array();
    for (const auto& c : r.top_k(bytes_arg(text, len), k, metadata)) {
      list.push_back({{"route", c.route}, {"score", c.score}});
    }
    *candidates_json = keel::capi::copy_out(keel::dump_json(list));
  });
}

KEEL_API keel_status keel_router_fit(keel_router* router, const char* examples_json,
                                     const char* options_json, char** report_json,
                                     keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::Router& r = live(router);
    if (report_json) *report_json = nullptr;
    auto examples = parse_examples(examples_json);
    keel::FitOptions options;
    if (options_json != nullptr && *options_json != '\0') {
      options = keel::FitOptions::from_json(keel::parse_json(options_json, "fit options"));
    }
    keel::FitReport report = r.fit(examples, options);
    if (report_json) *report_json = keel::capi::copy_out(keel::dump_json(report.to_json()));
  });
}

KEEL_API keel_status keel_router_evaluate(const keel_router* router, const char* examples_json,
                                          int use_llm, char** evaluation_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    keel::capi::require(evaluation_json, "evaluation_json");
    *evaluation_json = nullptr;
    auto examples = parse_examples(examples_json);
    auto evaluation = r.evaluate(examples, use_llm != 0);
    *evaluation_json = keel::capi::copy_out(keel::dump_json(evaluation.to_json()));
  });
}

KEEL_API keel_status keel_router_add_route(keel_router* router, const char* route_json,
                                           keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::Router& r = live(router);
    Json json = keel::parse_json(keel::capi::text_arg(route_json, "route_json"), "route");
    r.add_route(keel::Route::from_json(json, "route"));
  });
}

KEEL_API keel_status keel_router_remove_route(keel_router* router, const char* name,
                                              int* removed, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::Router& r = live(router);
    bool gone = r.remove_route(keel::capi::text_arg(name, "name"));
    if (removed) *removed = gone ? 1 : 0;
  });
}

KEEL_API keel_status keel_router_config(const keel_router* router, char** config_json,
                                        keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    keel::capi::require(config_json, "config_json");
    *config_json = nullptr;
    *config_json = keel::capi::copy_out(keel::dump_json(r.config().to_json()));
  });
}

KEEL_API keel_status keel_router_save(const keel_router* router, const char* path,
                                      keel_error** err) {
  return keel::capi::call(err, [&] {
    const keel::Router& r = live(router);
    std::string_view file = keel::capi::text_arg(path, "path");
    if (file.empty()) throw Error(Errc::invalid_argument, "path must not be empty");
    r.save(std::string(file));
  });
}

KEEL_API keel_status keel_router_load(const char* path, keel_model* model,
                                      keel_embedder* embedder, keel_router** out,
                                      keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    std::string_view file = keel::capi::text_arg(path, "path");
    if (file.empty()) throw Error(Errc::invalid_argument, "path must not be empty");
    auto hook = std::make_shared<keel::capi::EventHook>();
    auto router = std::make_shared<keel::Router>(
        keel::Router::load(std::string(file), router_options(model, embedder, hook)));
    *out = new keel_router{std::move(router), std::move(hook)};
  });
}

KEEL_API int keel_router_is_saved(const char* path) {
  if (path == nullptr || *path == '\0') return 0;
  try {
    return keel::Router::is_saved_router(path) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

KEEL_API keel_status keel_router_set_event_callback(keel_router* router, keel_event_fn callback,
                                                    void* user_data, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(router, "router");
    router->events->set(callback, user_data);
  });
}

}  // extern "C"

// The C ABI of models and embedders.
#include <atomic>
#include <future>

#include "boundary.hpp"
#include "handles.hpp"
#include "keel/llm.hpp"

namespace {

using keel::Errc;
using keel::Error;
using keel::Json;

std::string delta_json(const keel::StreamDelta& d) {
  Json out;
  if (d.kind == keel::StreamDelta::Kind::text) {
    out = {{"kind", "text"}, {"text", d.text}};
  } else {
    out = {{"kind", "tool_call"}, {"index", d.index}, {"arguments", d.arguments}};
    if (!d.id.empty()) out["id"] = d.id;
    if (!d.name.empty()) out["name"] = d.name;
  }
  return keel::dump_json(out);
}

// Runs a host callback and turns its reply into JSON or a keel::Error.
template <class Fn>
Json call_host(Fn&& fn, const std::string& input, void* user_data, const char* what) {
  keel_reply reply;
  int rc = fn(input.c_str(), &reply, user_data);
  return keel::capi::reply_value(reply, rc, what, Errc::provider);
}

keel::CallOptions call_options(const char* options_json) {
  keel::CallOptions options;
  if (options_json != nullptr && *options_json != '\0') {
    Json json = keel::parse_json(options_json, "call options");
    keel::ConfigReader r(json, "options");
    options.deadline = keel::capi::deadline_option(r, 24LL * 3600 * 1000);  // one model call
    r.finish();
  }
  return options;
}

}  // namespace

extern "C" {

KEEL_API void keel_reply_set(keel_reply* reply, const char* json) {
  if (reply && json) reply->json = json;
}

KEEL_API void keel_reply_error(keel_reply* reply, keel_status code, const char* message) {
  if (reply) reply->error = std::make_pair(code, std::string(message ? message : "host error"));
}

KEEL_API keel_status keel_model_new(const char* config_json, keel_model** out, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    Json config = keel::parse_json(keel::capi::text_arg(config_json, "config_json"), "model config");
    *out = new keel_model{keel::make_chat_model(config)};
  });
}

KEEL_API keel_status keel_model_new_callback(keel_model_fn fn, void* user_data, keel_model** out,
                                             keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    keel::capi::require(reinterpret_cast<void*>(fn), "fn");
    *out = nullptr;
    auto model = std::make_shared<keel::CallbackModel>([fn, user_data](const keel::ChatRequest& r) {
      return keel::ChatResponse::from_json(
          call_host(fn, keel::dump_json(r.to_json()), user_data, "model"));
    });
    *out = new keel_model{std::move(model)};
  });
}

KEEL_API void keel_model_free(keel_model* model) { delete model; }

KEEL_API keel_status keel_model_chat(keel_model* model, const char* request_json,
                                     const char* options_json, keel_delta_fn on_delta,
                                     void* user_data, char** response_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(model, "model");
    keel::capi::require(response_json, "response_json");
    *response_json = nullptr;
    auto request = keel::ChatRequest::from_json(
        keel::parse_json(keel::capi::text_arg(request_json, "request_json"), "request"));
    keel::CallOptions options = call_options(options_json);
    if (on_delta) {
      options.on_delta = [on_delta, user_data](const keel::StreamDelta& d) {
        on_delta(delta_json(d).c_str(), user_data);
      };
    }
    auto response = model->model->chat(std::move(request), std::move(options));
    *response_json = keel::capi::copy_out(keel::dump_json(response.to_json()));
  });
}

KEEL_API keel_status keel_model_chat_async(keel_model* model, const char* request_json,
                                           const char* options_json, keel_delta_fn on_delta,
                                           keel_done_fn done, void* user_data, keel_call** call,
                                           keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(model, "model");
    keel::capi::require(reinterpret_cast<void*>(done), "done");
    if (call) *call = nullptr;
    auto request = keel::ChatRequest::from_json(
        keel::parse_json(keel::capi::text_arg(request_json, "request_json"), "request"));
    keel::CallOptions options = call_options(options_json);
    auto handle = std::make_unique<keel_call>();
    options.cancel = handle->cancel.token();
    if (on_delta) {
      options.on_delta = [on_delta, user_data](const keel::StreamDelta& d) {
        on_delta(delta_json(d).c_str(), user_data);
      };
    }
    model->model->chat_async(std::move(request), std::move(options),
                             [done, user_data](keel::Result<keel::ChatResponse> result) {
                               if (result.ok()) {
                                 std::string json = keel::dump_json(result.value().to_json());
                                 done(KEEL_OK, json.c_str(), user_data);
                               } else {
                                 done(static_cast<keel_status>(result.error().code()),
                                      result.error().what(), user_data);
                               }
                             });
    if (call) *call = handle.release();
  });
}

KEEL_API void keel_call_cancel(keel_call* call) {
  if (call) call->cancel.cancel();
}

KEEL_API void keel_call_free(keel_call* call) { delete call; }

KEEL_API keel_status keel_embedder_new(const char* config_json, keel_embedder** out,
                                       keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    Json config = Json{{"provider", "hashing"}};
    if (config_json != nullptr && *config_json != '\0') {
      config = keel::parse_json(config_json, "embedder config");
    }
    *out = new keel_embedder{keel::make_embedder(config)};
  });
}

KEEL_API keel_status keel_embedder_new_callback(size_t dimension, keel_embed_fn fn,
                                                void* user_data, keel_embedder** out,
                                                keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    keel::capi::require(reinterpret_cast<void*>(fn), "fn");
    *out = nullptr;
    auto embedder = std::make_shared<keel::CallbackEmbedder>(
        dimension, [fn, user_data](const std::vector<std::string>& texts) {
          Json answer = call_host(fn, keel::dump_json(Json(texts)), user_data, "embedder");
          if (!answer.is_array()) throw Error(Errc::provider, "embedder callback: expected an array of vectors");
          std::vector<std::vector<float>> vectors;
          for (const auto& v : answer) {
            if (!v.is_array()) throw Error(Errc::provider, "embedder callback: expected an array of vectors");
            std::vector<float> vector;
            vector.reserve(v.size());
            for (const auto& x : v) {
              if (!x.is_number()) throw Error(Errc::provider, "embedder callback: a value is not a number");
              vector.push_back(x.get<float>());
            }
            vectors.push_back(std::move(vector));
          }
          return vectors;
        });
    *out = new keel_embedder{std::move(embedder)};
  });
}

KEEL_API void keel_embedder_free(keel_embedder* embedder) { delete embedder; }

KEEL_API size_t keel_embedder_dimension(const keel_embedder* embedder) {
  return embedder ? embedder->embedder->dimension() : 0;
}

KEEL_API keel_status keel_embedder_embed(const keel_embedder* embedder, const char* texts_json,
                                         char** vectors_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(embedder, "embedder");
    keel::capi::require(vectors_json, "vectors_json");
    *vectors_json = nullptr;
    Json texts = keel::parse_json(keel::capi::text_arg(texts_json, "texts_json"), "texts");
    if (!texts.is_array()) throw Error(Errc::invalid_argument, "texts_json: expected an array of strings");
    std::vector<std::string> list;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (!texts[i].is_string()) {
        throw Error(Errc::invalid_argument, "texts_json[" + std::to_string(i) + "]: expected string");
      }
      list.push_back(texts[i].get<std::string>());
    }
    auto vectors = embedder->embedder->embed_batch(list);
    *vectors_json = keel::capi::copy_out(keel::dump_json(Json(vectors)));
  });
}

KEEL_API keel_status keel_embedder_embed_one(const keel_embedder* embedder, const char* text,
                                             size_t len, float* out, size_t capacity,
                                             keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(embedder, "embedder");
    keel::capi::require(out, "out");
    if (text == nullptr && len != 0) throw Error(Errc::invalid_argument, "text must not be NULL");
    std::string_view view = text ? std::string_view(text, len) : std::string_view();
    if (auto* hashing = dynamic_cast<const keel::HashingEmbedder*>(embedder->embedder.get())) {
      if (capacity < hashing->dimension()) {
        throw Error(Errc::invalid_argument, "capacity " + std::to_string(capacity) +
                                                " is below the dimension " +
                                                std::to_string(hashing->dimension()));
      }
      hashing->embed_into(view, out);
      return;
    }
    auto vector = embedder->embedder->embed(view);
    if (capacity < vector.size()) {
      throw Error(Errc::invalid_argument, "capacity " + std::to_string(capacity) +
                                              " is below the dimension " + std::to_string(vector.size()));
    }
    std::copy(vector.begin(), vector.end(), out);
  });
}

}  // extern "C"

// ScriptedModel: a test double that replays responses and records requests.
#include <deque>
#include <mutex>
#include <variant>

#include <optional>

#include "keel/llm.hpp"

namespace keel {

namespace {

Errc errc_from_name(const std::string& name, const std::string& path) {
  static const std::pair<const char*, Errc> codes[] = {
      {"invalid_argument", Errc::invalid_argument}, {"invalid_config", Errc::invalid_config},
      {"not_found", Errc::not_found},               {"io", Errc::io},
      {"timeout", Errc::timeout},                   {"cancelled", Errc::cancelled},
      {"unavailable", Errc::unavailable},           {"provider", Errc::provider},
      {"tool", Errc::tool},                         {"parse", Errc::parse},
      {"limit_exceeded", Errc::limit_exceeded},     {"internal", Errc::internal}};
  for (auto& [n, c] : codes) {
    if (name == n) return c;
  }
  throw_config_error(path, "unknown error code \"" + name + "\"");
}

// One scripted entry: a response or an error.
using Entry = std::variant<ChatResponse, Error>;

Entry parse_entry(const Json& json, const std::string& path) {
  if (!json.is_object()) throw_config_error(path, "expected object");
  if (json.contains("message")) {
    try {
      return ChatResponse::from_json(json);
    } catch (const Error& e) {
      throw_config_error(path, e.what());
    }
  }
  ConfigReader r(json, path);
  if (auto error = r.optional_object("error")) {
    ErrorDetails details;
    Errc code = errc_from_name(error->optional<std::string>("code", "provider"), error->path_of("code"));
    std::string message = error->optional<std::string>("message", "scripted error");
    details.http_status = static_cast<int>(error->integer("http_status", 0, 0, 999));
    details.retry_after_ms = error->integer("retry_after_ms", -1, -1, 86400000);
    if (auto retryable = error->maybe<bool>("retryable")) details.retryable = *retryable ? 1 : 0;
    error->finish();
    r.finish();
    return Error(code, message, details);
  }
  ChatResponse response;
  response.message.role = Message::Role::assistant;
  response.message.content = r.optional<std::string>("content", "");
  if (const Json* calls = r.raw("tool_calls")) {
    if (!calls->is_array()) throw_config_error(r.path_of("tool_calls"), "expected array");
    for (std::size_t i = 0; i < calls->size(); ++i) {
      std::string call_path = json_path_index(r.path_of("tool_calls"), i);
      ToolCall call = ToolCall::from_json((*calls)[i], call_path);
      if (call.id.empty()) call.id = "call_" + std::to_string(i + 1);
      response.message.tool_calls.push_back(std::move(call));
    }
  }
  response.finish_reason = r.optional<std::string>(
      "finish_reason", response.message.tool_calls.empty() ? "stop" : "tool_calls");
  if (const Json* usage = r.raw("usage")) response.usage = Usage::from_json(*usage);
  response.model = r.optional<std::string>("model", "scripted");
  r.finish();
  return response;
}

}  // namespace

struct ScriptedModel::State {
  std::mutex mutex;
  std::deque<Entry> entries;
  std::vector<ChatRequest> requests;
  std::chrono::milliseconds delay{0};
};

ScriptedModel::ScriptedModel(std::vector<Json> responses, Executor& executor,
                             std::chrono::milliseconds delay)
    : state_(std::make_shared<State>()), executor_(executor) {
  state_->delay = delay;
  for (std::size_t i = 0; i < responses.size(); ++i) {
    state_->entries.push_back(parse_entry(responses[i], json_path_index("responses", i)));
  }
}

std::shared_ptr<ScriptedModel> ScriptedModel::from_json(const Json& json, Executor& executor) {
  ConfigReader r(json, "model");
  (void)r.choice("provider", "scripted", {"scripted"});
  const Json* responses = r.raw("responses");
  if (!responses) throw_config_error(r.path_of("responses"), "required");
  if (!responses->is_array()) throw_config_error(r.path_of("responses"), "expected array");
  auto delay = std::chrono::milliseconds(r.integer("delay_ms", 0, 0, 3600000));
  (void)r.optional<std::string>("model", "");
  r.finish();
  std::vector<Json> list(responses->begin(), responses->end());
  return std::make_shared<ScriptedModel>(std::move(list), executor, delay);
}

void ScriptedModel::chat_async(ChatRequest request, CallOptions options,
                               Callback<ChatResponse> done) {
  std::optional<Entry> entry;
  {
    std::lock_guard lock(state_->mutex);
    state_->requests.push_back(request);
    if (!state_->entries.empty()) {
      entry = std::move(state_->entries.front());
      state_->entries.pop_front();
    }
  }
  auto deliver = [entry = std::move(entry), options, done = std::move(done)](bool fired) mutable {
    if (!fired || options.cancel.cancelled()) {
      done(Error(Errc::cancelled, "scripted call cancelled"));
      return;
    }
    if (!entry) {
      done(Error(Errc::provider, "scripted model: no more responses (the script is exhausted)"));
      return;
    }
    if (auto* error = std::get_if<Error>(&*entry)) {
      done(*error);
      return;
    }
    ChatResponse response = std::get<ChatResponse>(std::move(*entry));
    if (options.on_delta) {
      // Stream the text word by word, then each tool call in one piece.
      const std::string& text = response.message.content;
      std::size_t at = 0;
      while (at < text.size()) {
        std::size_t next = text.find(' ', at + 1);
        if (next == std::string::npos) next = text.size();
        StreamDelta d;
        d.text = text.substr(at, next - at);
        options.on_delta(d);
        at = next;
      }
      for (std::size_t i = 0; i < response.message.tool_calls.size(); ++i) {
        const ToolCall& c = response.message.tool_calls[i];
        StreamDelta d;
        d.kind = StreamDelta::Kind::tool_call;
        d.index = static_cast<int>(i);
        d.id = c.id;
        d.name = c.name;
        d.arguments = c.arguments_valid ? dump_json(c.arguments) : c.arguments_text;
        options.on_delta(d);
      }
    }
    done(std::move(response));
  };
  if (state_->delay.count() > 0) {
    // Cancelling cancels the wait; the registration lives until the callback has run.
    struct Guard {
      std::mutex mutex;
      CancellationToken::Registration registration;
      bool finished = false;
    };
    auto guard = std::make_shared<Guard>();
    auto timer = executor_.after(state_->delay, [guard, deliver = std::move(deliver)](bool fired) mutable {
      {
        std::lock_guard lock(guard->mutex);
        guard->finished = true;
        guard->registration.reset();
      }
      deliver(fired);
    });
    if (options.cancel.can_be_cancelled()) {
      auto registration = options.cancel.on_cancel([timer]() mutable { timer.cancel(); });
      std::lock_guard lock(guard->mutex);
      if (!guard->finished) guard->registration = std::move(registration);
    }
  } else {
    executor_.post([deliver = std::move(deliver)]() mutable { deliver(true); });
  }
}

std::vector<ChatRequest> ScriptedModel::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->requests;
}

std::size_t ScriptedModel::remaining() const {
  std::lock_guard lock(state_->mutex);
  return state_->entries.size();
}

CallbackModel::CallbackModel(Function function, Executor& executor)
    : function_(std::make_shared<Function>(std::move(function))), executor_(executor) {}

void CallbackModel::chat_async(ChatRequest request, CallOptions options,
                               Callback<ChatResponse> done) {
  // The host's function may block: it runs on the blocking pool, never on the event loop, and
  // a cancellation or the deadline completes the call without waiting for it.
  struct Call {
    std::atomic<bool> finished{false};
    Callback<ChatResponse> done;
    Timer timer;
    CancellationToken::Registration registration;
    std::mutex mutex;
  };
  auto call = std::make_shared<Call>();
  call->done = std::move(done);
  auto complete = [call](Result<ChatResponse> result) {
    if (call->finished.exchange(true)) return;
    Timer timer;
    CancellationToken::Registration registration;
    {
      std::lock_guard lock(call->mutex);
      timer = call->timer;
      registration = std::move(call->registration);
    }
    timer.cancel();
    registration.reset();
    call->done(std::move(result));
  };
  if (options.cancel.cancelled()) {
    executor_.post([complete] { complete(Error(Errc::cancelled, "call cancelled")); });
    return;
  }
  auto result = std::make_shared<std::optional<Result<ChatResponse>>>();
  executor_.post_blocking(
      [function = function_, request = std::move(request), result] {
        *result = capture([&] { return (*function)(request); });
      },
      [complete, result] { complete(std::move(**result)); });
  Timer timer;
  if (options.deadline.is_set()) {
    timer = executor_.at(options.deadline, [complete](bool fired) {
      if (fired) complete(Error(Errc::timeout, "the model callback did not answer before the deadline"));
    });
  }
  Executor* executor = &executor_;
  auto registration = options.cancel.on_cancel([complete, executor] {
    executor->post([complete] { complete(Error(Errc::cancelled, "call cancelled")); });
  });
  std::unique_lock lock(call->mutex);
  if (call->finished) {  // answered already: nothing left to watch
    lock.unlock();
    timer.cancel();
    return;
  }
  call->timer = timer;
  call->registration = std::move(registration);
}

CallbackEmbedder::CallbackEmbedder(std::size_t dimension, Function function, Executor& executor)
    : dimension_(dimension), function_(std::make_shared<Function>(std::move(function))),
      executor_(executor) {
  if (dimension == 0) throw Error(Errc::invalid_argument, "embedder dimension must be positive");
}

void CallbackEmbedder::embed_batch_async(std::vector<std::string> texts, CallOptions options,
                                         Callback<std::vector<std::vector<float>>> done) const {
  if (options.cancel.cancelled()) {
    executor_.post([done = std::move(done)] { done(Error(Errc::cancelled, "embedding cancelled")); });
    return;
  }
  // The host's function may block: the blocking pool runs it, not the event loop.
  auto result = std::make_shared<std::optional<Result<std::vector<std::vector<float>>>>>();
  executor_.post_blocking(
      [this, texts = std::move(texts), result] { *result = capture([&] { return embed_batch(texts); }); },
      [done = std::move(done), result] { done(std::move(**result)); });
}

std::vector<std::vector<float>> CallbackEmbedder::embed_batch(const std::vector<std::string>& texts,
                                                              const CallOptions&) const {
  auto vectors = (*function_)(texts);
  if (vectors.size() != texts.size()) {
    throw Error(Errc::provider, "embedder callback returned " + std::to_string(vectors.size()) +
                                    " vectors for " + std::to_string(texts.size()) + " texts");
  }
  for (const auto& v : vectors) {
    if (v.size() != dimension_) {
      throw Error(Errc::provider, "embedder callback returned a vector of " +
                                      std::to_string(v.size()) + " floats, expected " +
                                      std::to_string(dimension_));
    }
  }
  return vectors;
}

}  // namespace keel

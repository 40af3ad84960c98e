#include <ctime>

#include "llm/providers.hpp"

namespace keel::llm {

ProviderModel::ProviderModel(ProviderConfig config, Executor& executor)
    : config_(std::move(config)), executor_(executor) {}

std::string ProviderModel::scrub(std::string text) const {
  if (config_.api_key.size() >= 4) {
    for (auto at = text.find(config_.api_key); at != std::string::npos;
         at = text.find(config_.api_key, at)) {
      text.replace(at, config_.api_key.size(), "***");
    }
  }
  return text;
}

long long retry_after_ms(const HttpResponse& response) {
  std::string ms = response.header("retry-after-ms");
  if (!ms.empty()) {
    char* end = nullptr;
    double value = std::strtod(ms.c_str(), &end);
    if (end != ms.c_str() && value >= 0) return static_cast<long long>(value);
  }
  std::string value = response.header("retry-after");
  if (value.empty()) return -1;
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0' && seconds >= 0) {
    return static_cast<long long>(seconds * 1000.0);
  }
  // An HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    long long at = static_cast<long long>(timegm(&tm));
    long long now = static_cast<long long>(std::time(nullptr));
    return at > now ? (at - now) * 1000 : 0;
  }
  return -1;
}

Json parse_body(const HttpResponse& response, const std::string& host) {
  std::string type = response.header("content-type");
  try {
    return parse_json(response.body, "response from " + host);
  } catch (const Error& e) {
    ErrorDetails details;
    details.http_status = response.status;
    details.retryable = 0;
    if (!type.empty() && type.find("json") == std::string::npos) {
      throw Error(Errc::provider,
                  host + " answered with " + type + " instead of JSON (is base_url right?)",
                  details);
    }
    throw Error(Errc::parse, e.what(), details);
  }
}

Error ProviderModel::error_from_response(const HttpResponse& response) const {
  std::string host = url_host(config_.base_url);
  ErrorDetails details;
  details.http_status = response.status;
  details.retry_after_ms = retry_after_ms(response);
  std::string message;
  try {
    Json body = parse_json(response.body, "error body");
    const Json* error = body.contains("error") ? &body["error"] : nullptr;
    if (error && error->is_object()) {
      if (error->contains("type") && (*error)["type"].is_string()) {
        details.provider_type = (*error)["type"].get<std::string>();
      }
      if (error->contains("message") && (*error)["message"].is_string()) {
        message = (*error)["message"].get<std::string>();
      }
    } else if (error && error->is_string()) {
      message = error->get<std::string>();  // some OpenAI-compatible servers
    }
  } catch (...) {
    // Not JSON (an HTML error page from a proxy, say): quote a little of it.
    message = response.body.substr(0, 200);
  }
  if (message.empty()) message = "no error message";
  std::string text = config_.provider + ": HTTP " + std::to_string(response.status);
  if (!details.provider_type.empty()) text += " " + details.provider_type;
  text += " from " + host + ": " + scrub(message);
  int s = response.status;
  details.retryable = (s == 408 || s == 409 || s == 429 || s >= 500) ? 1 : 0;
  return Error(Errc::provider, text, details);
}

void ProviderModel::chat_async(ChatRequest request, CallOptions options,
                               Callback<ChatResponse> done) {
  struct Call {
    std::unique_ptr<StreamAccumulator> stream;
    std::unique_ptr<SseParser> parser;
    std::optional<Error> stream_error;
    std::function<void(const StreamDelta&)> on_delta;
    // Some OpenAI-compatible servers ignore "stream": they answer with one JSON body. Until an
    // event arrives the bytes are kept (up to a limit) so that body can be read as an answer.
    bool saw_event = false;
    std::string unstreamed;
  };
  auto call = std::make_shared<Call>();
  const bool streaming = static_cast<bool>(options.on_delta);
  HttpRequest http;
  try {
    http.url = config_.base_url + config_.path;
    http.body = dump_json(build_body(request, streaming));
  } catch (...) {
    executor_.post([done, e = error_from_current_exception()] { done(e); });
    return;
  }
  http.headers = auth_headers();
  http.headers.push_back("Content-Type: application/json");
  http.headers.push_back(streaming ? "Accept: text/event-stream" : "Accept: application/json");
  for (const auto& [name, value] : config_.headers) http.headers.push_back(name + ": " + value);
  http.connect_timeout = config_.connect_timeout;
  http.timeout = config_.timeout;
  if (options.deadline.is_set()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(options.deadline.remaining());
    if (left.count() <= 0) {
      executor_.post([done] { done(Error(Errc::timeout, "deadline passed before the call")); });
      return;
    }
    if (http.timeout.count() == 0 || left < http.timeout) http.timeout = left;
  }

  BodyHandler on_body;
  if (streaming) {
    call->stream = make_stream();
    call->on_delta = std::move(options.on_delta);
    // The parser belongs to the call, so its handler holds a plain pointer: capturing the
    // shared_ptr would make a cycle and leak every streamed call.
    Call* raw = call.get();
    call->parser = std::make_unique<SseParser>([raw](const SseEvent& event) {
      if (!raw->saw_event) {
        raw->saw_event = true;
        std::string().swap(raw->unstreamed);
      }
      if (auto error = raw->stream->on_event(event, raw->on_delta)) {
        raw->stream_error = std::move(error);
        return false;
      }
      return true;
    });
    on_body = [call](std::string_view chunk) {
      if (!call->saw_event && call->unstreamed.size() + chunk.size() <= (8u << 20)) call->unstreamed.append(chunk);
      if (call->parser->feed(chunk)) return true;
      if (call->parser->overflowed()) {
        call->stream_error = Error(Errc::limit_exceeded, "a streamed event exceeded 8 MiB");
      }
      return false;
    };
  }

  std::string host = url_host(config_.base_url);
  // The call keeps its model alive until it completes (models are always shared-owned).
  auto self = shared_from_this();
  http_send(executor_, std::move(http), std::move(on_body), options.cancel,
            [this, self, call, streaming, host, done = std::move(done)](Result<HttpResponse> result) {
              if (!result.ok()) {
                done(Error(result.error().code(), scrub(result.error().what()),
                           result.error().details()));
                return;
              }
              const HttpResponse& response = result.value();
              if (response.status < 200 || response.status >= 300) {
                done(error_from_response(response));
                return;
              }
              if (!streaming) {
                done(capture([&] { return parse_response(parse_body(response, host)); }));
                return;
              }
              if (call->stream_error) {
                done(std::move(*call->stream_error));
                return;
              }
              call->parser->finish();
              if (call->stream_error) {
                done(std::move(*call->stream_error));
                return;
              }
              if (!call->saw_event && !call->unstreamed.empty()) {
                // No event at all: a server that answered in one JSON body after all.
                Json body = Json::parse(call->unstreamed, nullptr, false);
                if (body.is_object()) {
                  auto answer = capture([&] { return parse_response(body); });
                  if (answer.ok() && !answer.value().message.content.empty() && call->on_delta) {
                    StreamDelta whole;
                    whole.kind = StreamDelta::Kind::text;
                    whole.text = answer.value().message.content;
                    call->on_delta(whole);
                  }
                  done(std::move(answer));
                  return;
                }
              }
              done(call->stream->finish());
            });
}

}  // namespace keel::llm

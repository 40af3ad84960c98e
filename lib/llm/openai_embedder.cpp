// OpenAI-compatible embeddings: batching, a dimension check, and the same resilience as chat.
#include <atomic>
#include <mutex>

#include "keel/resilience.hpp"
#include "llm/providers.hpp"

namespace keel::llm {

namespace {

class OpenAIEmbedder final : public Embedder, public std::enable_shared_from_this<OpenAIEmbedder> {
 public:
  OpenAIEmbedder(ProviderConfig config, std::size_t dimension, std::size_t batch_size,
                 bool send_dimensions, ResilienceConfig resilience, Executor& executor,
                 EventSink events)
      : config_(std::move(config)),
        dimension_(dimension),
        batch_size_(batch_size),
        send_dimensions_(send_dimensions),
        resilience_(std::move(resilience)),
        executor_(executor),
        events_(std::move(events)),
        budget_(std::make_shared<RetryBudget>()) {
    if (resilience_.circuit_breaker) {
      breaker_ = std::make_shared<CircuitBreaker>(*resilience_.circuit_breaker,
                                                  "embeddings/" + config_.model);
      breaker_->set_event_sink(events_);
    }
  }

  std::size_t dimension() const noexcept override { return dimension_.load(); }
  std::string_view provider() const noexcept override { return "openai"; }
  Executor& executor() const noexcept override { return executor_; }

  std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& texts,
                                              const CallOptions& options) const override {
    if (executor_.running_in_this_thread()) {
      throw Error(Errc::invalid_argument,
                  "embed_batch() called from one of the executor's threads would wait on "
                  "itself; use embed_batch_async() there");
    }
    std::promise<Result<std::vector<std::vector<float>>>> promise;
    auto future = promise.get_future();
    embed_batch_async(texts, options, [&promise](Result<std::vector<std::vector<float>>> r) {
      promise.set_value(std::move(r));
    });
    return future.get().value();
  }

  void embed_batch_async(std::vector<std::string> texts, CallOptions options,
                         Callback<std::vector<std::vector<float>>> done) const override {
    struct Gather {
      std::mutex mutex;
      std::vector<std::vector<float>> vectors;
      std::size_t pending = 0;
      std::optional<Error> error;
      Callback<std::vector<std::vector<float>>> done;
    };
    auto gather = std::make_shared<Gather>();
    gather->vectors.resize(texts.size());
    gather->done = std::move(done);
    if (texts.empty()) {
      executor_.post([gather] { gather->done(std::vector<std::vector<float>>{}); });
      return;
    }
    auto self = shared_from_this();
    std::size_t batches = (texts.size() + batch_size_ - 1) / batch_size_;
    gather->pending = batches;
    for (std::size_t b = 0; b < batches; ++b) {
      std::size_t first = b * batch_size_;
      std::size_t last = std::min(texts.size(), first + batch_size_);
      auto batch = std::make_shared<std::vector<std::string>>(texts.begin() + static_cast<long>(first),
                                                              texts.begin() + static_cast<long>(last));
      Attempt<std::vector<std::vector<float>>> attempt =
          [self, batch](const CancellationToken& cancel,
                        Callback<std::vector<std::vector<float>>> finish) { self->send(*batch, cancel, std::move(finish)); };
      run_resilient<std::vector<std::vector<float>>>(
          executor_, resilience_, breaker_.get(), budget_.get(), options.deadline, options.cancel,
          std::move(attempt),
          [gather, first](Result<std::vector<std::vector<float>>> r) {
            std::unique_lock lock(gather->mutex);
            if (r.ok()) {
              auto& vectors = r.value();
              for (std::size_t i = 0; i < vectors.size(); ++i) {
                gather->vectors[first + i] = std::move(vectors[i]);
              }
            } else if (!gather->error) {
              gather->error = r.error();
            }
            if (--gather->pending > 0) return;
            lock.unlock();
            if (gather->error) gather->done(*gather->error);
            else gather->done(std::move(gather->vectors));
          },
          events_);
    }
  }

 private:
  void send(const std::vector<std::string>& batch, const CancellationToken& cancel,
            Callback<std::vector<std::vector<float>>> finish) const {
    HttpRequest http;
    http.url = config_.base_url + config_.path;
    Json body = {{"model", config_.model}, {"input", batch}, {"encoding_format", "float"}};
    if (send_dimensions_ && dimension_.load() > 0) body["dimensions"] = dimension_.load();
    http.body = dump_json(body);
    if (!config_.api_key.empty()) http.headers.push_back("Authorization: Bearer " + config_.api_key);
    http.headers.push_back("Content-Type: application/json");
    for (const auto& [name, value] : config_.headers) http.headers.push_back(name + ": " + value);
    http.connect_timeout = config_.connect_timeout;
    http.timeout = resilience_.timeout;
    auto self = shared_from_this();
    std::size_t expected = batch.size();
    http_send(executor_, std::move(http), nullptr, cancel,
              [self, expected, finish = std::move(finish)](Result<HttpResponse> result) {
                if (!result.ok()) {
                  finish(result.error());
                  return;
                }
                finish(capture([&] { return self->parse(result.value(), expected); }));
              });
  }

  std::vector<std::vector<float>> parse(const HttpResponse& response, std::size_t expected) const {
    std::string host = url_host(config_.base_url);
    if (response.status < 200 || response.status >= 300) {
      ErrorDetails details;
      details.http_status = response.status;
      details.retry_after_ms = retry_after_ms(response);
      int s = response.status;
      details.retryable = (s == 408 || s == 409 || s == 429 || s >= 500) ? 1 : 0;
      std::string message = response.body.substr(0, 300);
      try {
        Json error = parse_json(response.body, "error body");
        if (error.contains("error") && error["error"].is_object()) {
          message = error["error"].value("message", message);
          details.provider_type = error["error"].value("type", std::string());
        }
      } catch (...) {
      }
      throw Error(Errc::provider, "embeddings: HTTP " + std::to_string(s) + " from " + host + ": " + message,
                  details);
    }
    Json body = parse_body(response, host);
    if (!body.contains("data") || !body["data"].is_array()) {
      throw Error(Errc::parse, "embeddings response from " + host + " has no data array");
    }
    const Json& data = body["data"];
    if (data.size() != expected) {
      throw Error(Errc::provider, "embeddings: asked for " + std::to_string(expected) +
                                      " vectors, " + host + " returned " + std::to_string(data.size()));
    }
    std::vector<std::vector<float>> out(expected);
    for (std::size_t i = 0; i < data.size(); ++i) {
      const Json& item = data[i];
      std::size_t index = item.contains("index") && item["index"].is_number_unsigned()
                              ? item["index"].get<std::size_t>()
                              : i;
      if (index >= expected || !item.contains("embedding") || !item["embedding"].is_array()) {
        throw Error(Errc::parse, "embeddings response from " + host + ": bad data[" + std::to_string(i) + "]");
      }
      auto& vector = out[index];
      vector.reserve(item["embedding"].size());
      for (const auto& x : item["embedding"]) {
        if (!x.is_number()) throw Error(Errc::parse, "embeddings response: a value is not a number");
        vector.push_back(x.get<float>());
      }
      std::size_t want = dimension_.load();
      if (want == 0) {
        std::size_t zero = 0;
        dimension_.compare_exchange_strong(zero, vector.size());  // learnt from the first answer
        want = dimension_.load();
      }
      if (vector.size() != want) {
        throw Error(Errc::provider, "embeddings from " + host + " have " + std::to_string(vector.size()) +
                                        " dimensions, expected " + std::to_string(want));
      }
    }
    return out;
  }

  ProviderConfig config_;
  mutable std::atomic<std::size_t> dimension_;
  std::size_t batch_size_;
  bool send_dimensions_;
  ResilienceConfig resilience_;
  Executor& executor_;
  EventSink events_;
  std::shared_ptr<RetryBudget> budget_;
  std::shared_ptr<CircuitBreaker> breaker_;
};

}  // namespace

std::shared_ptr<Embedder> make_openai_embedder(ProviderConfig config, std::size_t dimension,
                                               std::size_t batch_size, bool send_dimensions,
                                               ResilienceConfig resilience, Executor& executor,
                                               EventSink events) {
  return std::make_shared<OpenAIEmbedder>(std::move(config), dimension, batch_size, send_dimensions,
                                          std::move(resilience), executor, std::move(events));
}

}  // namespace keel::llm

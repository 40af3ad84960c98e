// Resilience around chat models: retries, per-attempt timeouts and a circuit breaker
// (ResilientModel), and a chain of models tried in turn (FallbackModel).
#include "llm/resilient_model.hpp"

#include <atomic>

namespace keel::llm {

ResilientModel::ResilientModel(std::shared_ptr<ChatModel> inner, ResilienceConfig config,
                               std::string name, EventSink events)
    : inner_(std::move(inner)),
      config_(std::move(config)),
      budget_(std::make_shared<RetryBudget>()),
      name_(std::move(name)),
      events_(std::move(events)) {
  if (config_.circuit_breaker) {
    breaker_ = std::make_shared<CircuitBreaker>(*config_.circuit_breaker, name_);
    breaker_->set_event_sink(events_);
  }
}

void ResilientModel::chat_async(ChatRequest request, CallOptions options,
                                Callback<ChatResponse> done) {
  // Once a streamed piece reached the caller, a retry would repeat it: from then on failures
  // are final.
  auto delivered = std::make_shared<std::atomic<bool>>(false);
  std::function<void(const StreamDelta&)> on_delta;
  if (options.on_delta) {
    on_delta = [delivered, forward = options.on_delta](const StreamDelta& d) {
      delivered->store(true);
      forward(d);
    };
  }
  auto shared_request = std::make_shared<ChatRequest>(std::move(request));
  auto start = std::chrono::steady_clock::now();
  Attempt<ChatResponse> attempt = [inner = inner_, shared_request, on_delta, delivered,
                                   deadline = options.deadline](const CancellationToken& cancel,
                                                                Callback<ChatResponse> finish) {
    CallOptions o;
    o.cancel = cancel;
    o.deadline = deadline;
    o.on_delta = on_delta;
    inner->chat_async(*shared_request, std::move(o),
                      [delivered, finish = std::move(finish)](Result<ChatResponse> r) {
                        if (!r.ok() && delivered->load()) {
                          ErrorDetails details = r.error().details();
                          details.retryable = 0;
                          finish(Error(r.error().code(), r.error().what(), details));
                          return;
                        }
                        finish(std::move(r));
                      });
  };
  auto report = [events = events_, name = name_, provider = std::string(inner_->provider()), start,
                 done = std::move(done)](Result<ChatResponse> result) {
    if (events) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
      Json event = make_event("model.call", us);
      event["model"] = name;
      event["provider"] = provider;
      event["ok"] = result.ok();
      if (result.ok()) {
        event["usage"] = result.value().usage.to_json();
        event["finish_reason"] = result.value().finish_reason;
      } else {
        event["error"] = to_string(result.error().code());
        event["message"] = result.error().what();
      }
      emit(events, event);
    }
    done(std::move(result));
  };
  run_resilient<ChatResponse>(inner_->executor(), config_, breaker_.get(), budget_.get(),
                              options.deadline, options.cancel, std::move(attempt),
                              std::move(report), events_);
}

FallbackModel::FallbackModel(std::vector<std::shared_ptr<ChatModel>> chain)
    : chain_(std::move(chain)) {
  if (chain_.empty()) throw Error(Errc::invalid_argument, "a fallback chain needs a model");
}

void FallbackModel::chat_async(ChatRequest request, CallOptions options,
                               Callback<ChatResponse> done) {
  struct State {
    std::vector<std::shared_ptr<ChatModel>> chain;
    ChatRequest request;
    CallOptions options;
    Callback<ChatResponse> done;
    std::atomic<bool> delivered{false};
    std::string failures;
  };
  auto state = std::make_shared<State>();
  state->chain = chain_;
  state->request = std::move(request);
  state->options = std::move(options);
  state->done = std::move(done);
  if (state->options.on_delta) {
    state->options.on_delta = [state_weak = std::weak_ptr<State>(state),
                               forward = state->options.on_delta](const StreamDelta& d) {
      if (auto s = state_weak.lock()) s->delivered.store(true);
      forward(d);
    };
  }
  auto next = std::make_shared<std::function<void(std::size_t)>>();
  *next = [state, next](std::size_t index) {
    state->chain[index]->chat_async(
        state->request, state->options, [state, next, index](Result<ChatResponse> result) {
          bool last = index + 1 == state->chain.size();
          if (result.ok() || last || state->delivered.load() ||
              result.error().code() == Errc::cancelled ||
              result.error().code() == Errc::invalid_argument) {
            if (!result.ok() && !state->failures.empty()) {
              const Error& e = result.error();
              state->failures += std::string("; ") + e.what();
              state->done(Error(e.code(), "every model in the fallback chain failed: " + state->failures,
                                e.details()));
            } else {
              state->done(std::move(result));
            }
            *next = nullptr;  // break the cycle
            return;
          }
          if (!state->failures.empty()) state->failures += "; ";
          state->failures += result.error().what();
          (*next)(index + 1);
        });
  };
  (*next)(0);
}

}  // namespace keel::llm

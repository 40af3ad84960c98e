// Models: client overhead per request (build the request JSON, parse a 2 KB response, no
// network) and real async — 1,000 concurrent chat requests against a local endpoint (the
// keel_test_endpoint test double, in its own process) that answers after 1 s, with the wall
// time, the threads this process used and its peak resident memory.
//   build/bin/bench_llm [--concurrent N] [--delay-ms D]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <future>
#include <thread>

#include "bench.hpp"
#include "keel/llm.hpp"
#include "llm/providers.hpp"

using namespace keel;
using namespace keel::bench;

namespace {

ChatRequest typical_request() {
  ChatRequest r;
  r.messages.push_back(Message::system("You are a support assistant for Acme. Answer briefly and cite the order id."));
  r.messages.push_back(Message::user("My order 4411 arrived damaged, can I get a refund or a replacement?"));
  ToolSpec lookup;
  lookup.name = "lookup_order";
  lookup.description = "Find an order by id";
  lookup.parameters = {{"type", "object"},
                       {"properties", {{"order_id", {{"type", "string"}}}}},
                       {"required", {"order_id"}}};
  r.tools.push_back(lookup);
  r.temperature = 0.2;
  return r;
}

std::string response_2kb() {
  std::string text;
  while (text.size() < 1700) {
    text += "Thanks for reaching out about order 4411. I'm sorry it arrived damaged; you can choose "
            "a refund or a replacement, and we'll send a prepaid return label today. ";
  }
  Json body = {{"id", "chatcmpl-1"}, {"object", "chat.completion"}, {"model", "gpt-4o-mini"},
               {"choices", {{{"index", 0}, {"finish_reason", "stop"},
                             {"message", {{"role", "assistant"}, {"content", text}}}}}},
               {"usage", {{"prompt_tokens", 120}, {"completion_tokens", 380}, {"total_tokens", 500}}}};
  return body.dump();
}

void overhead() {
  llm::ProviderConfig config;
  config.provider = "openai";
  config.base_url = "http://127.0.0.1:1";
  config.model = "gpt-4o-mini";
  ChatRequest request = typical_request();
  std::string reply = response_2kb();
  std::printf("client overhead, no network (response %zu bytes)\n", reply.size());
  auto both = sample(20000, [&] {
    std::string wire = dump_json(llm::openai_request_body(request, config, false));
    ChatResponse r = llm::openai_parse_response(parse_json(reply, "response"), config);
    if (r.message.content.empty() || wire.empty()) std::abort();
  });
  report("openai: build request + parse 2 KB response", both);
  auto anthropic_reply = Json{{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"},
                              {"model", "claude"}, {"stop_reason", "end_turn"},
                              {"content", {{{"type", "text"}, {"text", Json::parse(reply)["choices"][0]["message"]["content"]}}}},
                              {"usage", {{"input_tokens", 120}, {"output_tokens", 380}}}}
                             .dump();
  auto anthropic = sample(20000, [&] {
    std::string wire = dump_json(llm::anthropic_request_body(request, config, false));
    ChatResponse r = llm::anthropic_parse_response(parse_json(anthropic_reply, "response"), config);
    if (r.message.content.empty() || wire.empty()) std::abort();
  });
  report("anthropic: build request + parse 2 KB response", anthropic);
  std::printf("\n");
}

void concurrency(int count, int delay_ms) {
  raise_file_limit();
  Json reply = Json::parse(response_2kb());
  EndpointProcess endpoint(
      Json{{"replies", {{{"json", reply}, {"delay_ms", delay_ms}, {"repeat", true}}}}}.dump());
  std::string base_url = endpoint.base_url();

  auto model = make_chat_model({{"provider", "openai"}, {"base_url", base_url}, {"model", "m"},
                                {"timeout_ms", 30000}, {"retry", {{"max_attempts", 1}}}});
  // Warm up one connection so the run measures steady state, not the first TCP handshake.
  (void)model->chat(typical_request());

  std::atomic<int> ok{0}, failed{0}, finished{0};
  std::atomic<int> max_threads{threads_now()};
  std::promise<void> all;
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    model->chat_async(typical_request(), {}, [&](Result<ChatResponse> r) {
      (r.ok() ? ok : failed)++;
      int t = threads_now();
      int seen = max_threads.load();
      while (t > seen && !max_threads.compare_exchange_weak(seen, t)) {
      }
      if (++finished == count) all.set_value();
    });
  }
  all.get_future().wait();
  double wall = micros(Clock::now() - start) / 1e6;
  std::printf("%d concurrent requests, endpoint answers after %d ms\n", count, delay_ms);
  std::printf("  wall time %.2f s (goal <= 2 s), %d ok, %d failed\n", wall, ok.load(), failed.load());
  std::printf("  threads in this process: %d at most (goal <= 4; executor threads: %u)\n",
              max_threads.load(), Executor::shared().threads());
  std::printf("  peak resident memory %.1f MiB\n", peak_rss_kib() / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 1000, delay_ms = 1000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--concurrent") == 0) count = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--delay-ms") == 0) delay_ms = std::atoi(argv[i + 1]);
  }
  std::printf("keel models benchmark\n\n");
  overhead();
  concurrency(count, delay_ms);
  return 0;
}

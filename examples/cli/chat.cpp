// `keel chat --model FILE "prompt" [--json] [--system TEXT] [--stream] [--timeout-ms N]`:
// one model call. Prints the reply text (the spec's one text output), or the whole response
// JSON with --json. Without a prompt argument, stdin is the prompt.
#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "keel/llm.hpp"

namespace keel::cli {

namespace {

struct ChatOptions {
  std::string model_path;
  std::string prompt;
  std::string system;
  bool json = false;
  bool stream = false;
  long long timeout_ms = 0;
};

int run_chat(const ChatOptions& options, bool prompt_given) {
  Json config = read_json_file(options.model_path, "model file");
  auto model = make_chat_model(config);
  ChatRequest request;
  if (!options.system.empty()) request.messages.push_back(Message::system(options.system));
  request.messages.push_back(Message::user(prompt_given ? options.prompt : read_all(std::cin)));
  CallOptions call;
  if (options.timeout_ms > 0) call.deadline = Deadline::after_ms(options.timeout_ms);
  bool streamed_text = false;
  if (options.stream && !options.json) {
    call.on_delta = [&streamed_text](const StreamDelta& d) {
      if (d.kind != StreamDelta::Kind::text) return;
      std::fwrite(d.text.data(), 1, d.text.size(), stdout);
      std::fflush(stdout);
      streamed_text = true;
    };
  }
  ChatResponse response = model->chat(std::move(request), std::move(call));
  if (options.json) {
    print_json(response.to_json());
  } else {
    if (!streamed_text) std::fwrite(response.message.content.data(), 1, response.message.content.size(), stdout);
    std::fputc('\n', stdout);
    if (!response.message.tool_calls.empty()) {
      // Text mode has no place for calls: name them on stderr so they are not silently lost.
      for (const auto& c : response.message.tool_calls) {
        std::cerr << "keel: the model asked for tool " << c.name << " (use --json to see calls)\n";
      }
    }
  }
  return exit_ok;
}

}  // namespace

void add_chat(CLI::App& app, int& status) {
  static ChatOptions options;
  auto* chat = app.add_subcommand("chat", "One model call: prints the reply text (--json: the response)");
  chat->add_option("--model", options.model_path, "Model configuration JSON file")->required();
  auto* prompt = chat->add_option("PROMPT", options.prompt, "The user message (default: stdin)");
  chat->add_option("--system", options.system, "A system prompt");
  chat->add_flag("--json", options.json, "Print the whole response as JSON");
  chat->add_flag("--stream", options.stream, "Print text as it streams in");
  chat->add_option("--timeout-ms", options.timeout_ms, "Deadline for the whole call, retries included")
      ->check(CLI::NonNegativeNumber);
  chat->callback([&status, prompt] { status = run_chat(options, prompt->count() > 0); });
}

}  // namespace keel::cli

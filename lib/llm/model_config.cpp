// make_chat_model and make_embedder: the model file format of SPEC.md to model objects.
#include <cstdlib>

#include "keel/resilience.hpp"
#include "llm/providers.hpp"
#include "llm/resilient_model.hpp"

namespace keel {

namespace llm {
std::shared_ptr<Embedder> make_openai_embedder(ProviderConfig config, std::size_t dimension,
                                               std::size_t batch_size, bool send_dimensions,
                                               ResilienceConfig resilience, Executor& executor,
                                               EventSink events);
}  // namespace llm

namespace {

std::string env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? std::string(value) : std::string();
}

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Reads what OpenAI-compatible and Anthropic clients share.
llm::ProviderConfig read_provider(ConfigReader& r, const std::string& provider,
                                  const std::string& default_path) {
  llm::ProviderConfig c;
  c.provider = provider;
  const bool openai = provider == "openai";
  std::string default_base = openai ? env("OPENAI_BASE_URL") : env("ANTHROPIC_BASE_URL");
  if (default_base.empty()) {
    default_base = openai ? "https://api.openai.com/v1" : "https://api.anthropic.com/v1";
  }
  c.base_url = trim_slash(r.optional<std::string>("base_url", default_base));
  if (!(c.base_url.starts_with("http://") || c.base_url.starts_with("https://"))) {
    throw_config_error(r.path_of("base_url"), "must start with http:// or https://");
  }
  c.path = r.optional<std::string>("path", default_path);
  if (!c.path.empty() && c.path.front() != '/') c.path.insert(c.path.begin(), '/');
  c.model = r.required<std::string>("model");
  std::string key_env = r.optional<std::string>("api_key_env", openai ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY");
  c.api_key = r.optional<std::string>("api_key", "");
  if (c.api_key.empty() && !key_env.empty()) c.api_key = env(key_env);
  std::string host = llm::url_host(c.base_url);
  if (c.api_key.empty() && (host == "api.openai.com" || host == "api.anthropic.com")) {
    throw_config_error(r.path_of("api_key_env"),
                       "$" + key_env + " is not set (" + host + " needs an API key)");
  }
  if (auto headers = r.optional_object("headers")) {
    for (const auto& [name, value] : headers->json().items()) {
      (void)headers->raw(name);
      if (!value.is_string()) throw_config_error(headers->path_of(name), "expected string");
      c.headers.emplace_back(name, value.get<std::string>());
    }
    headers->finish();
  }
  c.connect_timeout = std::chrono::milliseconds(r.integer("connect_timeout_ms", 10000, 1, 600000));
  return c;
}

std::shared_ptr<ChatModel> build_chat_model(const Json& config, const std::string& path,
                                             const ModelContext& context, int depth) {
  if (depth > 8) throw_config_error(path, "fallback chains nest too deep");
  Executor& executor = context.executor ? *context.executor : Executor::shared();
  ConfigReader r(config, path);
  std::string provider = r.choice("provider", "openai", {"openai", "anthropic", "scripted"});
  std::shared_ptr<ChatModel> model;
  std::string name;
  if (provider == "scripted") {
    const Json* responses = r.raw("responses");
    if (!responses) throw_config_error(r.path_of("responses"), "required");
    if (!responses->is_array()) throw_config_error(r.path_of("responses"), "expected array");
    auto delay = std::chrono::milliseconds(r.integer("delay_ms", 0, 0, 3600000));
    name = r.optional<std::string>("model", "scripted");
    try {
      model = std::make_shared<ScriptedModel>(std::vector<Json>(responses->begin(), responses->end()),
                                              executor, delay);
    } catch (const Error& e) {
      // Scripted entries name their paths from "responses"; add where this model sits.
      throw Error(e.code(), path.empty() ? std::string(e.what()) : path + "." + e.what());
    }
  } else {
    llm::ProviderConfig pc = read_provider(r, provider, provider == "openai" ? "/chat/completions" : "/messages");
    pc.max_tokens = static_cast<int>(r.integer("max_tokens", 0, 0, 1000000));
    if (provider == "anthropic") {
      pc.anthropic_version = r.optional<std::string>("anthropic_version", pc.anthropic_version);
    } else {
      pc.stream_usage = r.optional<bool>("stream_usage", true);
    }
    name = provider + "/" + pc.model;
    model = provider == "openai" ? llm::make_openai_model(std::move(pc), executor)
                                 : llm::make_anthropic_model(std::move(pc), executor);
  }
  ResilienceConfig resilience = ResilienceConfig::read(r);
  // The provider's own transfer timeout backs up the per-attempt one.
  std::vector<std::shared_ptr<ChatModel>> chain;
  std::string fallback_path = r.path_of("fallback");
  if (const Json* fallback = r.raw("fallback")) {
    if (!fallback->is_array()) throw_config_error(fallback_path, "expected array of models");
    for (std::size_t i = 0; i < fallback->size(); ++i) {
      chain.push_back(build_chat_model((*fallback)[i], json_path_index(fallback_path, i), context,
                                       depth + 1));
    }
  }
  r.finish();
  auto resilient = std::make_shared<llm::ResilientModel>(std::move(model), std::move(resilience),
                                                         name, context.events);
  if (chain.empty()) return resilient;
  chain.insert(chain.begin(), resilient);
  return std::make_shared<llm::FallbackModel>(std::move(chain));
}

}  // namespace

std::shared_ptr<ChatModel> make_chat_model(const Json& config, ModelContext context) {
  return build_chat_model(config, "", context, 0);
}

std::shared_ptr<Embedder> make_embedder(const Json& config, ModelContext context) {
  Executor& executor = context.executor ? *context.executor : Executor::shared();
  if (!config.is_object()) throw_config_error("", "expected object, got " + std::string(json_type_name(config)));
  std::string provider = config.contains("provider") && config["provider"].is_string()
                             ? config["provider"].get<std::string>()
                             : "hashing";
  if (provider == "hashing") {
    return std::make_shared<HashingEmbedder>(HashingEmbedder::from_json(config));
  }
  if (provider != "openai") {
    throw_config_error("provider", "must be one of hashing, openai, got \"" + provider + "\"");
  }
  ConfigReader r(config);
  (void)r.required<std::string>("provider");
  llm::ProviderConfig pc = read_provider(r, "openai", "/embeddings");
  auto dimension = static_cast<std::size_t>(r.integer("dimension", 0, 0, 1 << 20));
  auto batch = static_cast<std::size_t>(r.integer("batch_size", 64, 1, 2048));
  bool send_dimensions = r.optional<bool>("send_dimensions", false);
  ResilienceConfig resilience = ResilienceConfig::read(r);
  r.finish();
  return llm::make_openai_embedder(std::move(pc), dimension, batch, send_dimensions,
                                   std::move(resilience), executor, context.events);
}

}  // namespace keel

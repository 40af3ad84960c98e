// FirewallConfig::from_json: every key optional, every mistake reported with its JSON path.
#include "keel/firewall.hpp"

namespace keel {

namespace {

Thresholds read_thresholds(ConfigReader& reader, Thresholds defaults) {
  Thresholds t;
  t.flag = reader.number("flag", defaults.flag, 0.0, 1.0);
  t.block = reader.number("block", defaults.block, 0.0, 1.0);
  if (t.flag > t.block) {
    throw_config_error(reader.path_of("flag"), "must not exceed block (" +
                                                   Json(t.block).dump() + ")");
  }
  return t;
}

RedactionRule read_redaction_rule(const Json& value, const std::string& path,
                                  const RedactionRule& defaults) {
  RedactionRule rule = defaults;
  std::string mode;
  if (value.is_string()) {
    mode = value.get<std::string>();
  } else {
    ConfigReader reader(value, path);
    mode = reader.required<std::string>("mode");
    rule.keep_last = static_cast<std::size_t>(reader.integer("keep_last", 4, 0, 64));
    reader.finish();
  }
  if (mode == "placeholder") rule.mode = RedactionRule::Mode::placeholder;
  else if (mode == "mask") rule.mode = RedactionRule::Mode::mask;
  else if (mode == "hash") rule.mode = RedactionRule::Mode::hash;
  else if (mode == "remove") rule.mode = RedactionRule::Mode::remove;
  else if (mode == "keep") rule.mode = RedactionRule::Mode::keep;
  else {
    throw_config_error(value.is_string() ? path : json_path_join(path, "mode"),
                       "must be one of placeholder, mask, hash, remove, keep, got \"" + mode + "\"");
  }
  return rule;
}

}  // namespace

FirewallConfig FirewallConfig::from_json(const Json& json) {
  FirewallConfig config;
  ConfigReader root(json);
  if (auto t = root.optional_object("thresholds")) {
    config.thresholds = read_thresholds(*t, config.thresholds);
    t->finish();
  }
  if (auto t = root.optional_object("input")) {
    config.input_thresholds = read_thresholds(*t, config.thresholds);
    t->finish();
  }
  if (auto t = root.optional_object("output")) {
    config.output_thresholds = read_thresholds(*t, config.thresholds);
    t->finish();
  }
  if (auto categories = root.optional_object("categories")) {
    for (const auto& [name, value] : categories->json().items()) {
      ConfigReader entry(value, categories->path_of(name));
      (void)categories->raw(name);
      CategorySettings settings;
      settings.enabled = entry.optional<bool>("enabled", true);
      settings.severity = entry.maybe<double>("severity");
      if (settings.severity && (*settings.severity < 0 || *settings.severity > 1)) {
        throw_config_error(entry.path_of("severity"), "must be between 0 and 1");
      }
      if (entry.has("flag") || entry.has("block")) {
        settings.thresholds = read_thresholds(entry, config.thresholds);
      }
      entry.finish();
      config.categories[name] = settings;
    }
    categories->finish();
  }
  for (auto& entry : root.objects("custom_rules")) {
    CustomRule rule;
    rule.id = entry.required<std::string>("id");
    if (rule.id.empty()) throw_config_error(entry.path_of("id"), "must not be empty");
    rule.category = entry.optional<std::string>("category", rule.category);
    rule.severity = entry.number("severity", rule.severity, 0.0, 1.0);
    rule.pattern = entry.required<std::string>("pattern");
    if (rule.pattern.empty()) throw_config_error(entry.path_of("pattern"), "must not be empty");
    rule.view = entry.choice("view", "text", {"raw", "text", "keyword"});
    rule.direction = entry.choice("direction", "both", {"input", "output", "both"});
    (void)entry.optional<std::string>("description", "");
    entry.finish();
    config.custom_rules.push_back(std::move(rule));
  }
  for (auto& entry : root.objects("allow")) {
    AllowRule rule;
    rule.phrase = entry.optional<std::string>("phrase", "");
    rule.regex = entry.optional<std::string>("regex", "");
    rule.categories = entry.optional<std::vector<std::string>>("categories", {});
    if (rule.phrase.empty() == rule.regex.empty()) {
      throw_config_error(entry.path(), "needs exactly one of \"phrase\" or \"regex\"");
    }
    entry.finish();
    config.allow.push_back(std::move(rule));
  }
  config.canary_tokens = root.optional<std::vector<std::string>>("canary_tokens", {});
  for (std::size_t i = 0; i < config.canary_tokens.size(); ++i) {
    if (config.canary_tokens[i].size() < 4) {
      throw_config_error(json_path_index("canary_tokens", i),
                         "must be at least 4 characters (short tokens match ordinary text)");
    }
  }
  config.system_prompt = root.optional<std::string>("system_prompt", "");
  config.max_input_bytes = static_cast<std::size_t>(
      root.integer("max_input_bytes", static_cast<std::int64_t>(config.max_input_bytes), 1,
                   std::int64_t{1} << 30));
  config.truncate_oversize = root.choice("oversize", "error", {"error", "truncate"}) == "truncate";
  config.decode_depth = static_cast<int>(root.integer("decode_depth", config.decode_depth, 0, 4));
  if (auto redaction = root.optional_object("redaction")) {
    config.redaction_enabled = redaction->optional<bool>("enabled", true);
    config.hash_salt = redaction->optional<std::string>("salt", config.hash_salt);
    if (const Json* d = redaction->raw("default")) {
      config.default_redaction =
          read_redaction_rule(*d, redaction->path_of("default"), config.default_redaction);
    }
    if (auto modes = redaction->optional_object("modes")) {
      for (const auto& [name, value] : modes->json().items()) {
        (void)modes->raw(name);
        config.redaction[name] =
            read_redaction_rule(value, modes->path_of(name), config.default_redaction);
      }
      modes->finish();
    }
    redaction->finish();
  }
  root.finish();
  return config;
}

}  // namespace keel

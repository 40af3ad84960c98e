#include "firewall/redactor.hpp"

#include "firewall/catalogue.hpp"
#include "firewall/normaliser.hpp"
#include "firewall/sha256.hpp"

namespace keel::firewall {

const RedactionRule& redaction_rule_for(const FirewallConfig& config, std::string_view category) {
  if (auto it = config.redaction.find(std::string(category)); it != config.redaction.end()) {
    return it->second;
  }
  if (auto it = config.redaction.find(entity_name(category)); it != config.redaction.end()) {
    return it->second;
  }
  return config.default_redaction;
}

namespace {

std::string mask(std::string_view value, std::size_t keep_last) {
  // Count characters, not bytes, so a mask never splits a UTF-8 sequence.
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < value.size(); i += std::max<std::size_t>(1, utf8_char_length(value, i))) {
    starts.push_back(i);
  }
  std::size_t chars = starts.size();
  std::size_t keep = std::min(keep_last, chars);
  std::size_t masked = chars - keep;
  std::string out;
  for (std::size_t k = 0; k < masked; ++k) {
    char c = value[starts[k]];
    // Separators stay, so "4111 1111 1111 1111" reads "**** **** **** 1111".
    out += (c == ' ' || c == '-' || c == '.' || c == '@') ? c : '*';
  }
  if (masked < chars) out.append(value.substr(starts[masked]));
  return out;
}

}  // namespace

std::string redact_text(std::string_view text, const std::vector<Finding>& findings,
                        const FirewallConfig& config, Vault& vault) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const auto& f : findings) {
    if (!is_entity_category(f.category) || f.start < at || f.end > text.size()) continue;
    const RedactionRule& rule = redaction_rule_for(config, f.category);
    if (rule.mode == RedactionRule::Mode::keep) continue;
    out.append(text.substr(at, f.start - at));
    std::string_view value = text.substr(f.start, f.end - f.start);
    std::string entity = entity_name(f.category);
    switch (rule.mode) {
      case RedactionRule::Mode::placeholder: out += vault.placeholder(entity, value); break;
      case RedactionRule::Mode::mask: out += mask(value, rule.keep_last); break;
      case RedactionRule::Mode::hash: {
        std::string salted = config.hash_salt;
        salted += value;
        out += '<';
        out += entity;
        out += ':';
        out.append(detail::sha256_hex(salted), 0, 16);
        out += '>';
        break;
      }
      case RedactionRule::Mode::remove:
      case RedactionRule::Mode::keep: break;
    }
    at = f.end;
  }
  out.append(text.substr(std::min(at, text.size())));
  return out;
}

}  // namespace keel::firewall

namespace keel {

std::string Vault::placeholder(std::string_view entity, std::string_view value) {
  std::string key(entity);
  key += '\0';
  key += value;
  if (auto it = by_value_.find(key); it != by_value_.end()) return it->second;
  // GCC 12 warns falsely (-Wrestrict) on "<" + std::string at -O2; build the name by appends.
  auto make_name = [&](int number) {
    std::string name;
    name.reserve(entity.size() + 8);
    name += '<';
    name += entity;
    name += '_';
    name += std::to_string(number);
    name += '>';
    return name;
  };
  int& counter = counters_[std::string(entity)];
  std::string name = make_name(++counter);
  // A placeholder taken by an imported vault entry (different value) is skipped.
  while (values_.count(name)) name = make_name(++counter);
  values_.emplace(name, std::string(value));
  by_value_.emplace(std::move(key), name);
  return name;
}

std::optional<std::string> Vault::value(std::string_view placeholder) const {
  auto it = values_.find(placeholder);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Json Vault::to_json() const {
  Json out = Json::object();
  for (const auto& [name, value] : values_) out[name] = value;
  return out;
}

Vault Vault::from_json(const Json& json) {
  if (!json.is_object()) {
    throw Error(Errc::invalid_argument, "vault: expected object, got " +
                                            std::string(json_type_name(json)));
  }
  Vault vault;
  for (const auto& [name, value] : json.items()) {
    // "<EMAIL_12>": entity EMAIL, number 12.
    auto underscore = name.rfind('_');
    bool ok = name.size() >= 4 && name.front() == '<' && name.back() == '>' &&
              underscore != std::string::npos && underscore > 1 && underscore + 2 < name.size();
    int number = 0;
    if (ok) {
      for (std::size_t k = underscore + 1; k + 1 < name.size(); ++k) {
        char c = name[k];
        if (c < '0' || c > '9' || number > 1000000) {
          ok = false;
          break;
        }
        number = number * 10 + (c - '0');
      }
    }
    if (!ok) {
      throw Error(Errc::invalid_argument,
                  "vault: \"" + name + "\" is not a placeholder like <EMAIL_1>");
    }
    if (!value.is_string()) {
      throw Error(Errc::invalid_argument, "vault[\"" + name + "\"]: expected string, got " +
                                              std::string(json_type_name(value)));
    }
    std::string entity = name.substr(1, underscore - 1);
    std::string text = value.get<std::string>();
    std::string key = entity;
    key += '\0';
    key += text;
    vault.values_[name] = text;
    vault.by_value_[key] = name;
    int& counter = vault.counters_[entity];
    counter = std::max(counter, number);
  }
  return vault;
}

std::string Firewall::restore(std::string_view text, const Vault& vault) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto open = text.find('<', i);
    if (open == std::string_view::npos) break;
    auto close = text.find('>', open + 1);
    if (close == std::string_view::npos) break;
    // Placeholders are short; a '<' far from any '>' is ordinary text.
    if (close - open <= 64) {
      if (auto value = vault.value(text.substr(open, close - open + 1))) {
        out.append(text.substr(i, open - i));
        out += *value;
        i = close + 1;
        continue;
      }
    }
    out.append(text.substr(i, open + 1 - i));
    i = open + 1;
  }
  out.append(text.substr(i));
  return out;
}

}  // namespace keel

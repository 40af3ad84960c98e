// The firewall's C ABI.
#include "boundary.hpp"
#include "handles.hpp"
#include "keel/firewall.hpp"

namespace {

keel::Direction to_direction(keel_direction d) {
  if (d == KEEL_DIRECTION_INPUT) return keel::Direction::input;
  if (d == KEEL_DIRECTION_OUTPUT) return keel::Direction::output;
  throw keel::Error(keel::Errc::invalid_argument,
                    "direction must be KEEL_DIRECTION_INPUT or KEEL_DIRECTION_OUTPUT");
}

std::string_view bytes_arg(const char* text, size_t len) {
  if (text == nullptr && len != 0) {
    throw keel::Error(keel::Errc::invalid_argument, "text must not be NULL");
  }
  return text ? std::string_view(text, len) : std::string_view();
}

}  // namespace

extern "C" {

KEEL_API keel_status keel_firewall_new(const char* config_json, keel_firewall** out,
                                       keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(out, "out");
    *out = nullptr;
    keel::Json config = keel::Json::object();
    if (config_json != nullptr && *config_json != '\0') {
      config = keel::parse_json(config_json, "firewall config");
    }
    *out = new keel_firewall{std::make_shared<keel::Firewall>(config)};
  });
}

KEEL_API void keel_firewall_free(keel_firewall* firewall) { delete firewall; }

KEEL_API keel_status keel_firewall_scan(const keel_firewall* firewall, const char* text,
                                        size_t len, keel_direction direction,
                                        char** verdict_json, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(firewall, "firewall");
    keel::capi::require(verdict_json, "verdict_json");
    *verdict_json = nullptr;
    auto verdict = firewall->firewall->scan(bytes_arg(text, len), to_direction(direction));
    *verdict_json = keel::capi::copy_out(keel::dump_json(verdict.to_json()));
  });
}

KEEL_API keel_status keel_firewall_check(const keel_firewall* firewall, const char* text,
                                         size_t len, keel_direction direction,
                                         keel_decision* decision, double* risk, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(firewall, "firewall");
    keel::capi::require(decision, "decision");
    auto score = firewall->firewall->check(bytes_arg(text, len), to_direction(direction));
    *decision = static_cast<keel_decision>(score.decision);
    if (risk) *risk = score.risk;
  });
}

KEEL_API keel_status keel_firewall_redact(const keel_firewall* firewall, const char* text,
                                          size_t len, keel_direction direction,
                                          const char* vault_json, char** result_json,
                                          keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(firewall, "firewall");
    keel::capi::require(result_json, "result_json");
    *result_json = nullptr;
    keel::Vault vault;
    if (vault_json != nullptr && *vault_json != '\0') {
      vault = keel::Vault::from_json(keel::parse_json(vault_json, "vault"));
    }
    auto redaction = firewall->firewall->redact(bytes_arg(text, len), vault, to_direction(direction));
    keel::Json out = redaction.to_json();
    out["vault"] = vault.to_json();
    *result_json = keel::capi::copy_out(keel::dump_json(out));
  });
}

KEEL_API keel_status keel_firewall_restore(const char* text, size_t len, const char* vault_json,
                                           char** restored, keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(restored, "restored");
    *restored = nullptr;
    auto vault = keel::Vault::from_json(
        keel::parse_json(keel::capi::text_arg(vault_json, "vault_json"), "vault"));
    *restored = keel::capi::copy_out(keel::Firewall::restore(bytes_arg(text, len), vault));
  });
}

KEEL_API keel_status keel_firewall_rules(const keel_firewall* firewall, char** rules_json,
                                         keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(firewall, "firewall");
    keel::capi::require(rules_json, "rules_json");
    keel::Json list = keel::Json::array();
    for (const auto& r : firewall->firewall->rules()) {
      list.push_back({{"id", r.id}, {"category", r.category}, {"severity", r.severity},
                      {"view", r.view}, {"direction", r.direction}, {"lang", r.lang},
                      {"description", r.description}});
    }
    *rules_json = keel::capi::copy_out(keel::dump_json(list));
  });
}

KEEL_API keel_status keel_firewall_set_event_callback(keel_firewall* firewall,
                                                      keel_event_fn callback, void* user_data,
                                                      keel_error** err) {
  return keel::capi::call(err, [&] {
    keel::capi::require(firewall, "firewall");
    if (callback == nullptr) {
      firewall->firewall->set_event_sink(nullptr);
      return;
    }
    firewall->firewall->set_event_sink([callback, user_data](const keel::Json& event) {
      std::string text = keel::dump_json(event);
      callback(text.c_str(), user_data);
    });
  });
}

}  // extern "C"

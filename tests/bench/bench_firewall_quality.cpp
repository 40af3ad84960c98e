// Firewall quality on public data (../shared/data, see its README):
// - PII on Presidio's synthetic set for EMAIL_ADDRESS, CREDIT_CARD, IBAN_CODE, US_SSN,
//   IP_ADDRESS and PHONE_NUMBER: precision, recall and F1 per type and overall (a prediction is
//   right when it overlaps a gold span of its type). Presidio's own analyzer: F2 0.618.
// - Over-blocking: the share of benign prompts flagged or blocked in NotInject (339 prompts full
//   of trigger words) and WildGuard (971).
// - Detection: the share of attacks flagged or blocked in InjecGuard's validation set per
//   source, and of BIPIA's indirect-injection instructions.
//   build/bin/bench_firewall_quality [data-dir]
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "keel/firewall.hpp"

using namespace keel;

namespace {

std::string data_dir = KEEL_SHARED_DATA_DIR;

Json load(const std::string& relative) {
  std::ifstream file(data_dir + "/" + relative);
  if (!file) throw Error(Errc::io, "cannot open " + data_dir + "/" + relative);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return parse_json(buffer.str(), relative);
}

// Byte offset of each code point index (Presidio's offsets are Python str indices).
std::vector<std::size_t> char_to_byte(const std::string& text) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) out.push_back(i);
  }
  out.push_back(text.size());
  return out;
}

struct Counts {
  int tp = 0, fp = 0, fn = 0;
  double precision() const { return tp + fp ? double(tp) / (tp + fp) : 0; }
  double recall() const { return tp + fn ? double(tp) / (tp + fn) : 0; }
  double f(double beta = 1) const {
    double p = precision(), r = recall(), b2 = beta * beta;
    return p + r > 0 ? (1 + b2) * p * r / (b2 * p + r) : 0;
  }
};

void pii(const Firewall& fw) {
  const std::map<std::string, std::string> types = {
      {"pii.email", "EMAIL_ADDRESS"}, {"pii.credit_card", "CREDIT_CARD"},
      {"pii.iban", "IBAN_CODE"},      {"pii.us_ssn", "US_SSN"},
      {"pii.ip_address", "IP_ADDRESS"}, {"pii.phone", "PHONE_NUMBER"}};
  std::map<std::string, Counts> counts;
  Json data = load("pii/presidio_synth_dataset_v2.json");
  for (const auto& sample : data) {
    std::string text = sample["full_text"].get<std::string>();
    auto offsets = char_to_byte(text);
    struct Gold {
      std::string type;
      std::size_t start, end;
      bool found = false;
    };
    std::vector<Gold> gold;
    for (const auto& span : sample["spans"]) {
      std::string type = span["entity_type"].get<std::string>();
      bool evaluated = false;
      for (const auto& [category, name] : types) evaluated = evaluated || name == type;
      if (!evaluated) continue;
      auto s = span["start_position"].get<std::size_t>(), e = span["end_position"].get<std::size_t>();
      gold.push_back({type, offsets[std::min(s, offsets.size() - 1)], offsets[std::min(e, offsets.size() - 1)]});
    }
    Verdict v = fw.scan(text);
    for (const auto& f : v.findings) {
      auto it = types.find(f.category);
      if (it == types.end()) continue;
      bool hit = false;
      for (auto& g : gold) {
        if (g.type == it->second && f.start < g.end && g.start < f.end) {
          hit = true;
          g.found = true;
        }
      }
      (hit ? counts[it->second].tp : counts[it->second].fp)++;
    }
    for (const auto& g : gold) {
      if (!g.found) counts[g.type].fn++;
    }
  }
  std::printf("PII on presidio_synth_dataset_v2 (%zu sentences)\n", data.size());
  std::printf("  %-14s %6s %6s %6s   %5s %5s %5s\n", "type", "P", "R", "F1", "TP", "FP", "FN");
  Counts all;
  for (const auto& [type, c] : counts) {
    std::printf("  %-14s %6.3f %6.3f %6.3f   %5d %5d %5d\n", type.c_str(), c.precision(),
                c.recall(), c.f(), c.tp, c.fp, c.fn);
    all.tp += c.tp, all.fp += c.fp, all.fn += c.fn;
  }
  std::printf("  %-14s %6.3f %6.3f %6.3f   (F2 %.3f; Presidio out of the box: F2 0.618)\n\n",
              "overall", all.precision(), all.recall(), all.f(), all.f(2));
}

double flagged_share(const Firewall& fw, const std::vector<std::string>& prompts) {
  int flagged = 0;
  for (const auto& p : prompts) flagged += fw.check(p).decision != Decision::allow;
  return prompts.empty() ? 0 : double(flagged) / double(prompts.size());
}

void injections(const Firewall& fw) {
  std::vector<std::string> not_inject;
  for (const char* part : {"one", "two", "three"}) {
    for (const auto& item : load(std::string("firewall/injecguard_NotInject_") + part + ".json")) {
      not_inject.push_back(item["prompt"].get<std::string>());
    }
  }
  std::vector<std::string> wildguard;
  for (const auto& item : load("firewall/injecguard_wildguard.json")) {
    wildguard.push_back(item["prompt"].get<std::string>());
  }
  std::printf("Over-blocking (benign prompts flagged or blocked; goal <= 3%%)\n");
  std::printf("  NotInject (%zu prompts with trigger words)  %5.1f%%\n", not_inject.size(),
              100 * flagged_share(fw, not_inject));
  std::printf("  WildGuard (%zu benign prompts)              %5.1f%%\n\n", wildguard.size(),
              100 * flagged_share(fw, wildguard));

  std::map<std::pair<std::string, int>, std::vector<std::string>> by_source;
  for (const auto& item : load("firewall/injecguard_valid.json")) {
    by_source[{item["source"].get<std::string>(), item["label"].get<int>()}].push_back(
        item["prompt"].get<std::string>());
  }
  std::printf("InjecGuard validation set: share flagged or blocked, per source\n");
  int pint_hits = 0, pint_total = 0;
  for (const auto& [key, prompts] : by_source) {
    double share = flagged_share(fw, prompts);
    std::printf("  %-32s label %d  n=%3zu  %5.1f%%%s\n", key.first.c_str(), key.second,
                prompts.size(), 100 * share, key.second ? "  (attacks: higher is better)" : "");
    if (key.second == 1 && key.first.starts_with("PINT")) {
      pint_hits += static_cast<int>(share * static_cast<double>(prompts.size()) + 0.5);
      pint_total += static_cast<int>(prompts.size());
    }
  }
  std::printf("  PINT attack sources together: %d/%d = %.1f%% (goal >= 80%%)\n\n", pint_hits,
              pint_total, pint_total ? 100.0 * pint_hits / pint_total : 0.0);

  for (const char* set : {"bipia_text_attack_test.json", "bipia_code_attack_test.json"}) {
    Json data = load(std::string("firewall/") + set);
    std::vector<std::string> all;
    std::printf("BIPIA %s: share of injected instructions flagged or blocked, per category\n", set);
    for (const auto& [category, items] : data.items()) {
      std::vector<std::string> prompts;
      for (const auto& p : items) prompts.push_back(p.get<std::string>());
      all.insert(all.end(), prompts.begin(), prompts.end());
      std::printf("  %-36s n=%3zu  %5.1f%%\n", category.c_str(), prompts.size(),
                  100 * flagged_share(fw, prompts));
    }
    std::printf("  %-36s n=%3zu  %5.1f%%\n\n", "all", all.size(), 100 * flagged_share(fw, all));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) data_dir = argv[1];
  try {
    Firewall fw;
    pii(fw);
    injections(fw);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_firewall_quality: %s\n", e.what());
    return 1;
  }
  return 0;
}

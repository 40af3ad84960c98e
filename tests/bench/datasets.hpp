// The public intent data sets of ../shared/data/router, loaded for the benchmark programs:
// CLINC150 "full" (train, val + oos_val, test + oos_test) and Banking77 (train, test); and a
// knowledge base's documents made of them.
#pragma once

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "keel/error.hpp"
#include "keel/json.hpp"
#include "keel/knowledge.hpp"

namespace keel::bench {

inline const std::string data_dir = std::string(KEEL_SHARED_DATA_DIR) + "/router";

inline std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Errc::io, "cannot open " + path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

struct Example {
  std::string text;
  int label = -1;  // -1: out of scope
};

struct Dataset {
  std::vector<Example> train, val, test;  // val and test hold their out-of-scope examples too
  int classes = 0;
  std::vector<std::string> names;  // label -> intent name
};

class Labels {
 public:
  int id(const std::string& name) {
    auto [it, added] = ids_.emplace(name, static_cast<int>(ids_.size()));
    if (added) names_.push_back(name);
    return it->second;
  }
  const std::vector<std::string>& names() const { return names_; }
  int size() const { return static_cast<int>(ids_.size()); }

 private:
  std::map<std::string, int> ids_;
  std::vector<std::string> names_;
};

inline Dataset load_clinc150() {
  Json json = parse_json(read_file(data_dir + "/clinc150_data_full.json"), "CLINC150");
  Dataset d;
  Labels labels;
  auto add = [&](const char* split, std::vector<Example>& out, bool oos) {
    for (const auto& pair : json.at(split)) {
      out.push_back(
          {pair.at(0).get<std::string>(), oos ? -1 : labels.id(pair.at(1).get<std::string>())});
    }
  };
  add("train", d.train, false);
  add("val", d.val, false);
  add("oos_val", d.val, true);
  add("test", d.test, false);
  add("oos_test", d.test, true);
  d.classes = labels.size();
  d.names = labels.names();
  return d;
}

// Rows of a two-column CSV with a header (RFC 4180 quoting).
inline std::vector<std::pair<std::string, std::string>> read_csv(const std::string& path) {
  std::string s = read_file(path);
  std::vector<std::pair<std::string, std::string>> rows;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, header = true;
  auto end_row = [&] {
    fields.push_back(std::move(field));
    field.clear();
    if (!header && fields.size() == 2) rows.emplace_back(fields[0], fields[1]);
    header = false;
    fields.clear();
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < s.size() && s[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      end_row();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (!field.empty() || !fields.empty()) end_row();
  return rows;
}

inline Dataset load_banking77() {
  Dataset d;
  Labels labels;
  for (auto& [text, category] : read_csv(data_dir + "/banking77_train.csv")) {
    d.train.push_back({text, labels.id(category)});
  }
  for (auto& [text, category] : read_csv(data_dir + "/banking77_test.csv")) {
    d.test.push_back({text, labels.id(category)});
  }
  d.classes = labels.size();
  d.names = labels.names();
  return d;
}

// `count` documents of about 100 words of real customer-support text: each strings together
// requests of one intent of Banking77 and CLINC150, as a help-desk article gathers the questions
// it answers (metadata {"n": i}, no vectors). (A corpus drawn from a handful of words would put
// every query word in every document: no knowledge base looks like that.)
inline std::vector<Document> support_documents(int count) {
  std::map<std::string, std::vector<std::string>> by_intent;
  const Dataset banking = load_banking77();
  for (const auto* split : {&banking.train, &banking.test})
    for (const auto& e : *split)
      by_intent["banking77." + banking.names[e.label]].push_back(e.text);
  const Dataset clinc = load_clinc150();
  for (const auto* split : {&clinc.train, &clinc.val, &clinc.test})
    for (const auto& e : *split)
      by_intent[e.label < 0 ? "clinc150.oos" : "clinc150." + clinc.names[e.label]].push_back(
          e.text);
  std::vector<const std::vector<std::string>*> intents;
  for (const auto& [name, texts] : by_intent)
    intents.push_back(&texts);

  std::vector<Document> documents;
  unsigned seed = 12345;
  for (int i = 0; i < count; ++i) {
    const auto& texts = *intents[static_cast<std::size_t>(i) % intents.size()];
    Document d;
    d.id = "doc-" + std::to_string(i);
    for (int words = 0; words < 100;) {
      seed = seed * 1103515245u + 12345u;
      const std::string& text = texts[(seed >> 8) % texts.size()];
      d.text += text;
      d.text += ' ';
      words += static_cast<int>(std::count(text.begin(), text.end(), ' ')) + 1;
    }
    d.metadata = {{"n", i}};
    documents.push_back(std::move(d));
  }
  return documents;
}

}  // namespace keel::bench

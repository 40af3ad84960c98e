#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "keel/router.hpp"

using namespace keel;

namespace {

// A small support desk: conditions of every kind, and utterances for the semantic tier.
Json desk_config() {
  return Json::parse(R"({
    "exit_threshold": 0.8,
    "routes": [
      {"name": "billing", "description": "Invoices, charges, refunds and payment methods",
       "conditions": [
         {"keywords": ["invoice", "refund"], "match": "any", "confidence": 0.9},
         {"regex": "\\bcharged twice\\b", "confidence": 0.95},
         {"metadata": {"channel": {"eq": "stripe"}}, "confidence": 1.0}],
       "utterances": ["I was billed the wrong amount", "why is there an extra fee on my bill",
                      "update my credit card details", "how much do I pay each month",
                      "I need a copy of my last payment receipt"]},
      {"name": "shipping", "description": "Deliveries, tracking and lost parcels",
       "conditions": [{"keywords": ["tracking number", "courier"], "match": "all", "confidence": 0.9},
                      {"metadata": {"weight_kg": {"gte": 30}}, "confidence": 0.85}],
       "utterances": ["where is my parcel", "my package has not arrived yet",
                      "when will my order be delivered", "the delivery is late",
                      "can I change the delivery address"]},
      {"name": "account", "description": "Logins, passwords and profile settings",
       "conditions": [{"metadata": {"tier": {"in": ["gold", "platinum"]}, "vip": {"exists": true}},
                       "confidence": 0.95}],
       "utterances": ["I forgot my password", "I cannot log in to my account",
                      "how do I change my email address", "reset my login details",
                      "delete my profile"]}]})");
}

std::shared_ptr<ScriptedModel> scripted(std::vector<std::string> replies) {
  std::vector<Json> responses;
  for (auto& r : replies) responses.push_back({{"content", r}});
  return std::make_shared<ScriptedModel>(std::move(responses));
}

// A dense test embedder (every coordinate non-zero), so the HNSW path is taken: a hashing
// embedder's vectors plus a small constant, renormalised.
class DenseTestEmbedder : public Embedder {
 public:
  DenseTestEmbedder() : inner_([] {
    HashingEmbedder::Options o;
    o.dimension = 64;
    return o;
  }()) {}
  std::size_t dimension() const noexcept override { return 64; }
  std::string_view provider() const noexcept override { return "dense-test"; }
  std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& texts,
                                              const CallOptions& options = {}) const override {
    auto out = inner_.embed_batch(texts, options);
    for (auto& v : out) {
      for (float& x : v) x += 0.01f;
    }
    return out;
  }

 private:
  HashingEmbedder inner_;
};

std::string temp_path(const char* name) {
  return std::string(KEEL_BINARY_DIR) + "/router_test_" + name;
}

}  // namespace

TEST_CASE("routes files are validated and errors name the JSON path") {
  auto error_of = [](const char* text) {
    try {
      RouterConfig::from_json(Json::parse(text));
    } catch (const Error& e) {
      CHECK(e.code() == Errc::invalid_config);
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(error_of(R"({"routes": [{"name": "a", "threshold": "high"}]})").find("routes[0].threshold") !=
        std::string::npos);
  CHECK(error_of(R"({"routes": [{"name": "a"}, {"name": "a"}]})").find("duplicate") != std::string::npos);
  CHECK(error_of(R"({"routes": [{"name": "a"}], "fallback": "b"})").find("fallback") != std::string::npos);
  CHECK(error_of(R"({"routes": [{"name": "a", "conditions": [{"regex": "(", "confidence": 1}]}]})")
            .find("routes[0].conditions[0]") != std::string::npos);
  CHECK(error_of(R"({"routes": [{"name": "a", "conditions": [{"regex": "x", "keywords": ["y"]}]}]})")
            .find("routes[0].conditions[0]") != std::string::npos);
  CHECK(error_of(R"({"routes": [{"name": ""}]})").find("routes[0].name") != std::string::npos);
  CHECK(error_of(R"({"routes": [], "exit_threshold": 2})").find("exit_threshold") != std::string::npos);
  CHECK(error_of(R"({"rutes": []})") != "(accepted)");
  // The JSON form round-trips.
  auto config = RouterConfig::from_json(desk_config());
  CHECK(RouterConfig::from_json(config.to_json()).to_json() == config.to_json());
}

TEST_CASE("the condition tier: keywords, patterns and metadata") {
  Router router(desk_config());
  SUBCASE("keywords are whole words, case-insensitive, normalised") {
    auto r = router.route("Where is my INVOICE?");
    CHECK(r.tier == "condition");
    CHECK(r.route == "billing");
    CHECK(r.confidence == doctest::Approx(0.9));
    CHECK(router.route("Ｒｅｆｕｎｄ please").route == "billing");  // full-width letters
    CHECK(router.route("invoicing software").tier != "condition");  // not the word "invoice"
  }
  SUBCASE("match all needs every keyword; a keyword of several words matches in sequence") {
    CHECK(router.route("the courier lost the tracking number").tier == "condition");
    CHECK(router.route("the courier was rude").tier != "condition");
    CHECK(router.route("the number for tracking, courier").tier != "condition");
  }
  SUBCASE("patterns") {
    auto r = router.route("help, I was charged twice for one order");
    CHECK(r.tier == "condition");
    CHECK(r.route == "billing");
    CHECK(r.confidence == doctest::Approx(0.95));
  }
  SUBCASE("metadata predicates") {
    CHECK(router.route("hello", {{"channel", "stripe"}}).route == "billing");
    CHECK(router.route("hello", {{"weight_kg", 31.5}}).route == "shipping");
    CHECK(router.route("hello", {{"weight_kg", 12}}).tier != "condition");
    CHECK(router.route("hello", {{"tier", "gold"}, {"vip", false}}).route == "account");
    CHECK(router.route("hello", {{"tier", "gold"}}).tier != "condition");  // vip must exist
    CHECK(router.route("hello", {{"tier", "bronze"}, {"vip", true}}).tier != "condition");
  }
  SUBCASE("the result JSON has the shape of SPEC.md") {
    Json j = router.route("refund me").to_json();
    for (const char* key : {"route", "confidence", "tier", "candidates", "timings_us"}) CHECK(j.contains(key));
    CHECK(j["timings_us"].contains("total"));
    CHECK(j["candidates"][0]["route"] == "billing");
  }
}

TEST_CASE("the semantic tier routes paraphrases and refuses what resembles nothing") {
  Router router(desk_config());
  auto r = router.route("my parcel has not arrived");
  CHECK(r.route == "shipping");
  CHECK(r.tier == "semantic");
  CHECK(r.confidence >= 0.8);
  CHECK(r.candidates.size() == 3);
  CHECK(r.candidates[0].route == "shipping");
  CHECK(r.candidates[0].score > r.candidates[1].score);

  auto none = router.route("zebra quantum violin");
  CHECK(none.tier == "none");
  CHECK_FALSE(none.route.has_value());
  CHECK(none.reason.find("no tier was confident") != std::string::npos);

  auto empty = router.route("");
  CHECK(empty.tier == "none");
  CHECK_FALSE(empty.reason.empty());

  Json with_fallback = desk_config();
  with_fallback["fallback"] = "account";
  Router fallback(with_fallback);
  auto f = fallback.route("zebra quantum violin");
  CHECK(f.tier == "fallback");
  CHECK(f.route == "account");
}

TEST_CASE("top_k lists the best routes, best first") {
  Router router(desk_config());
  auto top = router.top_k("I forgot my password and my invoice", 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].score >= top[1].score);
  CHECK(top[1].score >= top[2].score);
  CHECK((top[0].route == "billing" || top[0].route == "account"));
  CHECK(router.top_k("where is my parcel", 1).size() == 1);
}

TEST_CASE("the LLM tier: a valid answer routes, anything else is a reason, never an exception") {
  Json config = desk_config();
  const std::string vague = "something is wrong and I need a person";
  SUBCASE("a valid answer") {
    RouterOptions options;
    options.model = scripted({"Sure! ```json\n{\"route\": \"account\", \"confidence\": 0.92}\n```"});
    Router router(config, options);
    auto r = router.route(vague);
    CHECK(r.tier == "llm");
    CHECK(r.route == "account");
    CHECK(r.confidence == doctest::Approx(0.92));
    CHECK(r.timings_us.llm >= 0);
  }
  SUBCASE("an unknown route, garbage, none, low confidence and a failed call") {
    RouterOptions options;
    auto model = std::make_shared<ScriptedModel>(std::vector<Json>{
        {{"content", R"({"route": "sales", "confidence": 0.99})"}},
        {{"content", "I think billing maybe"}},
        {{"content", R"({"route": null, "confidence": 0.9})"}},
        {{"content", R"({"route": "billing", "confidence": 0.3})"}},
        {{"error", {{"code", "provider"}, {"message", "overloaded"}}}}});
    options.model = model;
    Router router(config, options);
    auto unknown = router.route(vague);
    CHECK(unknown.tier == "none");
    CHECK(unknown.reason.find("sales") != std::string::npos);
    auto garbage = router.route(vague);
    CHECK(garbage.tier == "none");
    CHECK_FALSE(garbage.reason.empty());
    auto none = router.route(vague);
    CHECK(none.tier == "none");
    CHECK(none.reason.find("no matching route") != std::string::npos);
    auto low = router.route(vague);
    CHECK(low.tier == "none");
    CHECK(low.reason.find("below its threshold") != std::string::npos);
    auto failed = router.route(vague);
    CHECK(failed.tier == "none");
    CHECK(failed.reason.find("overloaded") != std::string::npos);
    // The prompt offered every route with its description.
    auto requests = model->requests();
    REQUIRE_FALSE(requests.empty());
    CHECK(requests[0].messages[0].content.find("shipping: Deliveries") != std::string::npos);
  }
  SUBCASE("use_llm false stops after the semantic tier") {
    RouterOptions options;
    auto model = scripted({R"({"route": "account", "confidence": 0.9})"});
    options.model = model;
    Router router(config, options);
    RouteRequest request;
    request.text = vague;
    request.use_llm = false;
    CHECK(router.route(request).tier == "none");
    CHECK(model->requests().empty());
  }
  SUBCASE("route_async answers through the model without blocking") {
    RouterOptions options;
    options.model = scripted({R"({"route": "shipping", "confidence": 0.85})"});
    Router router(config, options);
    std::promise<Result<RouteResult>> promise;
    RouteRequest request;
    request.text = vague;
    router.route_async(request, [&](Result<RouteResult> r) { promise.set_value(std::move(r)); });
    auto result = promise.get_future().get();
    REQUIRE(result.ok());
    CHECK(result.value().tier == "llm");
    CHECK(result.value().route == "shipping");
  }
}

TEST_CASE("fit tunes thresholds from labelled examples and evaluate measures them") {
  Router router(desk_config());
  std::vector<RouteExample> examples;
  auto add = [&](const char* text, std::optional<std::string> route) {
    RouteExample e;
    e.text = text;
    e.route = std::move(route);
    examples.push_back(e);
  };
  add("the bill is too high", "billing");
  add("I paid twice this month", "billing");
  add("change my payment card", "billing");
  add("my order never came", "shipping");
  add("the package is delayed", "shipping");
  add("track my delivery", "shipping");
  add("I can't sign in", "account");
  add("new password please", "account");
  add("update my profile email", "account");
  add("what is the weather in Paris", std::nullopt);
  add("tell me a joke", std::nullopt);
  add("who won the football game", std::nullopt);

  RouterEvaluation before = router.evaluate(examples);
  FitReport report = router.fit(examples);
  RouterEvaluation after = router.evaluate(examples);
  CHECK(report.seconds >= 0);
  CHECK(report.threshold > 0);
  CHECK(report.threshold <= 1);
  CHECK(after.accuracy >= before.accuracy);
  CHECK(after.examples == examples.size());
  CHECK(after.in_scope == 9);
  CHECK(after.out_of_scope == 3);
  CHECK(after.routes.contains("billing"));
  CHECK(after.routes["billing"].contains("precision"));
  Json j = after.to_json();
  for (const char* key : {"accuracy", "in_scope", "out_of_scope", "routes", "confused", "tiers"}) CHECK(j.contains(key));
  // The tuned thresholds are in the config, which builds an equal router.
  RouterConfig tuned = router.config();
  CHECK(tuned.routes[0].threshold.has_value());
  CHECK_FALSE(tuned.fitted.is_null());
  Router rebuilt(tuned);
  for (const auto& e : examples) CHECK(rebuilt.route(e.text).to_json()["route"] == router.route(e.text).to_json()["route"]);

  RouteExample unknown;
  unknown.text = "x";
  unknown.route = "sales";
  CHECK_THROWS_AS(router.fit({unknown}), Error);
  CHECK_THROWS_AS(router.fit({}), Error);
}

TEST_CASE("fit with a linear layer on many routes and evaluate's confusion pairs") {
  // Twelve routes of synthetic utterances sharing filler words.
  Json config = {{"routes", Json::array()}};
  const char* topics[] = {"apple", "river", "guitar", "planet", "bread", "tennis",
                          "violin", "winter", "garden", "rocket", "coffee", "castle"};
  const char* frames[] = {"tell me about the %s", "I love the %s so much", "where can I find a %s",
                          "what is a %s made of", "the %s is broken", "show me pictures of a %s"};
  std::vector<RouteExample> examples;
  for (const char* topic : topics) {
    Json utterances = Json::array();
    for (const char* frame : frames) {
      char text[128];
      std::snprintf(text, sizeof text, frame, topic);
      utterances.push_back(text);
    }
    config["routes"].push_back({{"name", topic}, {"utterances", utterances}});
    RouteExample e;
    e.text = std::string("I want to know more about ") + topic + "s";
    e.route = topic;
    examples.push_back(e);
  }
  Router router(config);
  FitOptions options;
  options.layer = "always";
  FitReport report = router.fit(examples, options);
  CHECK(report.layer);
  CHECK(router.evaluate(examples).in_scope_accuracy >= 0.9);
  // The layer survives the config's JSON.
  Router rebuilt(router.config().to_json());
  for (const auto& e : examples) CHECK(rebuilt.route(e.text).route == router.route(e.text).route);
}

TEST_CASE("a saved router loads without embedding and answers identically") {
  Router router(desk_config());
  std::vector<RouteExample> examples;
  for (const char* t : {"the bill is too high", "my order never came", "I can't sign in"}) {
    RouteExample e;
    e.text = t;
    e.route = t[4] == 'b' ? "billing" : t[3] == 'o' ? "shipping" : "account";
    examples.push_back(e);
  }
  router.fit(examples);
  const std::string path = temp_path("saved.keelr");
  router.save(path);
  CHECK(Router::is_saved_router(path));
  Router loaded = Router::load(path);
  for (const char* q : {"where is my parcel", "refund please", "password reset", "zebra quantum",
                        "I was billed twice", "change my address", ""}) {
    Json a = router.route(q).to_json(), b = loaded.route(q).to_json();
    a.erase("timings_us");
    b.erase("timings_us");
    CHECK(a == b);
  }
  CHECK(loaded.config().to_json() == router.config().to_json());

  // Damage: a flipped byte, a truncated file, garbage, a missing file.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x20;
  write(flipped);
  CHECK_THROWS_AS(Router::load(path), Error);
  write(bytes.substr(0, bytes.size() - 9));
  CHECK_THROWS_AS(Router::load(path), Error);
  write("KEELRTR1 not really");
  CHECK_THROWS_AS(Router::load(path), Error);
  write("{\"routes\": []}");
  CHECK_FALSE(Router::is_saved_router(path));
  CHECK_THROWS_AS(Router::load(path), Error);
  std::remove(path.c_str());
  CHECK_THROWS_AS(Router::load(path), Error);
  CHECK_FALSE(Router::is_saved_router(path));
}

TEST_CASE("add_route and remove_route change routing at run time") {
  Router router(desk_config());
  CHECK(router.route("I want to return these shoes").route != "returns");
  Route returns;
  returns.name = "returns";
  returns.utterances = {"I want to return these shoes", "how do I send an item back",
                        "return my order for a refund of the item", "the return label"};
  router.add_route(returns);
  CHECK(router.route_names().size() == 4);
  CHECK(router.route("how can I return these shoes").route == "returns");
  CHECK(router.remove_route("returns"));
  CHECK_FALSE(router.remove_route("returns"));
  CHECK(router.route("how can I return these shoes").route != "returns");
  Route bad;
  CHECK_THROWS_AS(router.add_route(bad), Error);  // no name
}

TEST_CASE("routing stays consistent while routes are added and removed concurrently") {
  Router router(desk_config());
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, routed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto r = router.route("where is my parcel");
        if (r.route != "shipping") ++wrong;
        (void)router.top_k("I need a refund", 2);
        ++routed;
      }
    });
  }
  // On a busy machine the writer could finish before any reader ran: start once they route.
  while (routed.load() < 3) std::this_thread::yield();
  for (int i = 0; i < 40; ++i) {
    Route extra;
    extra.name = "extra" + std::to_string(i % 4);
    extra.utterances = {"gardening tools and seeds " + std::to_string(i), "plant care advice"};
    router.add_route(extra);
    if (i % 3 == 0) router.remove_route("extra" + std::to_string((i + 1) % 4));
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(routed.load() > 0);
  CHECK(wrong.load() == 0);
}

TEST_CASE("a dense embedder over many utterances uses the HNSW index, which follows changes") {
  Json config = {{"semantic", {{"index", "hnsw"}}}, {"routes", Json::array()}};
  for (int r = 0; r < 20; ++r) {
    Json utterances = Json::array();
    for (int u = 0; u < 60; ++u)
      utterances.push_back("topic" + std::to_string(r) + " question number " + std::to_string(u) + " about item" +
                           std::to_string(r));
    config["routes"].push_back({{"name", "r" + std::to_string(r)}, {"utterances", utterances}});
  }
  RouterOptions options;
  options.embedder = std::make_shared<DenseTestEmbedder>();
  Router router(config, options);
  auto top = router.top_k("topic7 question about item7", 1);
  REQUIRE(top.size() == 1);
  CHECK(top[0].route == "r7");
  CHECK(router.remove_route("r7"));
  top = router.top_k("topic7 question about item7", 1);
  REQUIRE(top.size() == 1);
  CHECK(top[0].route != "r7");
  Route back;
  back.name = "r7";
  back.utterances = {"topic7 question about item7"};
  router.add_route(back);
  CHECK(router.top_k("topic7 question about item7", 1)[0].route == "r7");
  // A saved router with a host embedder needs one to load.
  const std::string path = temp_path("dense.keelr");
  router.save(path);
  CHECK_THROWS_AS(Router::load(path), Error);
  Router loaded = Router::load(path, options);
  CHECK(loaded.top_k("topic7 question about item7", 1)[0].route == "r7");
  std::remove(path.c_str());
}

TEST_CASE("a router event per request") {
  RouterOptions options;
  std::vector<Json> events;
  std::mutex mutex;
  options.events = [&](const Json& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  };
  Router router(desk_config(), options);
  router.route("refund please");
  std::lock_guard lock(mutex);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "router.route");
  CHECK(events[0]["route"] == "billing");
  CHECK(events[0]["tier"] == "condition");
}

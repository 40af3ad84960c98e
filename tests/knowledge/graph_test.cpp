// The graph: entities, typed weighted directed edges, neighbours and graph search.
#include <doctest/doctest.h>

#include <algorithm>

#include "kb_test_support.hpp"

using namespace keel;
using namespace keel::testing;

namespace {

// a -cites-> b -cites-> c -mentions-> paris (entity) <-mentions- d
KnowledgeBase citation_graph() {
  auto kb = KnowledgeBase::open(":memory:", small_options());
  kb.upsert({make_document("a", "alpha paper", {{"year", 2020}}, random_vector(16, 1)),
             make_document("b", "beta paper", {{"year", 2021}}, random_vector(16, 2)),
             make_document("c", "gamma paper", {{"year", 2022}}, random_vector(16, 3)),
             make_document("d", "delta paper", {{"year", 2023}}, random_vector(16, 4))});
  kb.upsert_entity({"paris", "city", {{"country", "FR"}}});
  kb.add_edges({{"a", "b", "cites", 0.5, Json::object()},
                {"b", "c", "cites", 0.8, Json::object()},
                {"c", "paris", "mentions", 1.0, Json::object()},
                {"d", "paris", "mentions", 1.0, Json::object()}});
  return kb;
}

std::vector<std::string> ids_of(const std::vector<Neighbour>& neighbours) {
  std::vector<std::string> ids;
  for (const auto& n : neighbours)
    ids.push_back(n.id);
  return ids;
}

}  // namespace

TEST_CASE("neighbours follow directed edges up to k hops, with weights multiplied along the path") {
  auto kb = citation_graph();
  NeighbourQuery one;
  CHECK(ids_of(kb.neighbours("a", one)) == std::vector<std::string>{"b"});
  NeighbourQuery three;
  three.hops = 3;
  auto reached = kb.neighbours("a", three);
  REQUIRE(reached.size() == 3);
  CHECK(reached[0].id == "b");
  CHECK(reached[0].hops == 1);
  CHECK(reached[1].id == "c");
  CHECK(reached[1].weight == doctest::Approx(0.4));
  CHECK(reached[1].via == "b");
  CHECK(reached[2].id == "paris");
  CHECK(reached[2].kind == "entity");
  CHECK(reached[2].edge_type == "mentions");
  // Edges are directed: nothing points out of paris.
  CHECK(kb.neighbours("paris", three).empty());
  NeighbourQuery incoming = three;
  incoming.direction = EdgeDirection::incoming;
  auto back = ids_of(kb.neighbours("paris", incoming));
  std::sort(back.begin(), back.end());
  CHECK(back == std::vector<std::string>{"a", "b", "c", "d"});
}

TEST_CASE("neighbours can be limited to some edge types") {
  auto kb = citation_graph();
  NeighbourQuery query;
  query.hops = 3;
  query.edge_types = {"cites"};
  CHECK(ids_of(kb.neighbours("a", query)) == std::vector<std::string>{"b", "c"});
  query.direction = EdgeDirection::both;
  query.edge_types = {"mentions"};
  CHECK(ids_of(kb.neighbours("d", query)) == std::vector<std::string>{"paris", "c"});
  CHECK_THROWS_AS(kb.neighbours("nobody", query), Error);
}

TEST_CASE("deleting a document or an entity deletes its edges") {
  auto kb = citation_graph();
  kb.remove("b");
  CHECK(kb.edges("a").empty());
  CHECK(kb.edges("c", EdgeDirection::incoming).empty());
  kb.remove_entity("paris");
  CHECK(kb.edges("d").empty());
  CHECK(kb.stats()["edges"] == 0);
  CHECK_FALSE(kb.get_entity("paris"));
}

TEST_CASE("an edge to an unknown node is not_found; ids are shared by documents and entities") {
  auto kb = citation_graph();
  try {
    kb.add_edge({"a", "ghost", "cites", 1.0, Json::object()});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::not_found);
    CHECK(std::string(e.what()).find("ghost") != std::string::npos);
  }
  CHECK_THROWS_AS(kb.add_edge({"a", "b", "cites", -1.0, Json::object()}), Error);
  CHECK_THROWS_AS(kb.add_edge({"a", "b", "", 1.0, Json::object()}), Error);
  CHECK_THROWS_AS(kb.upsert_entity({"a", "thing", Json::object()}), Error);
  // A batch of edges with one bad edge adds none.
  CHECK_THROWS_AS(kb.add_edges({{"a", "c", "cites", 1.0, Json::object()},
                                {"a", "ghost", "x", 1.0, Json::object()}}),
                  Error);
  CHECK(kb.edges("a").size() == 1);
  kb.add_edge({"a", "b", "cites", 2.0, Json::object()});  // replaces the weight
  auto edges = kb.edges("a");
  REQUIRE(edges.size() == 1);
  CHECK(edges[0].weight == 2.0);
  kb.remove_edge("a", "b", "cites");
  CHECK(kb.edges("a").empty());
  CHECK_THROWS_AS(kb.remove_edge("a", "b", "cites"), Error);
}

TEST_CASE("graph search expands from given seeds, decaying per hop and honouring filters") {
  auto kb = citation_graph();
  SearchQuery q;
  q.seeds = {"a"};
  q.use_keyword = q.use_vector = false;
  q.graph_hops = 2;
  q.graph_direction = EdgeDirection::outgoing;
  auto result = kb.search(q);
  REQUIRE(result.hits.size() == 2);
  CHECK(result.hits[0].id == "b");
  REQUIRE(result.hits[0].graph);
  CHECK(result.hits[0].graph->score == doctest::Approx(0.5 * 0.5));
  CHECK(result.hits[0].graph->hops == 1);
  CHECK(result.hits[1].id == "c");
  CHECK(result.hits[1].graph->score == doctest::Approx(0.4 * 0.25));
  CHECK(result.to_json()["hits"][1]["signals"]["graph"]["hops"] == 2);

  q.filter = {{"year", {{"gte", 2022}}}};
  CHECK(hit_ids(kb.search(q)) == std::vector<std::string>{"c"});

  // Through the entity: d reaches c via paris in two hops (both directions).
  SearchQuery via_entity;
  via_entity.seeds = {"d"};
  via_entity.use_keyword = via_entity.use_vector = false;
  via_entity.graph_hops = 2;
  CHECK(hit_ids(kb.search(via_entity)) == std::vector<std::string>{"c"});
}

TEST_CASE("graph search from the top hits brings in linked documents the text does not match") {
  auto kb = citation_graph();
  SearchQuery q;
  q.text = "alpha";
  q.use_vector = false;
  q.use_graph = true;
  q.graph_seed_hits = 1;
  auto result = kb.search(q);
  auto ids = hit_ids(result);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == "a");
  CHECK(ids[1] == "b");
  CHECK(result.hits[1].graph);
  CHECK_FALSE(result.hits[1].keyword);
}

#include "knowledge/graph.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "keel/error.hpp"

namespace keel::knowledge {

NodeKind node_kind(Connection& connection, const std::string& id) {
  {
    auto document = connection.prepare("SELECT 1 FROM documents WHERE id = ?1");
    if (document.bind_text(1, id).step()) return NodeKind::document;
  }
  auto entity = connection.prepare("SELECT 1 FROM entities WHERE id = ?1");
  if (entity.bind_text(1, id).step()) return NodeKind::entity;
  return NodeKind::none;
}

const char* to_string(NodeKind kind) noexcept {
  switch (kind) {
    case NodeKind::document:
      return "document";
    case NodeKind::entity:
      return "entity";
    default:
      return "none";
  }
}

void put_edge(Connection& connection, const Edge& edge) {
  if (edge.type.empty()) {
    throw Error(Errc::invalid_argument, "edge " + edge.from + " -> " + edge.to + ": empty type");
  }
  if (!std::isfinite(edge.weight) || edge.weight <= 0) {
    throw Error(Errc::invalid_argument,
                "edge " + edge.from + " -> " + edge.to + ": weight must be a number > 0");
  }
  if (!edge.properties.is_object()) {
    throw Error(Errc::invalid_argument,
                "edge " + edge.from + " -> " + edge.to + ": properties must be an object");
  }
  for (const auto* end : {&edge.from, &edge.to}) {
    if (node_kind(connection, *end) == NodeKind::none) {
      throw Error(Errc::not_found, "edge " + edge.from + " -> " + edge.to +
                                       ": no document or entity \"" + *end + "\"");
    }
  }
  auto statement = connection.prepare(
      "INSERT INTO edges(source, target, type, weight, properties) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(source, target, type) DO UPDATE SET weight = excluded.weight, "
      "properties = excluded.properties");
  statement.bind_text(1, edge.from)
      .bind_text(2, edge.to)
      .bind_text(3, edge.type)
      .bind(4, edge.weight)
      .bind_text(5, edge.properties.dump())
      .run();
}

bool delete_edge(Connection& connection, const std::string& from, const std::string& to,
                 const std::string& type) {
  auto statement =
      connection.prepare("DELETE FROM edges WHERE source = ?1 AND target = ?2 AND type = ?3");
  statement.bind_text(1, from).bind_text(2, to).bind_text(3, type).run();
  return connection.changes() > 0;
}

void delete_edges_of(Connection& connection, const std::string& id) {
  auto outgoing = connection.prepare("DELETE FROM edges WHERE source = ?1");
  outgoing.bind_text(1, id).run();
  auto incoming = connection.prepare("DELETE FROM edges WHERE target = ?1");
  incoming.bind_text(1, id).run();
}

namespace {

Edge edge_from_row(Statement& row) {
  Edge edge;
  edge.from = std::string(row.text(0));
  edge.to = std::string(row.text(1));
  edge.type = std::string(row.text(2));
  edge.weight = row.real(3);
  edge.properties = Json::parse(row.text(4), nullptr, false);
  if (!edge.properties.is_object()) edge.properties = Json::object();
  return edge;
}

}  // namespace

std::vector<Edge> edges_of(Connection& connection, const std::string& id, EdgeDirection direction) {
  std::vector<Edge> out;
  if (direction != EdgeDirection::incoming) {
    auto rows = connection.prepare(
        "SELECT source, target, type, weight, properties FROM edges WHERE source = ?1");
    rows.bind_text(1, id);
    while (rows.step())
      out.push_back(edge_from_row(rows));
  }
  if (direction != EdgeDirection::outgoing) {
    auto rows = connection.prepare(
        "SELECT source, target, type, weight, properties FROM edges WHERE target = ?1");
    rows.bind_text(1, id);
    while (rows.step()) {
      Edge edge = edge_from_row(rows);
      // A self-loop was already listed as outgoing.
      if (direction == EdgeDirection::both && edge.from == edge.to) continue;
      out.push_back(std::move(edge));
    }
  }
  return out;
}

std::size_t edge_count(Connection& connection) {
  auto rows = connection.prepare("SELECT count(*) FROM edges");
  return rows.step() ? static_cast<std::size_t>(rows.int64(0)) : 0;
}

std::vector<Reached> traverse(Connection& connection,
                              const std::vector<std::pair<std::string, double>>& seeds,
                              std::size_t hops, const std::vector<std::string>& edge_types,
                              EdgeDirection direction, std::size_t max_nodes) {
  std::unordered_set<std::string> types(edge_types.begin(), edge_types.end());
  std::unordered_set<std::string> visited;
  std::vector<std::pair<std::string, double>> frontier;
  for (const auto& [id, weight] : seeds) {
    if (visited.insert(id).second) frontier.emplace_back(id, weight);
  }
  std::vector<Reached> out;
  auto follow = [&](const char* sql, const std::string& from, double weight,
                    std::unordered_map<std::string, Reached>& level, std::size_t hop) {
    auto rows = connection.prepare(sql);
    rows.bind_text(1, from);
    while (rows.step()) {
      std::string type(rows.text(1));
      if (!types.empty() && !types.count(type)) continue;
      std::string other(rows.text(0));
      if (visited.count(other)) continue;  // reached by a shorter path (or a seed)
      double reached_weight = weight * rows.real(2);
      auto [it, added] = level.try_emplace(other);
      if (added || reached_weight > it->second.weight) {
        it->second = Reached{other, hop, reached_weight, from, std::move(type)};
      }
    }
  };
  for (std::size_t hop = 1; hop <= hops && !frontier.empty() && out.size() < max_nodes; ++hop) {
    std::unordered_map<std::string, Reached> level;
    for (const auto& [id, weight] : frontier) {
      if (direction != EdgeDirection::incoming) {
        follow("SELECT target, type, weight FROM edges WHERE source = ?1", id, weight, level, hop);
      }
      if (direction != EdgeDirection::outgoing) {
        follow("SELECT source, type, weight FROM edges WHERE target = ?1", id, weight, level, hop);
      }
    }
    std::vector<Reached> reached;
    reached.reserve(level.size());
    for (auto& [id, node] : level)
      reached.push_back(std::move(node));
    std::sort(reached.begin(), reached.end(), [](const Reached& a, const Reached& b) {
      return a.weight != b.weight ? a.weight > b.weight : a.id < b.id;
    });
    frontier.clear();
    for (auto& node : reached) {
      if (out.size() >= max_nodes) break;
      visited.insert(node.id);
      frontier.emplace_back(node.id, node.weight);
      out.push_back(std::move(node));
    }
  }
  return out;
}

}  // namespace keel::knowledge

// Internal: the graph tables (entities, edges) and traversals over them. Nodes are documents
// or entities, which share one id space; edges are typed, weighted and directed.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "keel/knowledge.hpp"
#include "knowledge/sqlite.hpp"

namespace keel::knowledge {

enum class NodeKind { none, document, entity };

NodeKind node_kind(Connection& connection, const std::string& id);
const char* to_string(NodeKind kind) noexcept;

/// Inserts or replaces the edge (from, to, type). Throws Error(not_found) naming an end that
/// is neither a document nor an entity, Error(invalid_argument) for a bad edge.
void put_edge(Connection& connection, const Edge& edge);
/// False when there was no such edge.
bool delete_edge(Connection& connection, const std::string& from, const std::string& to,
                 const std::string& type);
/// Deletes every edge from or to `id`.
void delete_edges_of(Connection& connection, const std::string& id);
std::vector<Edge> edges_of(Connection& connection, const std::string& id, EdgeDirection direction);
std::size_t edge_count(Connection& connection);

/// A node reached by a traversal.
struct Reached {
  std::string id;
  std::size_t hops = 0;
  double weight = 0;  // seed weight times the best product of edge weights on a shortest path
  std::string via;
  std::string edge_type;
};

/// Breadth-first from the seeds (id, starting weight) up to `hops`, following edges of the
/// given types (all when empty) in `direction`; nodes in order of hops, then weight. Seeds
/// are not returned. Stops expanding once `max_nodes` nodes are reached.
std::vector<Reached> traverse(Connection& connection,
                              const std::vector<std::pair<std::string, double>>& seeds,
                              std::size_t hops, const std::vector<std::string>& edge_types,
                              EdgeDirection direction, std::size_t max_nodes);

}  // namespace keel::knowledge

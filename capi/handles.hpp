// Internal: the C handles that more than one part of the C ABI reaches into (an agent takes a
// model, a toolset and a firewall; a router a model and an embedder), defined once.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>

#include "boundary.hpp"
#include "keel/firewall.hpp"
#include "keel/llm.hpp"
#include "keel/tools.hpp"

struct keel_model {
  std::shared_ptr<keel::ChatModel> model;
};

struct keel_embedder {
  std::shared_ptr<keel::Embedder> embedder;
};

struct keel_call {
  keel::CancellationSource cancel;
};

// Shared so that an agent made from it keeps it after keel_firewall_free.
struct keel_firewall {
  std::shared_ptr<keel::Firewall> firewall;
};

// A registry that keel_toolset_add/remove may change while calls read it: calls copy the tool
// they need under the reader lock (tools share their implementation, so the copy is cheap).
struct keel_toolset {
  mutable std::shared_mutex mutex;
  keel::ToolRegistry tools;
  /// A copy for an agent or planner being made.
  keel::ToolRegistry snapshot() const {
    std::shared_lock lock(mutex);
    return tools;
  }
};

struct keel_reply {
  std::optional<std::string> json;
  std::optional<std::pair<keel_status, std::string>> error;
  // For keel_reply_cancelled: the call's cancellation and deadline (tools).
  keel::CancellationToken cancel;
  keel::Deadline deadline;
};

namespace keel::capi {

/// What a host callback answered through its keel_reply (after returning `rc`): the JSON it
/// set, or an Error — the code it reported (`fallback` when outside the known codes), or
/// `fallback` naming `what` when it returned non-zero or answered nothing.
inline Json reply_value(const keel_reply& reply, int rc, const std::string& what, Errc fallback) {
  if (reply.error) {
    Errc code = reply.error->first >= 1 && reply.error->first <= 12 ? static_cast<Errc>(reply.error->first)
                                                                   : fallback;
    throw Error(code, reply.error->second);
  }
  if (rc != 0) throw Error(fallback, what + " callback failed (returned " + std::to_string(rc) + ")");
  if (!reply.json) throw Error(fallback, what + " callback gave no answer");
  return parse_json(*reply.json, what + " callback answer");
}

}  // namespace keel::capi

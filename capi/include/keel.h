/**
 * \file
 * keel.h — the C ABI of keel, an embeddable library for AI-agent systems.
 *
 * This is the only C header. It is C99 and compiles with -std=c99 -pedantic -Werror.
 *
 * Conventions (they hold for every function in this header):
 * - Every fallible function returns a keel_status (KEEL_OK = 0) and takes an optional
 *   `keel_error** err` as its last argument. On failure, when err is not NULL, *err receives a
 *   new error (code + message) that the caller frees with keel_error_free(). On success *err is
 *   left untouched. There is no thread-local error state: goroutines and async tasks may move
 *   between threads freely.
 * - Handles are opaque, one distinct type per component. keel_X_new() writes the handle through
 *   an out-parameter; keel_X_free() accepts NULL.
 * - Structured inputs and outputs cross as UTF-8 JSON strings (the same JSON as the C++
 *   from_json/to_json). Strings returned through `char**` out-parameters are owned by the caller
 *   and freed with keel_free(). Strings returned as `const char*` are borrowed; each function
 *   says how long they live.
 * - Offsets into text are byte offsets into the UTF-8 input: start inclusive, end exclusive.
 * - No exception ever crosses this boundary: a C++ failure becomes a status and an error.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>

/** The major version of this header. The library reports its own through keel_version(). */
#define KEEL_VERSION_MAJOR 0
/** The minor version of this header. */
#define KEEL_VERSION_MINOR 1
/** The patch version of this header. */
#define KEEL_VERSION_PATCH 0
/** The version of this header as "major.minor.patch". */
#define KEEL_VERSION_STRING "0.1.0"
/** The ABI generation; also the SONAME suffix (libkeel.so.1). It changes only when a function
 * of this header changes incompatibly. */
#define KEEL_ABI_VERSION 1

#ifndef KEEL_API
#if defined(_WIN32)
#if defined(KEEL_BUILDING_LIBRARY)
#define KEEL_API __declspec(dllexport)
#else
#define KEEL_API __declspec(dllimport)
#endif
#else
#define KEEL_API __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. They mirror keel::Errc; values are stable and new ones are only appended. */
typedef enum keel_status {
  KEEL_OK = 0,               /**< success */
  KEEL_INVALID_ARGUMENT = 1, /**< a caller-supplied argument is wrong (NULL handle, bad value) */
  KEEL_INVALID_CONFIG = 2,   /**< a configuration is invalid; the message names the JSON path */
  KEEL_NOT_FOUND = 3,        /**< the named item does not exist */
  KEEL_IO = 4,               /**< a file, socket or process operation failed */
  KEEL_TIMEOUT = 5,          /**< a deadline or timeout expired */
  KEEL_CANCELLED = 6,        /**< the operation was cancelled */
  KEEL_UNAVAILABLE = 7,      /**< a circuit breaker is open, or a service cannot be reached */
  KEEL_PROVIDER = 8,         /**< an LLM provider or HTTP error */
  KEEL_TOOL = 9,             /**< a tool failed */
  KEEL_PARSE = 10,           /**< input could not be parsed (JSON, a model reply, a plan) */
  KEEL_LIMIT_EXCEEDED = 11,  /**< a size, count, token or budget limit was exceeded */
  KEEL_INTERNAL = 12         /**< a bug in keel; please report it */
} keel_status;

/** Error detail: a status code and a human-readable message. Opaque; freed with
 * keel_error_free(). */
typedef struct keel_error keel_error;

/** The library's version string, such as "0.1.0". Borrowed: static storage, never freed. */
KEEL_API const char* keel_version(void);

/** The library's ABI generation (KEEL_ABI_VERSION of the header it was built from). */
KEEL_API int keel_abi_version(void);

/** Checks that the loaded library serves the ABI a host was compiled against. Call it once at
 * start-up as keel_check_abi(KEEL_ABI_VERSION, &err). Returns KEEL_INVALID_ARGUMENT with a
 * message naming both versions when they differ. */
KEEL_API keel_status keel_check_abi(int host_abi_version, keel_error** err);

/** The stable name of a status code ("ok", "invalid_config", ...). Borrowed: static storage.
 * Unknown codes give "unknown". */
KEEL_API const char* keel_status_name(keel_status status);

/** The code of an error (KEEL_INTERNAL for NULL). */
KEEL_API keel_status keel_error_code(const keel_error* err);

/** The message of an error. Borrowed: valid until keel_error_free(err). "" for NULL. */
KEEL_API const char* keel_error_message(const keel_error* err);

/** Frees an error. Accepts NULL. */
KEEL_API void keel_error_free(keel_error* err);

/** Frees a string or buffer that keel returned to the caller. Accepts NULL. */
KEEL_API void keel_free(void* ptr);

/** A host callback that receives one structured event as JSON (type, ts, duration_us, fields).
 * The string is borrowed for the duration of the call. Events may arrive from any thread. */
typedef void (*keel_event_fn)(const char* event_json, void* user_data);

/* ---- Firewall --------------------------------------------------------------------------- */
/**
 * Screens text going into a model (prompts, retrieved documents, tool results) and coming out
 * (replies, tool arguments). Verdicts are JSON:
 *   {"decision": "allow|flag|block", "risk": 0.97,
 *    "findings": [{"category": "threat.instruction_override", "rule": "...", "severity": 0.9,
 *                  "start": 0, "end": 31, "encoding"?: "base64"}],
 *    "redacted"?: "...", "truncated"?: true}
 * with byte offsets into the UTF-8 text. Invalid UTF-8 is scanned as bytes. A firewall is safe to
 * use from many threads at once (except keel_firewall_set_event_callback). */
typedef struct keel_firewall keel_firewall;

/** Which way the text travels. */
typedef enum keel_direction { KEEL_DIRECTION_INPUT = 0, KEEL_DIRECTION_OUTPUT = 1 } keel_direction;

/** What to do with the text. */
typedef enum keel_decision { KEEL_ALLOW = 0, KEEL_FLAG = 1, KEEL_BLOCK = 2 } keel_decision;

/** Creates a firewall from configuration JSON (NULL or "" for the defaults). Errors:
 * KEEL_INVALID_CONFIG naming the JSON path, KEEL_PARSE for malformed JSON. */
KEEL_API keel_status keel_firewall_new(const char* config_json, keel_firewall** out,
                                       keel_error** err);

/** Frees a firewall. Accepts NULL. */
KEEL_API void keel_firewall_free(keel_firewall* firewall);

/** Scans `len` bytes of `text` (need not be NUL-terminated). *verdict_json receives the verdict
 * (caller frees with keel_free). KEEL_LIMIT_EXCEEDED when the text is over max_input_bytes and
 * the configuration says "oversize": "error". */
KEEL_API keel_status keel_firewall_scan(const keel_firewall* firewall, const char* text,
                                        size_t len, keel_direction direction,
                                        char** verdict_json, keel_error** err);

/** The fast path: decision and risk only (no findings, no redaction, no JSON). */
KEEL_API keel_status keel_firewall_check(const keel_firewall* firewall, const char* text,
                                         size_t len, keel_direction direction,
                                         keel_decision* decision, double* risk, keel_error** err);

/** Redacts PII and secrets. `vault_json` is a vault from an earlier call ({"<EMAIL_1>": "..."})
 * or NULL for a new one; the same value keeps its placeholder across calls sharing a vault.
 * *result_json receives {"text": "...", "findings": [...], "vault": {...}} (caller frees). */
KEEL_API keel_status keel_firewall_redact(const keel_firewall* firewall, const char* text,
                                          size_t len, keel_direction direction,
                                          const char* vault_json, char** result_json,
                                          keel_error** err);

/** Replaces the vault's placeholders in `text` (a model reply) by their values. *restored
 * receives the text (caller frees). */
KEEL_API keel_status keel_firewall_restore(const char* text, size_t len, const char* vault_json,
                                           char** restored, keel_error** err);

/** The compiled rule catalogue as a JSON array of {id, category, severity, view, direction,
 * lang, description} (caller frees). */
KEEL_API keel_status keel_firewall_rules(const keel_firewall* firewall, char** rules_json,
                                         keel_error** err);

/** Receives a "firewall.scan" event per scan (never the text). Set it before sharing the
 * firewall between threads; NULL removes it. `user_data` must outlive the firewall. */
KEEL_API keel_status keel_firewall_set_event_callback(keel_firewall* firewall,
                                                      keel_event_fn callback, void* user_data,
                                                      keel_error** err);

/* ---- Models and embedders --------------------------------------------------------------- */
/**
 * A model comes from the model file format ({"provider": "openai" | "anthropic" | "scripted",
 * "base_url", "model", "api_key_env", "timeout_ms", "retry", "circuit_breaker", "fallback"...})
 * or from a host callback. Requests and responses are JSON:
 *   request  {"messages": [{"role": "user", "content": "..."}], "tools": [...], "temperature",
 *             "max_tokens", "stop", "response_format", "tool_choice"}
 *   response {"message": {"role": "assistant", "content": "...", "tool_calls": [...]},
 *             "finish_reason": "stop" | "tool_calls" | "length", "usage": {...}, "model": "..."}
 * Models and embedders are safe to use from many threads at once. */
typedef struct keel_model keel_model;
/** An embedder: turns texts into vectors of a fixed dimension (see keel_model for its JSON and
 * thread safety). */
typedef struct keel_embedder keel_embedder;

/** Where a host callback puts its answer (keel copies it). Valid only during the callback. */
typedef struct keel_reply keel_reply;
/** Sets the answer: a response JSON (models) or a JSON array of vectors (embedders). */
KEEL_API void keel_reply_set(keel_reply* reply, const char* json);
/** Reports a failure instead; `message` reaches the caller's error. */
KEEL_API void keel_reply_error(keel_reply* reply, keel_status code, const char* message);

/** A host model: receives the request JSON, answers through `reply`, returns 0 (or non-zero for
 * a failure when keel_reply_error was not called). Runs on one of keel's threads. */
typedef int (*keel_model_fn)(const char* request_json, keel_reply* reply, void* user_data);
/** A host embedder: receives a JSON array of texts, answers a JSON array of float arrays. */
typedef int (*keel_embed_fn)(const char* texts_json, keel_reply* reply, void* user_data);
/** A streamed piece: {"kind": "text", "text": "..."} or {"kind": "tool_call", "index": 0,
 * "id"?, "name"?, "arguments": "..."}. Borrowed for the call's duration. */
typedef void (*keel_delta_fn)(const char* delta_json, void* user_data);
/** An asynchronous call's completion: status KEEL_OK with the response JSON, or an error
 * status with the error message. Borrowed for the call's duration. */
typedef void (*keel_done_fn)(keel_status status, const char* json_or_message, void* user_data);

/** Creates a model from the model file format. KEEL_INVALID_CONFIG names the JSON path. */
KEEL_API keel_status keel_model_new(const char* config_json, keel_model** out, keel_error** err);
/** Creates a model whose answers come from `fn`. `user_data` must outlive the model. */
KEEL_API keel_status keel_model_new_callback(keel_model_fn fn, void* user_data, keel_model** out,
                                             keel_error** err);
/** Frees a model. Accepts NULL. Calls in flight keep what they need alive. */
KEEL_API void keel_model_free(keel_model* model);

/** One blocking call. `options_json` may be NULL or {"timeout_ms": N} (the whole call, retries
 * included). When `on_delta` is not NULL the call streams and reports each piece first.
 * *response_json receives the response (caller frees). Errors carry the provider's HTTP status
 * and message (never the API key). Must not be called from inside a keel callback. */
KEEL_API keel_status keel_model_chat(keel_model* model, const char* request_json,
                                     const char* options_json, keel_delta_fn on_delta,
                                     void* user_data, char** response_json, keel_error** err);

/** An asynchronous call in flight; cancel it, then free it (freeing does not cancel). */
typedef struct keel_call keel_call;
/** Starts a call; `done` runs exactly once on a keel thread (so do `on_delta` pieces, before
 * it). *call receives a handle for keel_call_cancel (caller frees with keel_call_free). */
KEEL_API keel_status keel_model_chat_async(keel_model* model, const char* request_json,
                                           const char* options_json, keel_delta_fn on_delta,
                                           keel_done_fn done, void* user_data, keel_call** call,
                                           keel_error** err);
/** Cancels a call: its `done` soon reports KEEL_CANCELLED (unless it already completed). */
KEEL_API void keel_call_cancel(keel_call* call);
/** Frees a call handle. Accepts NULL. */
KEEL_API void keel_call_free(keel_call* call);

/** Creates an embedder: {"provider": "hashing", "dimension": 1024, ...} or
 * {"provider": "openai", "base_url", "model", "dimension", "batch_size", ...}. */
KEEL_API keel_status keel_embedder_new(const char* config_json, keel_embedder** out,
                                       keel_error** err);
/** Creates an embedder whose vectors come from `fn` (each of `dimension` floats). */
KEEL_API keel_status keel_embedder_new_callback(size_t dimension, keel_embed_fn fn,
                                                void* user_data, keel_embedder** out,
                                                keel_error** err);
/** Frees an embedder. Accepts NULL. */
KEEL_API void keel_embedder_free(keel_embedder* embedder);
/** The vectors' dimension (0 for NULL, or for an HTTP embedder before its first answer when
 * none was configured). */
KEEL_API size_t keel_embedder_dimension(const keel_embedder* embedder);
/** Embeds a JSON array of strings; *vectors_json receives a JSON array of float arrays. */
KEEL_API keel_status keel_embedder_embed(const keel_embedder* embedder, const char* texts_json,
                                         char** vectors_json, keel_error** err);
/** The fast path: one text (`len` bytes) into `out`, which holds `capacity` floats (at least the
 * dimension). */
KEEL_API keel_status keel_embedder_embed_one(const keel_embedder* embedder, const char* text,
                                             size_t len, float* out, size_t capacity,
                                             keel_error** err);

/* ---- Router ----------------------------------------------------------------------------- */
/**
 * Decides which route (a skill, an agent, a queue) handles a request through a three-tier
 * cascade where the first confident tier wins: condition (keywords, RE2 patterns, metadata
 * predicates), semantic (the request embedded and compared with each route's utterances), and
 * llm (a model picks among the route names and descriptions). The configuration is the routes
 * file of SPEC.md:
 *   {"exit_threshold": 0.8, "fallback": "general",
 *    "routes": [{"name", "description", "conditions": [...], "utterances": [...],
 *                "threshold"}], "top_k", "embedder", "semantic", "llm", "fitted"}
 * Results are JSON:
 *   {"route": "billing" | null, "confidence": 0.93,
 *    "tier": "condition" | "semantic" | "llm" | "fallback" | "none",
 *    "candidates": [{"route", "score"}],
 *    "timings_us": {"condition", "semantic", "llm", "total"}, "reason"?: "..."}
 * Labelled examples (fit, evaluate) are a JSON array of
 *   {"text": "...", "metadata"?: {...}, "route": "name" | null}     (null: out of scope).
 * A router is safe to use from many threads at once: route, route_text, route_async, top_k,
 * evaluate, config and save run concurrently, and fit, add_route and remove_route may run
 * alongside them (routing sees the routes before or after a change, never half of it).
 * Malformed JSON is KEEL_PARSE; a bad configuration is KEEL_INVALID_CONFIG naming the JSON path
 * ("routes[3].threshold: expected number, got string"); a bad request or example is
 * KEEL_INVALID_ARGUMENT naming its path ("examples[2].route: required (null: out of scope)"). */
typedef struct keel_router keel_router;

/** Creates a router from routes-file JSON (required). `model` (may be NULL: the llm tier is
 * skipped) and `embedder` (may be NULL: the configuration's "embedder", else the built-in
 * hashing embedder) are borrowed: the router takes its own reference, so they may be freed
 * right after this call. Embeds every utterance before returning. *out receives the router
 * (free with keel_router_free). */
KEEL_API keel_status keel_router_new(const char* config_json, keel_model* model,
                                     keel_embedder* embedder, keel_router** out,
                                     keel_error** err);

/** Frees a router. Accepts NULL. No call on it may be in progress. */
KEEL_API void keel_router_free(keel_router* router);

/** Routes one request: `request_json` is {"text": "...", "metadata"?: {...}} or a JSON string,
 * plus two optional run settings: "use_llm": false stops after the semantic tier, and
 * "timeout_ms": N bounds the whole request. *result_json receives the result (caller frees
 * with keel_free). Whatever the model answers or fails with becomes tier "none" or "fallback"
 * with a "reason", not an error. Blocks while the llm tier waits on the model, so it must not
 * be called from inside a keel callback (KEEL_INVALID_ARGUMENT): use keel_router_route_async. */
KEEL_API keel_status keel_router_route(const keel_router* router, const char* request_json,
                                       char** result_json, keel_error** err);

/** The fast path for a request without metadata: `len` bytes of `text` (need not be
 * NUL-terminated). *result_json receives the result (caller frees with keel_free). */
KEEL_API keel_status keel_router_route_text(const keel_router* router, const char* text,
                                            size_t len, char** result_json, keel_error** err);

/** Routes asynchronously: the condition and semantic tiers run on the calling thread, the llm
 * tier on keel's executor without holding a thread. `done` runs exactly once, with KEEL_OK and
 * the result JSON or an error status and its message (borrowed for the call's duration); it
 * may run before this function returns (when no model is needed) or on a keel thread.
 * When `call` is not NULL, *call receives a handle for keel_call_cancel (caller frees it with
 * keel_call_free; freeing does not cancel). When this function fails, `done` is never called. */
KEEL_API keel_status keel_router_route_async(const keel_router* router, const char* request_json,
                                             keel_done_fn done, void* user_data, keel_call** call,
                                             keel_error** err);

/** The `k` (>= 1) best routes for `len` bytes of `text` by the condition and semantic tiers,
 * best first. `metadata_json` may be NULL or a JSON object for the metadata conditions.
 * *candidates_json receives a JSON array of {"route", "score"} (caller frees with keel_free). */
KEEL_API keel_status keel_router_top_k(const keel_router* router, const char* text, size_t len,
                                       size_t k, const char* metadata_json,
                                       char** candidates_json, keel_error** err);

/** Learns from labelled examples: trains the semantic layer, calibrates confidence and tunes
 * per-route thresholds; the llm tier is not consulted. `options_json` may be NULL or
 * {"layer": "auto" | "always" | "never", "epochs", "l2", "per_route_thresholds", "seed"}.
 * *report_json receives {"layer", "threshold", "objective", "in_scope_accuracy",
 * "out_of_scope_recall", "routes_tuned", "seconds"} (caller frees; `report_json` may be NULL
 * when the report is not wanted). KEEL_INVALID_ARGUMENT for an empty list or an example naming
 * an unknown route. */
KEEL_API keel_status keel_router_fit(keel_router* router, const char* examples_json,
                                     const char* options_json, char** report_json,
                                     keel_error** err);

/** Routes every labelled example (the llm tier only when `use_llm` is non-zero) and measures the
 * outcome. *evaluation_json receives {"examples", "accuracy", "in_scope": {"examples",
 * "accuracy"}, "out_of_scope": {"examples", "recall", "precision"}, "tiers": {...},
 * "routes": {"name": {"precision", "recall", "support"}}, "confused": [{"expected",
 * "predicted", "count"}]} (caller frees with keel_free). */
KEEL_API keel_status keel_router_evaluate(const keel_router* router, const char* examples_json,
                                          int use_llm, char** evaluation_json, keel_error** err);

/** Adds a route ({"name", "description", "conditions", "utterances", "threshold"}), or replaces
 * the route of the same name. KEEL_INVALID_CONFIG names the JSON path ("route.conditions[0]"). */
KEEL_API keel_status keel_router_add_route(keel_router* router, const char* route_json,
                                           keel_error** err);

/** Removes the route called `name`. *removed (when `removed` is not NULL) receives 1, or 0 when
 * there was no such route (not an error). */
KEEL_API keel_status keel_router_remove_route(keel_router* router, const char* name,
                                              int* removed, keel_error** err);

/** The configuration as it stands (routes, tuned thresholds, learnt state): a routes file that
 * keel_router_new accepts. *config_json receives it (caller frees with keel_free). */
KEEL_API keel_status keel_router_config(const keel_router* router, char** config_json,
                                        keel_error** err);

/** Saves the router with its utterance vectors and learnt state to one file at `path` (written
 * to a temporary file and renamed), so keel_router_load does not embed again. */
KEEL_API keel_status keel_router_save(const keel_router* router, const char* path,
                                      keel_error** err);

/** Loads what keel_router_save wrote. `model` and `embedder` are borrowed as in keel_router_new;
 * an embedder given here must have the saved dimension. A damaged file is KEEL_IO or
 * KEEL_PARSE, never a crash. *out receives the router (free with keel_router_free). */
KEEL_API keel_status keel_router_load(const char* path, keel_model* model,
                                      keel_embedder* embedder, keel_router** out,
                                      keel_error** err);

/** 1 when `path` starts like a file keel_router_save wrote, else 0 (also for NULL or a file
 * that cannot be read). */
KEEL_API int keel_router_is_saved(const char* path);

/** Receives a "router.route" event per routed request; NULL removes it. Events may arrive from
 * any thread. When this returns, the previous callback is no longer running and will not be
 * called again, so its user_data may be released. Must not be called from inside the
 * callback. */
KEEL_API keel_status keel_router_set_event_callback(keel_router* router, keel_event_fn callback,
                                                    void* user_data, keel_error** err);

/* ---- Knowledge -------------------------------------------------------------------------- */
/**
 * A knowledge base in one SQLite file (WAL) plus its HNSW index file `<path>.hnsw` beside it
 * (a cache, rebuilt or caught up from SQLite when missing or stale), or in memory (":memory:").
 * Documents, a graph of documents and named entities, and hybrid search. JSON shapes:
 *   document  {"id": "...", "text": "...", "metadata"?: {...}, "vector"?: [floats]}
 *             (without a vector the text is embedded by the base's embedder)
 *   entity    {"id": "...", "type"?: "...", "properties"?: {...}}
 *   edge      {"from": "...", "to": "...", "type": "...", "weight"?: 1.0, "properties"?: {...}}
 *   neighbour {"id", "kind": "document" | "entity", "hops", "weight", "via", "edge_type"}
 *   query     {"text", "vector"?, "k": 10, "filter"?: {"lang": {"eq": "fr"}, "year": {"gte":
 *              2023}}, "signals"?: {"keyword": true, "vector": true, "graph": false},
 *              "keyword"?: {"mode": "any" | "all" | "phrase", "prefix": false},
 *              "graph"?: {"seeds": [...], "hops", "decay", "edge_types", "direction",
 *              "seed_hits"}, "fusion"?: {"method": "rrf" | "weighted", "rrf_k": 60,
 *              "candidates": 50, "weights": {...}}, "ef_search"?, "snippet"?: {...}}
 *   result    {"hits": [{"id", "score", "snippet", "metadata", "text",
 *              "signals": {"keyword": {"rank", "score"}, "vector": {...},
 *                          "graph": {"rank", "score", "hops"}}}],
 *              "timings_us": {"keyword", "vector", "graph", "total"},
 *              "vector_strategy": "none" | "index" | "exact"}
 * Filters are applied inside each signal, so a selective filter still yields k hits.
 * A knowledge base is safe to use from many threads at once: reads (get, count, neighbours,
 * edges, search, stats) run concurrently and never wait for a writer of a file base; writes
 * (upsert, delete, graph changes, checkpoint, compact) are serialised. Freeing or closing it
 * while another call on it is in progress is the caller's bug. Malformed JSON is KEEL_PARSE; a
 * bad document, edge or query is KEEL_INVALID_ARGUMENT naming its JSON path
 * ("documents[2].id: required"); a bad filter is KEEL_INVALID_CONFIG naming
 * "filter.<field>"; bad options are KEEL_INVALID_CONFIG naming the option. */
typedef struct keel_kb keel_kb;

/** Opens or creates the knowledge base at `path` ("" is refused; ":memory:" for one in memory).
 * `options_json` may be NULL or {"dimension", "metric": "cosine" | "inner_product", "hnsw":
 * {"m", "ef_construction", "ef_search", "seed", "quantization": "int8" | "none"},
 * "synchronous": "normal" | "full", "embedder": {...}, "compaction": {...}, "read_connections",
 * "index_threads"}. `embedder`
 * (may be NULL: the options' "embedder", else the built-in hashing embedder) is borrowed: the
 * base takes its own reference. Giving both is KEEL_INVALID_CONFIG. KEEL_IO names the path
 * when it cannot be opened; options contradicting the stored base or the embedder (dimension,
 * metric) are KEEL_INVALID_CONFIG. *out receives the base (free with keel_kb_free). It returns
 * once SQLite is open: a file base's vector index is loaded by a thread of its own, and the
 * calls that need it (vector and hybrid searches, stats, writes) wait for it; keyword searches,
 * get, count and graph reads do not. */
KEEL_API keel_status keel_kb_open(const char* path, const char* options_json,
                                  keel_embedder* embedder, keel_kb** out, keel_error** err);

/** Closes (saving the index file; errors are not reported: call keel_kb_close for them) and
 * frees a knowledge base. Accepts NULL. No call on it may be in progress. */
KEEL_API void keel_kb_free(keel_kb* kb);

/** Saves the index file, checkpoints the WAL and closes, reporting failures (a load of the
 * index still running is given up). The handle must still be freed with keel_kb_free; other
 * calls on it fail with KEEL_INVALID_ARGUMENT. Calling it again does nothing. */
KEEL_API keel_status keel_kb_close(keel_kb* kb, keel_error** err);

/** Saves the index file (when it changed) and checkpoints the WAL into the database file. */
KEEL_API keel_status keel_kb_checkpoint(keel_kb* kb, keel_error** err);

/** Rebuilds the vector index from SQLite now (it also happens by itself after heavy deletion),
 * and merges the keyword index into one segment. Both rewrite what they rebuild: seconds for
 * 100,000 documents; after a bulk load, say. */
KEEL_API keel_status keel_kb_compact(keel_kb* kb, keel_error** err);

/** *stats_json receives {"path", "documents", "entities", "edges", "dimension", "metric",
 * "db_bytes", "index_elements", "deleted_in_index", "index": "created" | "loaded" |
 * "caught_up" | "rebuilt", "index_reason", "generation", "compactions"} (caller frees with
 * keel_free). */
KEEL_API keel_status keel_kb_stats(const keel_kb* kb, char** stats_json, keel_error** err);

/** Inserts or replaces one document (a JSON object) or several (a JSON array) in one
 * transaction: all of them or, on any error, none. KEEL_INVALID_ARGUMENT for an empty id, a
 * metadata value that is not an object, a vector of the wrong dimension or an id used by an
 * entity. */
KEEL_API keel_status keel_kb_upsert(keel_kb* kb, const char* documents_json, keel_error** err);

/** *document_json receives the document {"id", "text", "metadata"} (caller frees with
 * keel_free); KEEL_NOT_FOUND (and NULL) when there is none. */
KEEL_API keel_status keel_kb_get(const keel_kb* kb, const char* id, char** document_json,
                                 keel_error** err);

/** Deletes a document, its edges and its index entries. KEEL_NOT_FOUND when there is none. */
KEEL_API keel_status keel_kb_delete(keel_kb* kb, const char* id, keel_error** err);

/** Deletes the documents that exist among `ids_json` (a JSON array of strings) in one
 * transaction; *deleted (when `deleted` is not NULL) receives how many. */
KEEL_API keel_status keel_kb_delete_many(keel_kb* kb, const char* ids_json, size_t* deleted,
                                         keel_error** err);

/** *count receives the number of documents. */
KEEL_API keel_status keel_kb_count(const keel_kb* kb, size_t* count, keel_error** err);

/** Inserts or replaces an entity (a JSON object). KEEL_INVALID_ARGUMENT when a document has
 * its id. */
KEEL_API keel_status keel_kb_upsert_entity(keel_kb* kb, const char* entity_json,
                                           keel_error** err);

/** *entity_json receives the entity (caller frees); KEEL_NOT_FOUND (and NULL) when there is
 * none. */
KEEL_API keel_status keel_kb_get_entity(const keel_kb* kb, const char* id, char** entity_json,
                                        keel_error** err);

/** Deletes an entity and its edges. KEEL_NOT_FOUND when there is none. */
KEEL_API keel_status keel_kb_delete_entity(keel_kb* kb, const char* id, keel_error** err);

/** Inserts or replaces one edge (a JSON object) or several (a JSON array, in one transaction:
 * all or none); an edge is identified by (from, to, type). KEEL_NOT_FOUND when an end is
 * neither a document nor an entity. */
KEEL_API keel_status keel_kb_link(keel_kb* kb, const char* edges_json, keel_error** err);

/** Deletes the edge (from, to, type). KEEL_NOT_FOUND when there is none. */
KEEL_API keel_status keel_kb_unlink(keel_kb* kb, const char* from, const char* to,
                                    const char* type, keel_error** err);

/** *edges_json receives a JSON array of the edges of node `id` in `direction` ("outgoing",
 * "incoming", or "both" — also for NULL) (caller frees). */
KEEL_API keel_status keel_kb_edges(const keel_kb* kb, const char* id, const char* direction,
                                   char** edges_json, keel_error** err);

/** The nodes reachable from `id`, nearest first. `query_json` may be NULL or {"hops": 1 (1..8),
 * "edge_types": [...] (empty: every type), "direction": "outgoing" | "incoming" | "both",
 * "limit": 0 (no limit)}. *neighbours_json receives a JSON array of neighbours (caller frees).
 * KEEL_NOT_FOUND for an unknown node. */
KEEL_API keel_status keel_kb_neighbours(const keel_kb* kb, const char* id, const char* query_json,
                                        char** neighbours_json, keel_error** err);

/** Searches: `query_json` is a query object (see above) or a JSON string (the text, with the
 * defaults: keyword and vector signals fused by RRF, k = 10). *result_json receives the result
 * (caller frees with keel_free). KEEL_INVALID_ARGUMENT names a bad query field ("query.k"). */
KEEL_API keel_status keel_kb_search(const keel_kb* kb, const char* query_json, char** result_json,
                                    keel_error** err);

/** The fast path: `len` bytes of `text` (need not be NUL-terminated) with the default query and
 * `k` (>= 1) hits. *result_json receives the result (caller frees with keel_free). */
KEEL_API keel_status keel_kb_search_text(const keel_kb* kb, const char* text, size_t len, size_t k,
                                         char** result_json, keel_error** err);

/** Receives "kb.index" (the vector index loaded after open: "index" says how, or "failed"),
 * "kb.upsert", "kb.delete", "kb.search" and "kb.compact" events; NULL removes it.
 * Events may arrive from any thread. When this returns, the previous callback is no longer
 * running and will not be called again, so its user_data may be released. Must not be called
 * from inside the callback. */
KEEL_API keel_status keel_kb_set_event_callback(keel_kb* kb, keel_event_fn callback,
                                                void* user_data, keel_error** err);

/** Cuts `len` bytes of UTF-8 `text` into pieces of at most "max_bytes" bytes that repeat up to
 * "overlap_bytes" of the previous piece, cutting on paragraphs, then sentences, then words,
 * never inside a UTF-8 sequence. `options_json` may be NULL or {"max_bytes": 1000 (>= 16),
 * "overlap_bytes": 150 (< max_bytes / 2)}. *chunks_json receives a JSON array of {"text",
 * "start", "end"} with byte offsets into `text` (caller frees); blank text gives []. */
KEEL_API keel_status keel_chunk_text(const char* text, size_t len, const char* options_json,
                                     char** chunks_json, keel_error** err);

/* ---- Tools and agents -------------------------------------------------------------------- */
/**
 * A toolset holds the tools an agent may call: host callbacks and subprocess skills (a program
 * started without a shell that reads {"tool", "arguments", "call_id"} as JSON on stdin and
 * writes one JSON value on stdout). A tool's spec is {"name", "description", "parameters": {JSON
 * Schema}, "idempotent"?}; a skill's entry adds the keys of the tools file: {"command": [argv],
 * "timeout_ms", "working_directory", "env_allow", "env", "max_output_bytes"}. Arguments are
 * checked against the schema before any handler runs. A toolset's add and remove may run
 * alongside calls; an agent copies the toolset when it is created (later changes do not reach
 * it).
 *
 * An agent is stateless: its configuration, a model and a toolset, then each run takes a
 * conversation and returns everything that happened. Configuration JSON (every key optional):
 *   {"system_prompt": "...", "max_turns": 10, "parallel_tool_calls": true,
 *    "max_parallel_tools": 8, "token_budget": 0 (none), "timeout_ms": 0 (none),
 *    "tool_timeout_ms": 60000 (one tool call; 0: none),
 *    "temperature": 0.2, "max_tokens": 1024, "tool_choice": "auto",
 *    "max_tool_result_bytes": 65536,
 *    "firewall": {firewall configuration} (used when no firewall handle is given),
 *    "screen": {"input": "block", "tool_results": "block", "output": "block"}}
 * Screening actions: "off", "flag" (findings recorded), "redact" (PII and secrets replaced by
 * placeholders the run restores in tool arguments and in the output), "block" (input: the run
 * stops with stop_reason "blocked"; a tool result: withheld from the model, which is told why;
 * output: withheld, stop_reason "blocked"), or a list such as ["redact", "block"].
 * A run's input is a JSON string (the user's task), an array of messages, or {"messages":
 * [...]}; its options may be NULL or {"timeout_ms": N}. The result is
 *   {"output": "...", "stop_reason": "final" | "max_turns" | "budget" | "blocked" | "cancelled" |
 *    "error", "error"?: {"code", "message"}, "messages": [...the whole transcript...],
 *    "tool_calls": [{"id", "name", "arguments", "turn", "status": "ok" | "error" |
 *    "unknown_tool" | "invalid_arguments" | "timeout" | "cancelled" | "blocked" | "not_run",
 *    "result"?, "error"?, "duration_us"}], "usage": {"input_tokens", "output_tokens"},
 *    "turns": 3, "screenings": [{"stage": "input" | "tool_result" | "output", "decision",
 *    "risk", "action", "categories": [...], "call_id"?}] (verdicts that found something),
 *    "duration_us"}.
 * A run that happened returns KEEL_OK whatever its stop_reason (a model failure is
 * stop_reason "error" with the transcript so far); error statuses are for bad arguments. */
typedef struct keel_toolset keel_toolset;
/** An agent: a configuration, a model and a toolset (see keel_toolset for its JSON). */
typedef struct keel_agent keel_agent;

/** A host tool: receives the validated arguments JSON and a context {"call_id", "tool",
 * "timeout_ms"? (time left before the caller stops waiting)}; answers with keel_reply_set (any
 * JSON value) or keel_reply_error, and returns 0 (non-zero without a reply is a failure). Runs
 * on a keel pool thread kept apart from the event loop (it may block); several may run at once.
 * When the caller stops waiting (cancelled, timed out) its answer is dropped. */
typedef int (*keel_tool_fn)(const char* arguments_json, const char* context_json,
                            keel_reply* reply, void* user_data);

/** 1 once the tool call that `reply` belongs to was cancelled or passed its deadline: a long host
 * tool may poll it and stop early (its answer would be dropped). */
KEEL_API int keel_reply_cancelled(const keel_reply* reply);

/** Creates a toolset: `tools_json` may be NULL (empty) or a tools file's JSON {"tools": [...]}.
 * KEEL_INVALID_CONFIG names the JSON path of a mistake. */
KEEL_API keel_status keel_toolset_new(const char* tools_json, keel_toolset** out,
                                      keel_error** err);
/** Creates a toolset from a tools file (KEEL_IO names the path when it cannot be read). */
KEEL_API keel_status keel_toolset_load(const char* path, keel_toolset** out, keel_error** err);
/** Frees a toolset. Accepts NULL. Agents created from it keep their own copy. */
KEEL_API void keel_toolset_free(keel_toolset* tools);
/** Adds a tool. With `fn`, `spec_json` is {"name", "description", "parameters", "idempotent"?}
 * and `fn` its handler (`user_data` must outlive the toolset and every agent made from it);
 * with `fn` NULL, `spec_json` is a skill's entry of the tools file. KEEL_INVALID_ARGUMENT when a
 * tool of that name exists. */
KEEL_API keel_status keel_toolset_add(keel_toolset* tools, const char* spec_json, keel_tool_fn fn,
                                      void* user_data, keel_error** err);
/** Removes a tool; KEEL_NOT_FOUND when there is none of that name. */
KEEL_API keel_status keel_toolset_remove(keel_toolset* tools, const char* name, keel_error** err);
/** *specs_json receives a JSON array of {"name", "description", "parameters"} (caller frees). */
KEEL_API keel_status keel_toolset_specs(const keel_toolset* tools, char** specs_json,
                                        keel_error** err);
/** Calls one tool (blocking): `options_json` may be NULL or {"timeout_ms": N}. *result_json
 * receives its JSON value (caller frees). KEEL_NOT_FOUND for an unknown tool,
 * KEEL_INVALID_ARGUMENT listing schema violations, KEEL_TOOL for a failure (a skill's stderr
 * tail), KEEL_TIMEOUT (a host tool still running then is no longer waited for). From inside a
 * keel callback it is KEEL_INVALID_ARGUMENT (it would wait on keel's own threads). */
KEEL_API keel_status keel_toolset_call(const keel_toolset* tools, const char* name,
                                       const char* arguments_json, const char* options_json,
                                       char** result_json, keel_error** err);

/** Creates an agent. `model` is required; `tools` and `firewall` may be NULL (then the
 * configuration's "firewall", if any, builds one). The agent takes its own references: the
 * handles may be freed afterwards. KEEL_INVALID_CONFIG names the JSON path. */
KEEL_API keel_status keel_agent_new(const char* config_json, keel_model* model,
                                    const keel_toolset* tools, const keel_firewall* firewall,
                                    keel_agent** out, keel_error** err);
/** Frees an agent. Accepts NULL. Returns at once: runs in flight go on to their end and still
 * call their `done`; the event callback is removed first (no events arrive after this). */
KEEL_API void keel_agent_free(keel_agent* agent);
/** Runs the agent (blocking). *result_json receives the result JSON (caller frees). Must not be
 * called from inside a keel callback. */
KEEL_API keel_status keel_agent_run(const keel_agent* agent, const char* input_json,
                                    const char* options_json, char** result_json,
                                    keel_error** err);
/** Starts a run; `done` runs exactly once on a keel thread with KEEL_OK and the result JSON —
 * unless this returns an error status, in which case no run started and `done` is never called.
 * *call (when not NULL) receives a handle: keel_call_cancel stops the run (stop_reason
 * "cancelled", running tools cancelled, late results ignored); free it with keel_call_free. */
KEEL_API keel_status keel_agent_run_async(const keel_agent* agent, const char* input_json,
                                          const char* options_json, keel_done_fn done,
                                          void* user_data, keel_call** call, keel_error** err);
/** Receives "agent.run", "agent.model_call", "agent.tool_call" and "agent.screen" events (never
 * message text); NULL removes it. When this returns, the previous callback is no longer running.
 * Must not be called from inside the callback. */
KEEL_API keel_status keel_agent_set_event_callback(keel_agent* agent, keel_event_fn callback,
                                                   void* user_data, keel_error** err);

/* ---- Planner ----------------------------------------------------------------------------- */
/**
 * A planner turns a goal into a plan — a DAG of tool calls the model writes as JSON — validates
 * it, runs it in parallel (Kahn's algorithm: every task whose dependencies are done starts, up
 * to "max_parallel") and has the model answer from the results (or re-plan). Plans may also come
 * from the host. A plan:
 *   {"tasks": [{"id": "t1", "tool": "search", "args": {"q": "..."}, "deps": []},
 *              {"id": "t2", "tool": "summarise", "args": {"text": "$t1"}, "deps": ["t1"]}]}
 * "$t1" is t1's whole output and "${t1.a.0}" a value inside it (keeping its JSON type; inside a
 * longer string, its text); a reference makes its task a dependency. A bare "$name" is a
 * reference only when a task is called `name` ("$5" stays text). The tool "llm" is the model:
 * {"tool": "llm", "args": {"prompt": "..."}} answers with text. Configuration (every key
 * optional): {"max_parallel": 8, "failure_policy": "fail_fast" | "skip_dependents" | "continue",
 * "task_timeout_ms": 60000, "retry": {...}, "circuit_breaker": {...} | false,
 * "max_plan_attempts": 3, "max_replans": 1, "journal": "runs.sqlite", "instructions": "...",
 * "max_output_bytes": 65536}. Run options may be NULL or {"timeout_ms": N, "run_id": "..."}: with
 * a journal, a run id the journal knows resumes that run (finished tasks are not run again;
 * tasks that were running run again only when their tool is idempotent, else they are
 * "interrupted"). A run's result:
 *   {"run_id", "status": "succeeded" | "failed" | "cancelled" | "invalid", "answer"?,
 *    "error"?: {"code", "message"}, "tasks": [{"id", "tool", "status": "done" | "failed" |
 *    "skipped" | "cancelled" | "interrupted" | "pending", "output", "error"?, "attempts",
 *    "started_us", "finished_us", "duration_us", "reloaded"?}], "plans": [...], "replans",
 *    "usage", "duration_us"}.
 * A plan that fails validation is a result with status "invalid" and every problem in
 * error.message ("t3: unknown tool \"serch\"", "the dependencies form a cycle: a -> b -> a"). */
typedef struct keel_planner keel_planner;

/** Creates a planner. `model` may be NULL (host plans without llm tasks); `tools` may be NULL
 * (then only llm tasks). Both are copied or shared: the handles may be freed afterwards. */
KEEL_API keel_status keel_planner_new(const char* config_json, keel_model* model,
                                      const keel_toolset* tools, keel_planner** out,
                                      keel_error** err);
/** Frees a planner. Accepts NULL. Runs in flight go on; the event callback is removed first. */
KEEL_API void keel_planner_free(keel_planner* planner);
/** *issues_json receives a JSON array of {"task", "problem"} ([] for a valid plan). A plan that
 * is not even shaped like one is KEEL_INVALID_ARGUMENT naming the place ("tasks[2].id"). */
KEEL_API keel_status keel_planner_validate(const keel_planner* planner, const char* plan_json,
                                           char** issues_json, keel_error** err);
/** Asks the model for a plan for `goal` (re-asking with the problems, up to max_plan_attempts):
 * *plan_json receives it. KEEL_PARSE with the last problems when no valid plan came. */
KEEL_API keel_status keel_planner_plan(const keel_planner* planner, const char* goal,
                                       const char* options_json, char** plan_json,
                                       keel_error** err);
/** The asynchronous form of keel_planner_plan: `done` runs exactly once on a keel thread with
 * KEEL_OK and the plan JSON, or an error status and its message (KEEL_CANCELLED after
 * keel_call_cancel) — unless this returns an error status, in which case `done` is never called.
 * *call (when not NULL) receives a handle for keel_call_cancel; free it with keel_call_free. */
KEEL_API keel_status keel_planner_plan_async(const keel_planner* planner, const char* goal,
                                             const char* options_json, keel_done_fn done,
                                             void* user_data, keel_call** call, keel_error** err);
/** Runs a plan (blocking); *result_json receives the result. With a journal and a known run_id,
 * `plan_json` may be NULL (the journal has the plan). */
KEEL_API keel_status keel_planner_run(const keel_planner* planner, const char* plan_json,
                                      const char* options_json, char** result_json,
                                      keel_error** err);
/** Plans `goal`, runs the plan and has the model answer from the results ("answer"), re-planning
 * when it asks (up to max_replans). Blocking. */
KEEL_API keel_status keel_planner_solve(const keel_planner* planner, const char* goal,
                                        const char* options_json, char** result_json,
                                        keel_error** err);
/** The asynchronous forms: `done` runs once on a keel thread with KEEL_OK and the result JSON
 * (never when this returns an error status); keel_call_cancel stops the run. `goal` NULL runs
 * `plan_json`; otherwise the goal is solved. */
KEEL_API keel_status keel_planner_start(const keel_planner* planner, const char* goal,
                                        const char* plan_json, const char* options_json,
                                        keel_done_fn done, void* user_data, keel_call** call,
                                        keel_error** err);
/** Receives "plan.task" (id, tool, state: queued | started | finished | failed | skipped |
 * cancelled | interrupted), "plan.model_call" (stage: plan | join) and "plan.run" events; NULL
 * removes it. When this returns, the previous callback is no longer running. Must not be called
 * from inside the callback. */
KEEL_API keel_status keel_planner_set_event_callback(keel_planner* planner, keel_event_fn callback,
                                                     void* user_data, keel_error** err);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_H */

package keel

/*
#include <stdlib.h>
#include <keel.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Document is the unit a knowledge base indexes and returns. Without a Vector the text is
// embedded by the base's embedder. Metadata values are JSON values.
type Document struct {
	ID       string         `json:"id"`
	Text     string         `json:"text"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Vector   []float32      `json:"vector,omitempty"`
}

// Entity is a named graph node that is not a document ("Paris", type "city").
type Entity struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Edge is a typed, weighted, directed edge between two nodes (documents or entities),
// identified by (From, To, Type). Weight 0 means the default, 1.
type Edge struct {
	From       string         `json:"from"`
	To         string         `json:"to"`
	Type       string         `json:"type"`
	Weight     float64        `json:"weight,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Edge directions for Edges, NeighbourQuery and GraphOptions.
const (
	Outgoing = "outgoing"
	Incoming = "incoming"
	Both     = "both"
)

// NeighbourQuery says which neighbours of a node to return: within Hops (1..8; 0 means 1),
// over edges of EdgeTypes (empty: every type), in Direction ("" means outgoing), at most
// Limit (0: no limit).
type NeighbourQuery struct {
	Hops      int      `json:"hops,omitempty"`
	EdgeTypes []string `json:"edge_types,omitempty"`
	Direction string   `json:"direction,omitempty"`
	Limit     int      `json:"limit,omitempty"`
}

// Neighbour is a node reached from another one: Hops away, Weight the best product of edge
// weights over the shortest paths, reached from Via by an edge of type EdgeType. Kind is
// "document" or "entity".
type Neighbour struct {
	ID       string  `json:"id"`
	Kind     string  `json:"kind"`
	Hops     int     `json:"hops"`
	Weight   float64 `json:"weight"`
	Via      string  `json:"via"`
	EdgeType string  `json:"edge_type"`
}

// SearchSignals switches the search signals on and off.
type SearchSignals struct {
	Keyword bool `json:"keyword"`
	Vector  bool `json:"vector"`
	Graph   bool `json:"graph"`
}

// KeywordOptions: Mode "any" (OR, the default), "all" or "phrase"; Prefix lets each term
// match the words it begins.
type KeywordOptions struct {
	Mode   string `json:"mode,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
}

// GraphOptions: expansion from Seeds (empty: from the top SeedHits keyword and vector hits)
// within Hops, the score decaying by Decay per hop; zero values mean the defaults (1 hop,
// decay 0.5, every edge type, both directions, 3 seed hits).
type GraphOptions struct {
	Seeds     []string `json:"seeds,omitempty"`
	Hops      int      `json:"hops,omitempty"`
	Decay     float64  `json:"decay,omitempty"`
	EdgeTypes []string `json:"edge_types,omitempty"`
	Direction string   `json:"direction,omitempty"`
	SeedHits  int      `json:"seed_hits,omitempty"`
}

// FusionWeights weigh the signals of weighted fusion; nil keeps a default (1, 1, 0.5).
type FusionWeights struct {
	Keyword *float64 `json:"keyword,omitempty"`
	Vector  *float64 `json:"vector,omitempty"`
	Graph   *float64 `json:"graph,omitempty"`
}

// FusionOptions: Method "rrf" (Reciprocal Rank Fusion, the default) or "weighted"; RRFK the
// RRF constant (nil: 60); Candidates the hits taken from each signal (0: 50).
type FusionOptions struct {
	Method     string         `json:"method,omitempty"`
	RRFK       *float64       `json:"rrf_k,omitempty"`
	Candidates int            `json:"candidates,omitempty"`
	Weights    *FusionWeights `json:"weights,omitempty"`
}

// SnippetOptions shape the snippets; zero values keep the defaults (16 tokens, "[", "]", "…").
type SnippetOptions struct {
	Tokens   int    `json:"tokens,omitempty"`
	Open     string `json:"open,omitempty"`
	Close    string `json:"close,omitempty"`
	Ellipsis string `json:"ellipsis,omitempty"`
}

// SearchQuery is a search. Mode is a shorthand for Signals: "hybrid" (keyword and vector, plus
// graph when Graph has seeds), "keyword", "vector" or "graph" (needs Graph.Seeds); "" keeps
// Signals, or the default hybrid when Signals is nil. K 0 means 10. Filter holds metadata
// predicates that every hit satisfies, applied inside the search so a selective filter still
// yields K hits: {"lang": {"eq": "fr"}, "year": {"gte": 2023}}.
type SearchQuery struct {
	Mode     string          `json:"-"`
	Text     string          `json:"text,omitempty"`
	Vector   []float32       `json:"vector,omitempty"`
	K        int             `json:"k,omitempty"`
	Filter   map[string]any  `json:"filter,omitempty"`
	Signals  *SearchSignals  `json:"signals,omitempty"`
	Keyword  *KeywordOptions `json:"keyword,omitempty"`
	Graph    *GraphOptions   `json:"graph,omitempty"`
	Fusion   *FusionOptions  `json:"fusion,omitempty"`
	EfSearch int             `json:"ef_search,omitempty"`
	Snippet  *SnippetOptions `json:"snippet,omitempty"`
}

// SignalScore is one signal's view of a hit: its 1-based rank in that signal's list and its
// raw score (BM25 with larger = better; cosine similarity; graph score); Hops for graph only.
type SignalScore struct {
	Rank  int     `json:"rank"`
	Score float64 `json:"score"`
	Hops  int     `json:"hops,omitempty"`
}

// SearchHit is one hit: the fused Score, a Snippet (matched words highlighted when the
// keyword signal matched, else the start of the text), the document's Metadata and Text, and
// the Signals ("keyword", "vector", "graph") that found it.
type SearchHit struct {
	ID       string                 `json:"id"`
	Score    float64                `json:"score"`
	Snippet  string                 `json:"snippet"`
	Metadata map[string]any         `json:"metadata"`
	Text     string                 `json:"text"`
	Signals  map[string]SignalScore `json:"signals"`
}

// SearchResult holds the hits, best first, how long each signal took (microseconds, keys
// "keyword", "vector", "graph", "total"), and how the vector signal honoured a filter
// ("none", "index" or "exact").
type SearchResult struct {
	Hits           []SearchHit      `json:"hits"`
	TimingsUS      map[string]int64 `json:"timings_us"`
	VectorStrategy string           `json:"vector_strategy"`
}

// IDs returns the ids of the hits, in order.
func (r SearchResult) IDs() []string {
	ids := make([]string, len(r.Hits))
	for i, h := range r.Hits {
		ids[i] = h.ID
	}
	return ids
}

// KBStats describes a knowledge base. Index says how the vector index was obtained at open:
// "created", "loaded", "caught_up" or "rebuilt" (IndexReason says why).
type KBStats struct {
	Path           string `json:"path"`
	Documents      int    `json:"documents"`
	Entities       int    `json:"entities"`
	Edges          int    `json:"edges"`
	Dimension      int    `json:"dimension"`
	Metric         string `json:"metric"`
	DBBytes        int64  `json:"db_bytes"`
	IndexBytes     int64  `json:"index_bytes"`
	Quantization   string `json:"quantization"` // how the index keeps vectors: "int8" or "none"
	IndexElements  int    `json:"index_elements"`
	DeletedInIndex int    `json:"deleted_in_index"`
	Index          string `json:"index"`
	IndexReason    string `json:"index_reason"`
	Generation     int64  `json:"generation"`
	Compactions    int    `json:"compactions"`
}

// Chunk is a piece of a text: bytes [Start, End) of it.
type Chunk struct {
	Text  string `json:"text"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// KBOption configures OpenKnowledgeBase.
type KBOption func(*kbOptions)

type kbOptions struct {
	json      string
	dimension int
	embedder  *Embedder
}

// KBOptionsJSON gives the knowledge base options as JSON: {"dimension", "metric", "hnsw",
// "synchronous", "embedder", "compaction", "read_connections", "index_threads"}.
func KBOptionsJSON(options string) KBOption { return func(o *kbOptions) { o.json = options } }

// KBDimension sets the vector dimension (over the one of KBOptionsJSON).
func KBDimension(n int) KBOption { return func(o *kbOptions) { o.dimension = n } }

// KBEmbedder gives the base its embedder (default: the options' "embedder", else the built-in
// hashing embedder). The base keeps what it needs: the embedder may be closed right after.
func KBEmbedder(e *Embedder) KBOption { return func(o *kbOptions) { o.embedder = e } }

// KnowledgeBase is a knowledge base in one SQLite file plus its index file "<path>.hnsw", or in
// memory (":memory:"): documents, a graph of documents and entities, and hybrid search. Safe
// for concurrent use: searches run in parallel, writes are serialised by the library. Opening
// returns once SQLite is open; the vector index loads in the background and vector or hybrid
// searches, Stats and writes wait for it. Call Close when done (it saves the index file).
type KnowledgeBase struct {
	mu        sync.RWMutex // Close excludes calls in progress
	handle    *C.keel_kb
	path      string
	embedHost *callbackHost // retained: a Go embedder function stays reachable
}

// cString is C.CString for an argument that must not hold a NUL byte; the caller frees it.
func cString(s, name string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Code: InvalidArgument, Message: name + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// jsonArg marshals v to a C string; the caller frees it.
func jsonArg(v any, name string) (*C.char, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: name + ": " + err.Error()}
	}
	return C.CString(string(data)), nil
}

func decodeJSON(text string, out any, what string) error {
	if err := json.Unmarshal([]byte(text), out); err != nil {
		return &Error{Code: Internal, Message: "bad " + what + " JSON: " + err.Error()}
	}
	return nil
}

// OpenKnowledgeBase opens or creates the knowledge base at path, or an in-memory one for
// ":memory:". A path that cannot be opened is an error matching ErrIO naming the path; bad
// options, or options contradicting the stored base or the embedder, match ErrInvalidConfig.
func OpenKnowledgeBase(path string, opts ...KBOption) (*KnowledgeBase, error) {
	var o kbOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	options := o.json
	if o.dimension != 0 {
		merged := map[string]any{}
		if options != "" {
			if err := json.Unmarshal([]byte(options), &merged); err != nil {
				return nil, &Error{Code: Parse, Message: "knowledge base options: " + err.Error()}
			}
		}
		merged["dimension"] = o.dimension
		data, _ := json.Marshal(merged)
		options = string(data)
	}
	pathC, err := cString(path, "path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(pathC))
	var optionsC *C.char
	if options != "" {
		optionsC = C.CString(options)
		defer C.free(unsafe.Pointer(optionsC))
	}
	var embedder *C.keel_embedder
	if o.embedder != nil {
		// The read lock keeps the embedder open until keel has taken its reference.
		o.embedder.mu.RLock()
		defer o.embedder.mu.RUnlock()
		if o.embedder.handle == nil {
			return nil, &Error{Code: InvalidArgument, Message: "the embedder is closed"}
		}
		embedder = o.embedder.handle
	}
	var handle *C.keel_kb
	var cerr *C.keel_error
	if err := takeError(C.keel_kb_open(pathC, optionsC, embedder, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	kb := &KnowledgeBase{handle: handle, path: path}
	if o.embedder != nil && o.embedder.host != nil {
		o.embedder.host.retain()
		kb.embedHost = o.embedder.host
	}
	runtime.SetFinalizer(kb, func(k *KnowledgeBase) { _ = k.Close() })
	return kb, nil
}

// Path returns the path the base was opened with.
func (kb *KnowledgeBase) Path() string { return kb.path }

// Close saves the index file, checkpoints and frees the base after the calls in progress; it
// returns what saving reported and is safe to call more than once.
func (kb *KnowledgeBase) Close() error {
	kb.mu.Lock()
	defer kb.mu.Unlock()
	runtime.SetFinalizer(kb, nil)
	if kb.handle == nil {
		return nil
	}
	var cerr *C.keel_error
	err := takeError(C.keel_kb_close(kb.handle, &cerr), cerr)
	C.keel_kb_free(kb.handle)
	kb.handle = nil
	if kb.embedHost != nil {
		kb.embedHost.release()
		kb.embedHost = nil
	}
	return err
}

// lock takes the read lock of a call; the caller unlocks it.
func (kb *KnowledgeBase) lock() (*C.keel_kb, error) {
	kb.mu.RLock()
	if kb.handle == nil {
		kb.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "knowledge base " + kb.path + ": closed"}
	}
	return kb.handle, nil
}

// do runs one C call under the read lock and converts its status.
func (kb *KnowledgeBase) do(call func(*C.keel_kb, **C.keel_error) C.keel_status) error {
	handle, err := kb.lock()
	if err != nil {
		return err
	}
	var cerr *C.keel_error
	status := call(handle, &cerr)
	kb.mu.RUnlock()
	return takeError(status, cerr)
}

// withString runs fn with s as a C string (freed after).
func withString(s, name string, fn func(*C.char) error) error {
	c, err := cString(s, name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(c))
	return fn(c)
}

// withJSON runs fn with v marshalled to a C string (freed after).
func withJSON(v any, name string, fn func(*C.char) error) error {
	c, err := jsonArg(v, name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(c))
	return fn(c)
}

// Upsert inserts or replaces documents; several go in one transaction: all of them or, on any
// error, none. A bad document matches ErrInvalidArgument and names it ("documents[1].id").
func (kb *KnowledgeBase) Upsert(docs ...Document) error {
	if len(docs) == 0 {
		return nil
	}
	var payload any = docs
	if len(docs) == 1 {
		payload = docs[0]
	}
	return withJSON(payload, "documents", func(docsC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_upsert(h, docsC, cerr)
		})
	})
}

// Get returns the document called id; an error matching ErrNotFound when there is none.
func (kb *KnowledgeBase) Get(id string) (Document, error) {
	var out *C.char
	err := withString(id, "id", func(idC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_get(h, idC, &out, cerr)
		})
	})
	if err != nil {
		return Document{}, err
	}
	var doc Document
	return doc, decodeJSON(takeString(out), &doc, "document")
}

// Delete deletes a document with its edges; an error matching ErrNotFound when there is none.
func (kb *KnowledgeBase) Delete(id string) error {
	return withString(id, "id", func(idC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_delete(h, idC, cerr)
		})
	})
}

// DeleteMany deletes the documents that exist among ids in one transaction; it returns how many.
func (kb *KnowledgeBase) DeleteMany(ids ...string) (int, error) {
	if ids == nil {
		ids = []string{}
	}
	var deleted C.size_t
	err := withJSON(ids, "ids", func(idsC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_delete_many(h, idsC, &deleted, cerr)
		})
	})
	return int(deleted), err
}

// Count returns the number of documents.
func (kb *KnowledgeBase) Count() (int, error) {
	var n C.size_t
	err := kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
		return C.keel_kb_count(h, &n, cerr)
	})
	return int(n), err
}

// UpsertEntity inserts or replaces an entity; an error matching ErrInvalidArgument when a
// document has its id.
func (kb *KnowledgeBase) UpsertEntity(entity Entity) error {
	return withJSON(entity, "entity", func(entityC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_upsert_entity(h, entityC, cerr)
		})
	})
}

// GetEntity returns the entity called id; an error matching ErrNotFound when there is none.
func (kb *KnowledgeBase) GetEntity(id string) (Entity, error) {
	var out *C.char
	err := withString(id, "id", func(idC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_get_entity(h, idC, &out, cerr)
		})
	})
	if err != nil {
		return Entity{}, err
	}
	var entity Entity
	return entity, decodeJSON(takeString(out), &entity, "entity")
}

// DeleteEntity deletes an entity with its edges; an error matching ErrNotFound when there is
// none.
func (kb *KnowledgeBase) DeleteEntity(id string) error {
	return withString(id, "id", func(idC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_delete_entity(h, idC, cerr)
		})
	})
}

// Link inserts or replaces edges; several go in one transaction: all or none. An end that is
// neither a document nor an entity matches ErrNotFound.
func (kb *KnowledgeBase) Link(edges ...Edge) error {
	if len(edges) == 0 {
		return nil
	}
	var payload any = edges
	if len(edges) == 1 {
		payload = edges[0]
	}
	return withJSON(payload, "edges", func(edgesC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_link(h, edgesC, cerr)
		})
	})
}

// Unlink deletes the edge (from, to, edgeType); an error matching ErrNotFound when there is none.
func (kb *KnowledgeBase) Unlink(from, to, edgeType string) error {
	return withString(from, "from", func(fromC *C.char) error {
		return withString(to, "to", func(toC *C.char) error {
			return withString(edgeType, "type", func(typeC *C.char) error {
				return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
					return C.keel_kb_unlink(h, fromC, toC, typeC, cerr)
				})
			})
		})
	})
}

// Edges returns the edges of a node in direction (Outgoing, Incoming, or Both; "" means Both).
func (kb *KnowledgeBase) Edges(id, direction string) ([]Edge, error) {
	var out *C.char
	err := withString(id, "id", func(idC *C.char) error {
		var dirC *C.char
		if direction != "" {
			dirC = C.CString(direction)
			defer C.free(unsafe.Pointer(dirC))
		}
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_edges(h, idC, dirC, &out, cerr)
		})
	})
	if err != nil {
		return nil, err
	}
	edges := []Edge{}
	return edges, decodeJSON(takeString(out), &edges, "edges")
}

// Neighbours returns the nodes reachable from id as the query says, nearest first; an error
// matching ErrNotFound for an unknown node.
func (kb *KnowledgeBase) Neighbours(id string, query NeighbourQuery) ([]Neighbour, error) {
	var out *C.char
	err := withString(id, "id", func(idC *C.char) error {
		return withJSON(query, "query", func(queryC *C.char) error {
			return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
				return C.keel_kb_neighbours(h, idC, queryC, &out, cerr)
			})
		})
	})
	if err != nil {
		return nil, err
	}
	neighbours := []Neighbour{}
	return neighbours, decodeJSON(takeString(out), &neighbours, "neighbours")
}

// wire resolves Mode into Signals.
func (q SearchQuery) wire() (SearchQuery, error) {
	seeded := q.Graph != nil && len(q.Graph.Seeds) > 0
	switch q.Mode {
	case "":
	case "hybrid":
		q.Signals = &SearchSignals{Keyword: true, Vector: true, Graph: seeded}
	case "keyword":
		q.Signals = &SearchSignals{Keyword: true}
	case "vector":
		q.Signals = &SearchSignals{Vector: true}
	case "graph":
		if !seeded {
			return q, &Error{Code: InvalidArgument, Message: "mode \"graph\" needs Graph.Seeds (the nodes to expand from)"}
		}
		q.Signals = &SearchSignals{Graph: true}
	default:
		return q, &Error{Code: InvalidArgument, Message: "mode: expected hybrid, keyword, vector or graph, got \"" + q.Mode + "\""}
	}
	if q.K < 0 {
		return q, &Error{Code: InvalidArgument, Message: "query.k: must be at least 1"}
	}
	return q, nil
}

// Search runs a query. A bad query matches ErrInvalidArgument naming the field ("query.k");
// a bad filter matches ErrInvalidConfig naming "filter.<field>". The context is checked
// before the search starts; a search, once started, runs to its end (milliseconds).
func (kb *KnowledgeBase) Search(ctx context.Context, query SearchQuery) (SearchResult, error) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return SearchResult{}, newContextError(err, nil)
		}
	}
	wire, err := query.wire()
	if err != nil {
		return SearchResult{}, err
	}
	var out *C.char
	err = withJSON(wire, "query", func(queryC *C.char) error {
		return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
			return C.keel_kb_search(h, queryC, &out, cerr)
		})
	})
	if err != nil {
		return SearchResult{}, err
	}
	var result SearchResult
	return result, decodeJSON(takeString(out), &result, "search result")
}

// SearchText is the fast path of a default hybrid search for text with k (>= 1) hits.
func (kb *KnowledgeBase) SearchText(ctx context.Context, text string, k int) (SearchResult, error) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return SearchResult{}, newContextError(err, nil)
		}
	}
	if k < 1 {
		return SearchResult{}, &Error{Code: InvalidArgument, Message: "k must be at least 1"}
	}
	var out *C.char
	err := kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
		ptr, n := textArg(text)
		return C.keel_kb_search_text(h, ptr, n, C.size_t(k), &out, cerr)
	})
	runtime.KeepAlive(text)
	if err != nil {
		return SearchResult{}, err
	}
	var result SearchResult
	return result, decodeJSON(takeString(out), &result, "search result")
}

// Stats describes the base: counts, dimension, metric, sizes and the state of its index.
func (kb *KnowledgeBase) Stats() (KBStats, error) {
	var out *C.char
	err := kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
		return C.keel_kb_stats(h, &out, cerr)
	})
	if err != nil {
		return KBStats{}, err
	}
	var stats KBStats
	return stats, decodeJSON(takeString(out), &stats, "stats")
}

// Checkpoint saves the index file (when it changed) and checkpoints the WAL into the database.
func (kb *KnowledgeBase) Checkpoint() error {
	return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
		return C.keel_kb_checkpoint(h, cerr)
	})
}

// Compact rebuilds the vector index from SQLite now (it also happens by itself after heavy
// deletion), and merges the keyword index into one segment. Both rewrite what they rebuild:
// seconds for 100,000 documents; after a bulk load, say.
func (kb *KnowledgeBase) Compact() error {
	return kb.do(func(h *C.keel_kb, cerr **C.keel_error) C.keel_status {
		return C.keel_kb_compact(h, cerr)
	})
}

// ChunkText cuts text into pieces of at most maxBytes bytes (>= 16) that repeat up to
// overlapBytes (< maxBytes/2) of the previous piece, cutting on paragraphs, then sentences,
// then words, never inside a UTF-8 sequence. Start and End are byte offsets into text.
func ChunkText(text string, maxBytes, overlapBytes int) ([]Chunk, error) {
	var out *C.char
	err := withJSON(map[string]int{"max_bytes": maxBytes, "overlap_bytes": overlapBytes}, "options",
		func(optionsC *C.char) error {
			ptr, n := textArg(text)
			var cerr *C.keel_error
			status := C.keel_chunk_text(ptr, n, optionsC, &out, &cerr)
			runtime.KeepAlive(text)
			return takeError(status, cerr)
		})
	if err != nil {
		return nil, err
	}
	chunks := []Chunk{}
	return chunks, decodeJSON(takeString(out), &chunks, "chunks")
}

package keel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

var kbDocuments = []Document{
	{ID: "rust", Text: "Rust is a systems programming language focused on memory safety",
		Metadata: map[string]any{"lang": "en", "year": 2015, "topic": "code"}},
	{ID: "python", Text: "Python is a programming language loved by data scientists",
		Metadata: map[string]any{"lang": "en", "year": 1991, "topic": "code"}},
	{ID: "seine", Text: "La Seine traverse Paris avant de rejoindre la Manche",
		Metadata: map[string]any{"lang": "fr", "year": 2023, "topic": "geo"}},
	{ID: "paris", Text: "Paris is the capital of France, on the river Seine",
		Metadata: map[string]any{"lang": "en", "year": 2024, "topic": "geo"}},
	{ID: "louvre", Text: "The Louvre museum in Paris holds the Mona Lisa",
		Metadata: map[string]any{"lang": "en", "year": 2020, "topic": "art"}},
}

// riverDocuments: 40 English documents about rivers rank above the 4 French ones for "river",
// so a filter applied after the top k would find no French document at all.
func riverDocuments() []Document {
	var docs []Document
	for i := 0; i < 40; i++ {
		docs = append(docs, Document{ID: fmt.Sprintf("en%d", i),
			Text:     fmt.Sprintf("river river water river bank %d", i),
			Metadata: map[string]any{"lang": "en", "n": i}})
	}
	for i := 0; i < 4; i++ {
		docs = append(docs, Document{ID: fmt.Sprintf("fr%d", i),
			Text:     fmt.Sprintf("le fleuve et la river du pays %d avec beaucoup d autres mots pour diluer", i),
			Metadata: map[string]any{"lang": "fr", "n": i}})
	}
	return docs
}

func openKB(t *testing.T, path string, opts ...KBOption) *KnowledgeBase {
	t.Helper()
	kb, err := OpenKnowledgeBase(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kb.Close() })
	return kb
}

// sampleKB is an in-memory base with kbDocuments, an entity and three edges.
func sampleKB(t *testing.T) *KnowledgeBase {
	t.Helper()
	kb := openKB(t, ":memory:", KBDimension(64))
	must(t, kb.Upsert(kbDocuments...))
	must(t, kb.UpsertEntity(Entity{ID: "France", Type: "country", Properties: map[string]any{"iso": "FR"}}))
	must(t, kb.Link(Edge{From: "paris", To: "seine", Type: "mentions"}))
	must(t, kb.Link(Edge{From: "seine", To: "France", Type: "in", Weight: 0.5},
		Edge{From: "louvre", To: "paris", Type: "in"}))
	return kb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, kb *KnowledgeBase) int {
	t.Helper()
	n, err := kb.Count()
	must(t, err)
	return n
}

func search(t *testing.T, kb *KnowledgeBase, q SearchQuery) SearchResult {
	t.Helper()
	result, err := kb.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return result
}

func sortedIDs(r SearchResult) []string {
	ids := r.IDs()
	sort.Strings(ids)
	return ids
}

func expectCode(t *testing.T, err error, target *Error, fragment string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("expected %v, got %v", target.Code, err)
	}
	if !strings.Contains(err.Error(), fragment) {
		t.Fatalf("error %q lacks %q", err.Error(), fragment)
	}
}

func TestKnowledgeUpsertGetDeleteCount(t *testing.T) {
	kb := sampleKB(t)
	if n := count(t, kb); n != 5 {
		t.Fatalf("count %d", n)
	}
	doc, err := kb.Get("seine")
	must(t, err)
	if !strings.HasPrefix(doc.Text, "La Seine traverse Paris") || doc.Metadata["lang"] != "fr" {
		t.Fatalf("got %+v", doc)
	}
	_, err = kb.Get("nobody")
	expectCode(t, err, ErrNotFound, "nobody")

	vector := make([]float32, 64)
	vector[0] = 1
	must(t, kb.Upsert(Document{ID: "tmp", Text: "to be replaced", Vector: vector}))
	must(t, kb.Upsert(Document{ID: "tmp", Text: "replaced text"}))
	if n := count(t, kb); n != 6 {
		t.Fatalf("count %d after upserts", n)
	}
	doc, err = kb.Get("tmp")
	must(t, err)
	if doc.Text != "replaced text" {
		t.Fatalf("got %q", doc.Text)
	}
	must(t, kb.Delete("tmp"))
	expectCode(t, kb.Delete("tmp"), ErrNotFound, "tmp")
	if n := count(t, kb); n != 5 {
		t.Fatalf("count %d after delete", n)
	}
}

func TestKnowledgeBatchIsOneTransaction(t *testing.T) {
	kb := sampleKB(t)
	err := kb.Upsert(Document{ID: "x1", Text: "one"}, Document{ID: "", Text: "no id"})
	expectCode(t, err, ErrInvalidArgument, "empty id")
	err = kb.Upsert(Document{ID: "x1", Text: "one"}, Document{ID: "x2", Vector: []float32{1, 2}})
	expectCode(t, err, ErrInvalidArgument, "vector")
	if n := count(t, kb); n != 5 {
		t.Fatalf("a failed batch wrote documents: count %d", n)
	}
	must(t, kb.Upsert(Document{ID: "x1", Text: "one"}, Document{ID: "x2", Text: "two"}))
	n, err := kb.DeleteMany("x1", "x2", "never")
	must(t, err)
	if n != 2 || count(t, kb) != 5 {
		t.Fatalf("deleted %d, count %d", n, count(t, kb))
	}
}

func TestKnowledgeEntitiesAndNeighbours(t *testing.T) {
	kb := sampleKB(t)
	entity, err := kb.GetEntity("France")
	must(t, err)
	if entity.Type != "country" || entity.Properties["iso"] != "FR" {
		t.Fatalf("got %+v", entity)
	}
	expectCode(t, kb.UpsertEntity(Entity{ID: "rust", Type: "language"}), ErrInvalidArgument, "rust")

	one, err := kb.Neighbours("paris", NeighbourQuery{})
	must(t, err)
	if len(one) != 1 || one[0].ID != "seine" {
		t.Fatalf("1 hop: %+v", one)
	}
	two, err := kb.Neighbours("paris", NeighbourQuery{Hops: 2})
	must(t, err)
	want := Neighbour{ID: "France", Kind: "entity", Hops: 2, Weight: 0.5, Via: "seine", EdgeType: "in"}
	if len(two) != 2 || two[0].ID != "seine" || !reflect.DeepEqual(two[1], want) {
		t.Fatalf("2 hops: %+v", two)
	}
	both, err := kb.Neighbours("paris", NeighbourQuery{EdgeTypes: []string{"in"}, Direction: Both})
	must(t, err)
	if len(both) != 1 || both[0].ID != "louvre" {
		t.Fatalf("typed, both directions: %+v", both)
	}
	_, err = kb.Neighbours("atlantis", NeighbourQuery{})
	expectCode(t, err, ErrNotFound, "atlantis")
	_, err = kb.Neighbours("paris", NeighbourQuery{Hops: 9})
	expectCode(t, err, ErrInvalidArgument, "query.hops")

	incoming, err := kb.Edges("paris", Incoming)
	must(t, err)
	if len(incoming) != 1 || incoming[0].From != "louvre" {
		t.Fatalf("incoming edges: %+v", incoming)
	}
	must(t, kb.Unlink("paris", "seine", "mentions"))
	expectCode(t, kb.Unlink("paris", "seine", "mentions"), ErrNotFound, "")
	expectCode(t, kb.Link(Edge{From: "paris", To: "atlantis", Type: "near"}), ErrNotFound, "atlantis")
	err = kb.Link(Edge{From: "rust", To: "python", Type: "rival"}, Edge{From: "rust", To: "python"})
	expectCode(t, err, ErrInvalidArgument, "empty type")
	if edges, _ := kb.Edges("rust", ""); len(edges) != 0 {
		t.Fatalf("a failed batch linked: %+v", edges)
	}
	must(t, kb.DeleteEntity("France"))
	_, err = kb.GetEntity("France")
	expectCode(t, err, ErrNotFound, "France")
}

func TestKnowledgeSearchModes(t *testing.T) {
	kb := sampleKB(t)

	keyword := search(t, kb, SearchQuery{Mode: "keyword", Text: "programming language"})
	if got := sortedIDs(keyword); !reflect.DeepEqual(got, []string{"python", "rust"}) {
		t.Fatalf("keyword: %v", got)
	}
	for _, h := range keyword.Hits {
		if _, ok := h.Signals["keyword"]; !ok || len(h.Signals) != 1 {
			t.Fatalf("keyword hit signals: %+v", h.Signals)
		}
		if !strings.Contains(h.Snippet, "[programming]") {
			t.Fatalf("snippet %q", h.Snippet)
		}
	}
	all := search(t, kb, SearchQuery{Mode: "keyword", Text: "python safety", Keyword: &KeywordOptions{Mode: "all"}})
	if len(all.Hits) != 0 {
		t.Fatalf("all words: %v", all.IDs())
	}

	vector := search(t, kb, SearchQuery{Mode: "vector", Text: "systems programming memory safety", K: 2})
	if len(vector.Hits) != 2 || vector.Hits[0].ID != "rust" || vector.Hits[0].Signals["vector"].Rank != 1 {
		t.Fatalf("vector: %+v", vector.Hits)
	}
	if _, ok := vector.Hits[0].Signals["keyword"]; ok {
		t.Fatal("vector mode used the keyword signal")
	}

	graph := search(t, kb, SearchQuery{Mode: "graph", Graph: &GraphOptions{Seeds: []string{"louvre"}, Hops: 2, Direction: Outgoing}})
	ids := graph.IDs()
	if !contains(ids, "paris") || !contains(ids, "seine") || contains(ids, "rust") {
		t.Fatalf("graph: %v", ids)
	}
	for _, h := range graph.Hits {
		if h.ID == "seine" && h.Signals["graph"].Hops != 2 {
			t.Fatalf("seine is 2 hops from the louvre: %+v", h.Signals)
		}
	}
	_, err := kb.Search(context.Background(), SearchQuery{Mode: "graph", Text: "Paris"})
	expectCode(t, err, ErrInvalidArgument, "Seeds")

	hybrid := search(t, kb, SearchQuery{Text: "Paris museum"})
	if hybrid.Hits[0].ID != "louvre" || len(hybrid.Hits[0].Signals) != 2 {
		t.Fatalf("hybrid: %+v", hybrid.Hits[0])
	}
	text, err := kb.SearchText(context.Background(), "Paris museum", 1)
	must(t, err)
	if len(text.Hits) != 1 || text.Hits[0].ID != "louvre" {
		t.Fatalf("SearchText: %v", text.IDs())
	}

	french := search(t, kb, SearchQuery{Text: "Paris Seine", Filter: map[string]any{"lang": map[string]any{"eq": "fr"}}})
	if !reflect.DeepEqual(french.IDs(), []string{"seine"}) {
		t.Fatalf("filter: %v", french.IDs())
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestKnowledgeSelectiveFilterStillYieldsK(t *testing.T) {
	kb := openKB(t, ":memory:", KBDimension(64))
	must(t, kb.Upsert(riverDocuments()...))
	fr := map[string]any{"lang": map[string]any{"eq": "fr"}}
	for _, mode := range []string{"hybrid", "keyword", "vector"} {
		unfiltered := search(t, kb, SearchQuery{Mode: mode, Text: "river", K: 4})
		for _, h := range unfiltered.Hits {
			if h.Metadata["lang"] != "en" {
				t.Fatalf("%s: a post-filter would not come up short: %v", mode, unfiltered.IDs())
			}
		}
		filtered := search(t, kb, SearchQuery{Mode: mode, Text: "river", K: 4, Filter: fr})
		if got := sortedIDs(filtered); !reflect.DeepEqual(got, []string{"fr0", "fr1", "fr2", "fr3"}) {
			t.Fatalf("%s filtered: %v", mode, got)
		}
	}
}

func TestKnowledgeSearchErrors(t *testing.T) {
	kb := sampleKB(t)
	_, err := kb.Search(context.Background(), SearchQuery{Text: "x", Vector: []float32{1, 2}})
	expectCode(t, err, ErrInvalidArgument, "query.vector")
	_, err = kb.Search(context.Background(), SearchQuery{Text: "x", Filter: map[string]any{"lang": map[string]any{"like": "f"}}})
	expectCode(t, err, ErrInvalidConfig, "filter.lang")
	_, err = kb.Search(context.Background(), SearchQuery{Text: "x", Mode: "fuzzy"})
	expectCode(t, err, ErrInvalidArgument, "mode")
	_, err = kb.SearchText(context.Background(), "x", 0)
	expectCode(t, err, ErrInvalidArgument, "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = kb.Search(ctx, SearchQuery{Text: "x"})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestKnowledgePersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kb.db")
	kb, err := OpenKnowledgeBase(path, KBOptionsJSON(`{"synchronous": "full"}`), KBDimension(64))
	must(t, err)
	must(t, kb.Upsert(riverDocuments()...))
	must(t, kb.Link(Edge{From: "en0", To: "fr0", Type: "translates"}))
	must(t, kb.Checkpoint())
	must(t, kb.Delete("en39"))
	must(t, kb.Close())
	must(t, kb.Close()) // again: nothing
	if _, err := os.Stat(path + ".hnsw"); err != nil {
		t.Fatalf("no index file: %v", err)
	}

	again := openKB(t, path)
	if n := count(t, again); n != 43 {
		t.Fatalf("count after reopen %d", n)
	}
	doc, err := again.Get("fr3")
	must(t, err)
	if doc.Metadata["lang"] != "fr" {
		t.Fatalf("fr3: %+v", doc)
	}
	neighbours, err := again.Neighbours("en0", NeighbourQuery{})
	must(t, err)
	if len(neighbours) != 1 || neighbours[0].ID != "fr0" {
		t.Fatalf("neighbours: %+v", neighbours)
	}
	stats, err := again.Stats()
	must(t, err)
	if stats.Dimension != 64 || stats.Documents != 43 || stats.Index != "loaded" || stats.Path != path ||
		stats.Quantization != "int8" {
		t.Fatalf("stats: %+v", stats)
	}
	must(t, again.Compact())
	_, err = OpenKnowledgeBase(path, KBDimension(32))
	expectCode(t, err, ErrInvalidConfig, "dimension")
}

func TestKnowledgeOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "kb.db")
	_, err := OpenKnowledgeBase(missing)
	expectCode(t, err, ErrIO, missing)
	_, err = OpenKnowledgeBase(":memory:", KBOptionsJSON(`{"dimensions": 8}`))
	expectCode(t, err, ErrInvalidConfig, "dimensions")
	_, err = OpenKnowledgeBase(":memory:", KBOptionsJSON(`{"hnsw": {"m": "many"}}`))
	expectCode(t, err, ErrInvalidConfig, "hnsw.m")
	_, err = OpenKnowledgeBase(":memory:", KBOptionsJSON(`{"hnsw": {"quantization": "int4"}}`))
	expectCode(t, err, ErrInvalidConfig, "hnsw.quantization")
	_, err = OpenKnowledgeBase(":memory:", KBOptionsJSON(`{"dimension": `))
	expectCode(t, err, ErrParse, "")
	_, err = OpenKnowledgeBase("")
	expectCode(t, err, ErrInvalidArgument, "path")
}

func TestKnowledgeClosedIsAnError(t *testing.T) {
	kb := sampleKB(t)
	must(t, kb.Close())
	_, err := kb.Count()
	expectCode(t, err, ErrInvalidArgument, "closed")
	_, err = kb.SearchText(context.Background(), "Paris", 3)
	expectCode(t, err, ErrInvalidArgument, "closed")
}

func TestKnowledgeWithAGoEmbedder(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	embedder, err := NewCallbackEmbedder(16, func(texts []string) ([][]float32, error) {
		mu.Lock()
		seen = append(seen, texts...)
		mu.Unlock()
		out := make([][]float32, len(texts))
		for i, text := range texts {
			v := make([]float32, 16)
			v[len(text)%16] = 1
			out[i] = v
		}
		return out, nil
	})
	must(t, err)
	kb := openKB(t, ":memory:", KBEmbedder(embedder))
	embedder.Close() // the base keeps the function reachable
	must(t, kb.Upsert(Document{ID: "a", Text: "abc"}, Document{ID: "b", Text: "abcdefg"}))
	result := search(t, kb, SearchQuery{Mode: "vector", Text: "xyz", K: 1})
	if !reflect.DeepEqual(result.IDs(), []string{"a"}) {
		t.Fatalf("vector search with a Go embedder: %v", result.IDs())
	}
	mu.Lock()
	defer mu.Unlock()
	if !contains(seen, "abc") || !contains(seen, "xyz") {
		t.Fatalf("embedded %v", seen)
	}
}

func TestKnowledgeChunkText(t *testing.T) {
	text := "Première phrase ici. Deuxième phrase là.\n\nÉté à Noël, encore une phrase longue."
	chunks, err := ChunkText(text, 40, 0)
	must(t, err)
	if len(chunks) < 3 {
		t.Fatalf("chunks: %+v", chunks)
	}
	for _, c := range chunks {
		if text[c.Start:c.End] != c.Text || len(c.Text) > 40 {
			t.Fatalf("chunk %+v", c)
		}
	}
	_, err = ChunkText(text, 100, 60)
	expectCode(t, err, ErrInvalidConfig, "overlap_bytes")
}

func TestKnowledgeConcurrentSearches(t *testing.T) {
	kb := openKB(t, filepath.Join(t.TempDir(), "kb.db"), KBDimension(64))
	must(t, kb.Upsert(riverDocuments()...))
	fr := map[string]any{"lang": map[string]any{"eq": "fr"}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if i%2 == 1 {
					r, err := kb.SearchText(context.Background(), "river water", 5)
					if err != nil || len(r.Hits) != 5 {
						errs <- fmt.Errorf("SearchText: %v (%d hits)", err, len(r.Hits))
						return
					}
					continue
				}
				r, err := kb.Search(context.Background(), SearchQuery{Text: "river", K: 4, Filter: fr})
				if err != nil || !reflect.DeepEqual(sortedIDs(r), []string{"fr0", "fr1", "fr2", "fr3"}) {
					errs <- fmt.Errorf("Search: %v (%v)", err, r.IDs())
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if err := kb.Upsert(Document{ID: fmt.Sprintf("w%d", i), Text: fmt.Sprintf("written %d", i)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, kb); n != 64 {
		t.Fatalf("count %d", n)
	}
}

package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const testRoutes = `{"exit_threshold": 0.8,
 "routes": [
  {"name": "billing", "description": "Invoices, charges, refunds",
   "conditions": [{"keywords": ["invoice", "refund"], "match": "any", "confidence": 0.9},
                  {"metadata": {"channel": {"eq": "stripe"}}, "confidence": 1.0}],
   "utterances": ["I was billed the wrong amount", "my card was charged twice",
                  "why is my bill so high this month"]},
  {"name": "tech", "description": "Technical problems with the app",
   "conditions": [{"regex": "(?i)\\berror code [0-9]+", "confidence": 0.95}],
   "utterances": ["the app crashes when I open it", "I cannot log in to my account",
                  "the page does not load"]},
  {"name": "sales", "description": "Plans, pricing and upgrades",
   "utterances": ["how much does the premium plan cost", "I want to upgrade my subscription"]}]}`

const nonsense = "zebra quantum lighthouse"

var routeExamples = []RouteExample{
	{Text: "I was charged too much", Route: "billing"},
	{Text: "please send me the invoice", Route: "billing"},
	{Text: "the app will not start", Route: "tech"},
	{Text: "login fails every time", Route: "tech"},
	{Text: "what does the premium plan cost", Route: "sales"},
	{Text: "can I upgrade to a bigger plan", Route: "sales"},
	{Text: "what is the capital of France"},
	{Text: "recommend a good pasta recipe", Route: ""},
}

func newTestRouter(t *testing.T, config string, opts ...RouterOption) *Router {
	t.Helper()
	r, err := NewRouter(config, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// withFallback returns testRoutes with "fallback" set.
func withFallback(route string) string {
	return strings.Replace(testRoutes, `{"exit_threshold": 0.8,`,
		fmt.Sprintf(`{"exit_threshold": 0.8, "fallback": %q,`, route), 1)
}

// scriptedChoices is a scripted model answering each content in turn.
func scriptedChoices(t *testing.T, delayMS int, contents ...string) *Model {
	t.Helper()
	responses := make([]map[string]string, len(contents))
	for i, c := range contents {
		responses[i] = map[string]string{"content": c}
	}
	config, _ := json.Marshal(map[string]any{"provider": "scripted", "responses": responses, "delay_ms": delayMS})
	return scriptedModel(t, string(config))
}

func routeChoice(route string) string {
	return fmt.Sprintf(`{"route": %q, "confidence": 0.9}`, route)
}

func mustRoute(t *testing.T, r *Router, text string, metadata map[string]any) RouteResult {
	t.Helper()
	result, err := r.Route(context.Background(), text, metadata)
	if err != nil {
		t.Fatal(err)
	}
	return result
}

func TestRouterEachTierDecides(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	cases := []struct {
		text     string
		metadata map[string]any
		route    string
		tier     string
	}{
		{"Where is my invoice?", nil, "billing", "condition"},
		{"I got error code 42 again", nil, "tech", "condition"},
		{"hello", map[string]any{"channel": "stripe"}, "billing", "condition"},
		{"the app crashes when I open it", nil, "tech", "semantic"},
		{nonsense, nil, "", "none"},
	}
	for _, c := range cases {
		result := mustRoute(t, r, c.text, c.metadata)
		if result.Route != c.route || result.Tier != c.tier {
			t.Errorf("%q: got %q/%q, want %q/%q (%s)", c.text, result.Route, result.Tier, c.route, c.tier, result.Reason)
		}
		if result.Decided() != (c.route != "") {
			t.Errorf("%q: Decided() = %v", c.text, result.Decided())
		}
	}
	semantic := mustRoute(t, r, "the app crashes when I open it", nil)
	if semantic.Confidence < 0.8 || len(semantic.Candidates) == 0 || semantic.Candidates[0].Route != "tech" ||
		semantic.TimingsUS.Total <= 0 {
		t.Fatalf("semantic result = %+v", semantic)
	}
	if none := mustRoute(t, r, nonsense, nil); none.Reason == "" {
		t.Fatalf("no reason for tier none: %+v", none)
	}
}

func TestRouterFallbackTakesWhatNoTierDecided(t *testing.T) {
	r := newTestRouter(t, withFallback("sales"))
	result := mustRoute(t, r, nonsense, nil)
	if result.Route != "sales" || result.Tier != "fallback" || result.Reason == "" {
		t.Fatalf("result = %+v", result)
	}
}

func TestRouterLLMTierWithAScriptedModel(t *testing.T) {
	model := scriptedChoices(t, 0, routeChoice("tech"), "I think it is billing, maybe")
	r := newTestRouter(t, testRoutes, RouterModel(model))
	// The first tiers still decide without asking the model.
	if result := mustRoute(t, r, "Where is my invoice?", nil); result.Tier != "condition" {
		t.Fatalf("result = %+v", result)
	}
	result := mustRoute(t, r, nonsense, nil)
	if result.Route != "tech" || result.Tier != "llm" || result.Confidence != 0.9 {
		t.Fatalf("llm result = %+v", result)
	}
	// A garbage answer: no route, with a reason, and no error.
	garbage := mustRoute(t, r, nonsense, nil)
	if garbage.Route != "" || garbage.Tier != "none" || garbage.Reason == "" {
		t.Fatalf("garbage result = %+v", garbage)
	}
}

func TestRouterGarbageModelAnswerWithAFallback(t *testing.T) {
	model := scriptedChoices(t, 0, "not json at all")
	r := newTestRouter(t, withFallback("sales"), RouterModel(model))
	result := mustRoute(t, r, nonsense, nil)
	if result.Route != "sales" || result.Tier != "fallback" || result.Reason == "" {
		t.Fatalf("result = %+v", result)
	}
}

func TestRouterSkipLLMLeavesTheModelAlone(t *testing.T) {
	model := scriptedChoices(t, 0, routeChoice("sales"))
	r := newTestRouter(t, testRoutes, RouterModel(model))
	skipped, err := r.RouteWith(context.Background(), RouteRequest{Text: nonsense, SkipLLM: true})
	if err != nil || skipped.Tier != "none" {
		t.Fatalf("skipped = %+v, %v", skipped, err)
	}
	if _, err := r.Evaluate(routeExamples, false); err != nil {
		t.Fatal(err)
	}
	if result := mustRoute(t, r, nonsense, nil); result.Route != "sales" {
		t.Fatalf("the scripted answer was used up: %+v", result)
	}
}

// A Go function model decides the llm tier, sees the routes, and stays reachable after its
// Model is closed.
func TestRouterWithAGoFunctionModel(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	model, err := NewCallbackModel(func(req ChatRequest) (ChatResponse, error) {
		data, _ := json.Marshal(req.Messages)
		mu.Lock()
		prompts = append(prompts, string(data))
		mu.Unlock()
		return ChatResponse{Message: Message{Content: routeChoice("sales")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRouter(t, testRoutes, RouterModel(model))
	model.Close()
	result := mustRoute(t, r, nonsense, map[string]any{"channel": "chat"})
	if result.Route != "sales" || result.Tier != "llm" {
		t.Fatalf("result = %+v", result)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(prompts) != 1 || !strings.Contains(prompts[0], "billing") ||
		!strings.Contains(prompts[0], "Plans, pricing and upgrades") || !strings.Contains(prompts[0], nonsense) {
		t.Fatalf("prompts = %v", prompts)
	}
}

func TestRouterFailingModelIsAReason(t *testing.T) {
	model, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) {
		return ChatResponse{}, errors.New("backend down")
	})
	defer model.Close()
	r := newTestRouter(t, testRoutes, RouterModel(model))
	result := mustRoute(t, r, nonsense, nil)
	if result.Route != "" || !strings.Contains(result.Reason, "backend down") {
		t.Fatalf("result = %+v", result)
	}
}

func TestRouterClosedModelIsAnError(t *testing.T) {
	model, _ := NewModel(`{"provider": "scripted", "responses": []}`)
	model.Close()
	if _, err := NewRouter(testRoutes, RouterModel(model)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

// Cancelling the context returns at once with an error matching both context.Canceled and
// ErrCancelled; the router stays usable.
func TestRouterContextCancellationReturnsPromptly(t *testing.T) {
	model := scriptedChoices(t, 5000, routeChoice("tech"))
	r := newTestRouter(t, testRoutes, RouterModel(model))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Route(ctx, nonsense, nil)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if result := mustRoute(t, r, "Where is my invoice?", nil); result.Route != "billing" {
		t.Fatalf("result = %+v", result)
	}
}

func TestRouterContextDeadlineBoundsTheWait(t *testing.T) {
	model := scriptedChoices(t, 5000, routeChoice("tech"))
	r := newTestRouter(t, testRoutes, RouterModel(model))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Route(ctx, nonsense, nil)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// An expired context starts nothing.
	if _, err := r.Route(ctx, "Where is my invoice?", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestRouterTopK(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	candidates, err := r.TopK("my card was charged twice", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(candidates) == 0 || len(candidates) > 2 || candidates[0].Route != "billing" {
		t.Fatalf("candidates = %+v", candidates)
	}
	for i := 1; i < len(candidates); i++ {
		if candidates[i].Score > candidates[i-1].Score {
			t.Fatalf("not best first: %+v", candidates)
		}
	}
	best, err := r.TopK("how much does the premium plan cost", 1, map[string]any{"channel": "stripe"})
	if err != nil || !reflect.DeepEqual(best, []RouteCandidate{{Route: "billing", Score: 1}}) {
		t.Fatalf("metadata top 1 = %+v, %v", best, err)
	}
	if _, err := r.TopK("x", 0, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("k = 0: err = %v", err)
	}
}

func TestRouterFitAndEvaluate(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	before, err := r.Evaluate(routeExamples, false)
	if err != nil {
		t.Fatal(err)
	}
	if before.Examples != 8 || before.InScope.Examples != 6 || before.OutOfScope.Examples != 2 {
		t.Fatalf("counts = %+v", before)
	}
	if before.Routes["billing"].Support != 2 {
		t.Fatalf("routes = %+v", before.Routes)
	}
	tiers := 0
	for _, n := range before.Tiers {
		tiers += n
	}
	confused := 0
	for _, pair := range before.Confused {
		confused += pair.Count
	}
	wrong := int(float64(before.Examples)*(1-before.Accuracy) + 0.5)
	if tiers != 8 || confused != wrong {
		t.Fatalf("tiers %d, confused %d (wrong %d): %+v", tiers, confused, wrong, before)
	}

	seed := uint64(7)
	report, err := r.Fit(routeExamples, &FitOptions{Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if report.Threshold < 0 || report.Threshold > 1 || report.Seconds < 0 {
		t.Fatalf("report = %+v", report)
	}
	after, err := r.Evaluate(routeExamples, false)
	if err != nil {
		t.Fatal(err)
	}
	// The untuned threshold leaves most in-scope paraphrases unrouted; the tuned ones take them
	// and still reject the out-of-scope examples.
	if before.InScope.Accuracy >= 0.5 || after.InScope.Accuracy <= before.InScope.Accuracy ||
		after.OutOfScope.Recall != 1 || after.Tiers["semantic"] <= before.Tiers["semantic"] {
		t.Fatalf("fit did not tune: before %+v, after %+v", before, after)
	}
	config, _ := r.Config()
	if !strings.Contains(config, `"fitted"`) {
		t.Fatalf("config has no learnt state: %s", config)
	}

	// An out-of-scope example taken by a route is a confusion.
	ev, err := r.Evaluate([]RouteExample{{Text: "Where is my invoice?"}}, false)
	if err != nil || ev.Accuracy != 0 ||
		!reflect.DeepEqual(ev.Confused, []ConfusedPair{{Expected: "(out of scope)", Predicted: "billing", Count: 1}}) {
		t.Fatalf("evaluation = %+v, %v", ev, err)
	}
}

func TestRouterFitRejectsBadInput(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	if _, err := r.Fit(nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty: err = %v", err)
	}
	if _, err := r.Fit([]RouteExample{{Text: "x", Route: "nowhere"}}, nil); !errors.Is(err, ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("unknown route: err = %v", err)
	}
	if _, err := r.Fit(routeExamples, &FitOptions{Layer: "sometimes"}); !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "layer") {
		t.Fatalf("bad option: err = %v", err)
	}
}

func TestRouterAddAndRemoveRoute(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	if result := mustRoute(t, r, "my parcel is late", nil); result.Route != "" {
		t.Fatalf("before: %+v", result)
	}
	err := r.AddRoute(RouteSpec{
		Name:        "shipping",
		Description: "Deliveries",
		Conditions:  []RouteCondition{{Keywords: []string{"parcel"}, Confidence: 1}},
		Utterances:  []string{"where is my parcel"},
	})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := r.RouteNames()
	if !reflect.DeepEqual(names, []string{"billing", "tech", "sales", "shipping"}) {
		t.Fatalf("names = %v", names)
	}
	if result := mustRoute(t, r, "my parcel is late", nil); result.Route != "shipping" || result.Tier != "condition" {
		t.Fatalf("added: %+v", result)
	}
	if removed, err := r.RemoveRoute("shipping"); err != nil || !removed {
		t.Fatalf("remove = %v, %v", removed, err)
	}
	if removed, err := r.RemoveRoute("shipping"); err != nil || removed {
		t.Fatalf("remove again = %v, %v", removed, err)
	}
	if result := mustRoute(t, r, "my parcel is late", nil); result.Route != "" {
		t.Fatalf("after removal: %+v", result)
	}
	err = r.AddRoute(RouteSpec{Name: "x", Conditions: []RouteCondition{{}}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "route.conditions[0]") {
		t.Fatalf("bad route: err = %v", err)
	}
}

func TestRouterConfigIsARoutesFile(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	config, err := r.Config()
	if err != nil {
		t.Fatal(err)
	}
	again := newTestRouter(t, config)
	if result := mustRoute(t, again, "Where is my invoice?", nil); result.Route != "billing" {
		t.Fatalf("result = %+v", result)
	}
}

func TestRouterSaveThenLoadAnswersIdentically(t *testing.T) {
	r := newTestRouter(t, testRoutes)
	if _, err := r.Fit(routeExamples, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "router.keelr")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	if !IsSavedRouter(path) {
		t.Fatal("IsSavedRouter = false for a saved router")
	}
	loaded, err := LoadRouter(path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	probes := []string{"why is my bill so high", "Where is my invoice?", "the page will not load",
		"upgrade my plan please", nonsense}
	for _, p := range probes {
		want, got := mustRoute(t, r, p, nil), mustRoute(t, loaded, p, nil)
		want.TimingsUS, got.TimingsUS = RouteTimings{}, RouteTimings{}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%q: loaded %+v, original %+v", p, got, want)
		}
	}
	c1, _ := r.Config()
	c2, _ := loaded.Config()
	if c1 != c2 {
		t.Fatalf("configs differ:\n%s\n%s", c1, c2)
	}
}

func TestRouterLoadRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.json")
	if err := os.WriteFile(routes, []byte(testRoutes), 0o600); err != nil {
		t.Fatal(err)
	}
	if IsSavedRouter(routes) || IsSavedRouter(filepath.Join(dir, "missing")) {
		t.Fatal("IsSavedRouter = true for a file that is not a saved router")
	}
	if _, err := LoadRouter(routes); !errors.Is(err, ErrIO) && !errors.Is(err, ErrParse) {
		t.Fatalf("routes file: err = %v", err)
	}
	if _, err := LoadRouter(filepath.Join(dir, "missing")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestRouterBadConfigIsInvalidConfigNamingThePath(t *testing.T) {
	_, err := NewRouter(`{"routes": [{"name": "a", "threshold": "high"}]}`)
	var kerr *Error
	if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &kerr) || !strings.Contains(kerr.Message, "routes[0].threshold") {
		t.Fatalf("err = %v", err)
	}
	_, err = NewRouter(`{"routes": [{"name": "a"}, {"name": "b", "conditions": [{"regex": "(unclosed"}]}]}`)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "routes[1].conditions[0].regex") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewRouter(`{"routes": [`); !errors.Is(err, ErrParse) {
		t.Fatalf("malformed: err = %v", err)
	}
}

// A Go embedder function drives the semantic tier, and stays reachable after its Embedder is
// closed.
func TestRouterWithAGoEmbedder(t *testing.T) {
	vocabulary := []string{"bill", "charged", "money", "crash", "login", "broken", "plan", "upgrade", "price"}
	var mu sync.Mutex
	var seen []string
	embedder, err := NewCallbackEmbedder(len(vocabulary), func(texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, text := range texts {
			mu.Lock()
			seen = append(seen, text)
			mu.Unlock()
			v := make([]float32, len(vocabulary))
			hit := false
			for _, word := range strings.Fields(strings.ToLower(text)) {
				for j, stem := range vocabulary {
					if strings.HasPrefix(word, stem) {
						v[j]++
						hit = true
					}
				}
			}
			if !hit {
				v[len(v)-1] = 0.01
			}
			out[i] = v
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRouter(t, `{"routes": [
		{"name": "billing", "utterances": ["bill charged money", "charged money twice"]},
		{"name": "tech", "utterances": ["crash login broken", "login broken again"]},
		{"name": "sales", "utterances": ["plan upgrade price", "upgrade plan"]}]}`, RouterEmbedder(embedder))
	embedder.Close()
	result := mustRoute(t, r, "my login is broken", nil)
	if result.Route != "tech" || result.Tier != "semantic" {
		t.Fatalf("result = %+v", result)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(seen, "|")
	if !strings.Contains(joined, "bill charged money") || !strings.Contains(joined, "my login is broken") {
		t.Fatalf("embedded = %v", seen)
	}
}

func TestRouterClosedIsAnError(t *testing.T) {
	r, _ := NewRouter(testRoutes)
	r.Close()
	r.Close()
	if _, err := r.Route(context.Background(), "x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
	if _, err := r.TopK("x", 1, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestRouterConcurrentRoutes(t *testing.T) {
	model, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) {
		return ChatResponse{Message: Message{Content: routeChoice("sales")}}, nil
	})
	defer model.Close()
	r := newTestRouter(t, testRoutes, RouterModel(model))
	probes := map[string]string{"Where is my invoice?": "billing", "the app crashes when I open it": "tech",
		"error code 12": "tech", nonsense: "sales"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				for text, want := range probes {
					result, err := r.Route(context.Background(), text, nil)
					if err != nil || result.Route != want {
						errs <- fmt.Errorf("%q: %+v, %v", text, result, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

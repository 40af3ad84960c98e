package keel

/*
#include <stdint.h>
#include <stdlib.h>
#include <keel.h>

// The completion trampoline of llm_callbacks.go, shared with Model.Chat: it hands the result to
// the pendingCall behind the cgo.Handle in user_data.
extern void keelGoDone(keel_status status, char* json_or_message, void* user_data);

static void keel_go_router_done_fn(keel_status status, const char* json_or_message,
                                   void* user_data) {
  keelGoDone(status, (char*)json_or_message, user_data);
}

// A cgo.Handle travels as user_data; converting it here keeps go vet's unsafe.Pointer check
// quiet (the value is an integer, never a Go pointer).
static keel_status keel_go_router_route_async(const keel_router* router, const char* request_json,
                                              uintptr_t handle, keel_call** call,
                                              keel_error** err) {
  return keel_router_route_async(router, request_json, keel_go_router_done_fn, (void*)handle,
                                 call, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// RouteCondition is one rule of the condition tier: exactly one of Keywords, Regex or Metadata.
// Keywords match whole words case-insensitively (Match "any", the default, or "all"); Regex is
// RE2 syntax on the original text; Metadata holds predicates on the request's metadata
// ({"channel": {"eq": "stripe"}}, "in", "exists", "gte"/"lte"/"gt"/"lt"). Confidence 0 means
// the default, 0.9.
type RouteCondition struct {
	Keywords   []string       `json:"keywords,omitempty"`
	Match      string         `json:"match,omitempty"`
	Regex      string         `json:"regex,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Confidence float64        `json:"confidence,omitempty"`
}

// RouteSpec is a route of the routes file: its name, what it is for (the llm tier reads it),
// its conditions, its example utterances, and an optional Threshold replacing the router's
// exit_threshold for this route (nil: the router's).
type RouteSpec struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Conditions  []RouteCondition `json:"conditions,omitempty"`
	Utterances  []string         `json:"utterances,omitempty"`
	Threshold   *float64         `json:"threshold,omitempty"`
}

// RouteCandidate is a route and its score (a condition's confidence or the semantic confidence).
type RouteCandidate struct {
	Route string  `json:"route"`
	Score float64 `json:"score"`
}

// RouteTimings says how long each tier took, in microseconds.
type RouteTimings struct {
	Condition int64 `json:"condition"`
	Semantic  int64 `json:"semantic"`
	LLM       int64 `json:"llm"`
	Total     int64 `json:"total"`
}

// RouteResult is the outcome of routing one request. Route is "" when no route takes it (Tier
// "none"); with Tier "fallback" it is the configured fallback route and Confidence the best any
// tier reached. Tier is "condition", "semantic", "llm", "fallback" or "none". Reason says why
// no tier decided, or why the model's answer was refused.
type RouteResult struct {
	Route      string           `json:"route"`
	Confidence float64          `json:"confidence"`
	Tier       string           `json:"tier"`
	Candidates []RouteCandidate `json:"candidates"`
	TimingsUS  RouteTimings     `json:"timings_us"`
	Reason     string           `json:"reason,omitempty"`
}

// Decided reports whether a tier was confident (not a fallback, not no route).
func (r RouteResult) Decided() bool {
	return r.Tier == "condition" || r.Tier == "semantic" || r.Tier == "llm"
}

// RouteRequest is a request with its run settings: Metadata feeds the metadata conditions, and
// SkipLLM stops after the semantic tier.
type RouteRequest struct {
	Text     string
	Metadata map[string]any
	SkipLLM  bool
}

// RouteExample is a labelled example for Fit and Evaluate. Route "" means out of scope: no
// route should take the text.
type RouteExample struct {
	Text     string
	Metadata map[string]any
	Route    string
}

// MarshalJSON writes {"text", "metadata"?, "route": name | null}.
func (e RouteExample) MarshalJSON() ([]byte, error) {
	var route *string
	if e.Route != "" {
		route = &e.Route
	}
	return json.Marshal(struct {
		Text     string         `json:"text"`
		Metadata map[string]any `json:"metadata,omitempty"`
		Route    *string        `json:"route"`
	}{e.Text, e.Metadata, route})
}

// FitOptions tune Fit; zero values mean the library's defaults. Layer is "auto" (keep a learnt
// linear layer when it beats similarity scoring), "always" or "never".
type FitOptions struct {
	Layer              string   `json:"layer,omitempty"`
	Epochs             int      `json:"epochs,omitempty"`
	L2                 *float64 `json:"l2,omitempty"`
	PerRouteThresholds *bool    `json:"per_route_thresholds,omitempty"`
	Seed               *uint64  `json:"seed,omitempty"`
	// OutOfScopeWeight is w in (1-w)·in-scope accuracy + w·out-of-scope recall, the objective
	// the thresholds maximise; nil keeps the default 0.2.
	OutOfScopeWeight *float64 `json:"out_of_scope_weight,omitempty"`
}

// FitReport says what Fit did: whether it kept a learnt layer, the shared threshold it chose,
// the objective reached ((1-w)·in-scope accuracy + w·out-of-scope recall), those two figures,
// how many routes got their own threshold, and how long it took.
type FitReport struct {
	Layer            bool    `json:"layer"`
	Threshold        float64 `json:"threshold"`
	Objective        float64 `json:"objective"`
	InScopeAccuracy  float64 `json:"in_scope_accuracy"`
	OutOfScopeRecall float64 `json:"out_of_scope_recall"`
	RoutesTuned      int     `json:"routes_tuned"`
	Seconds          float64 `json:"seconds"`
}

// RouteMetrics are one route's figures in an Evaluation; Support is how many examples expected
// it.
type RouteMetrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Support   int     `json:"support"`
}

// ConfusedPair counts examples that expected one route and got another; "(out of scope)"
// stands for no route.
type ConfusedPair struct {
	Expected  string `json:"expected"`
	Predicted string `json:"predicted"`
	Count     int    `json:"count"`
}

// InScopeFigures are an Evaluation's figures over the examples that name a route.
type InScopeFigures struct {
	Examples int     `json:"examples"`
	Accuracy float64 `json:"accuracy"`
}

// OutOfScopeFigures are an Evaluation's figures over the out-of-scope examples: Recall is the
// share of them rejected, Precision the share of rejections that were out of scope.
type OutOfScopeFigures struct {
	Examples  int     `json:"examples"`
	Recall    float64 `json:"recall"`
	Precision float64 `json:"precision"`
}

// Evaluation is what Evaluate measured. Accuracy counts every example (an out-of-scope one is
// right when no route took it; fallback answers count as no route); Tiers counts the examples
// each tier decided.
type Evaluation struct {
	Examples   int                     `json:"examples"`
	Accuracy   float64                 `json:"accuracy"`
	InScope    InScopeFigures          `json:"in_scope"`
	OutOfScope OutOfScopeFigures       `json:"out_of_scope"`
	Tiers      map[string]int          `json:"tiers"`
	Routes     map[string]RouteMetrics `json:"routes"`
	Confused   []ConfusedPair          `json:"confused"`
}

// RouterOption configures NewRouter and LoadRouter.
type RouterOption func(*routerOptions)

type routerOptions struct {
	model    *Model
	embedder *Embedder
}

// RouterModel gives the router a model for its llm tier (without one the tier is skipped). The
// router keeps what it needs: the model may be closed right after NewRouter returns, and a Go
// function behind it stays reachable as long as the router.
func RouterModel(m *Model) RouterOption { return func(o *routerOptions) { o.model = m } }

// RouterEmbedder gives the router its embedder (default: the configuration's "embedder", else
// the built-in hashing embedder). As with RouterModel, it may be closed right after.
func RouterEmbedder(e *Embedder) RouterOption { return func(o *routerOptions) { o.embedder = e } }

// Router decides which route (a skill, an agent, a queue) handles a request through a
// three-tier cascade where the first confident tier wins: condition (keywords, RE2 patterns,
// metadata predicates), semantic (the request embedded and compared with each route's
// utterances) and llm (a model picks among the route names and descriptions). Safe for
// concurrent use, changes (Fit, AddRoute, RemoveRoute) included; call Close when done.
type Router struct {
	mu        sync.RWMutex // Close excludes calls in progress
	handle    *C.keel_router
	hasModel  bool
	modelHost *callbackHost // retained: a Go model function stays reachable
	embedHost *callbackHost // retained: a Go embedder function stays reachable
}

// NewRouter builds a router from routes-file JSON (see SPEC.md), embedding every utterance
// before it returns. A bad configuration is an error matching ErrInvalidConfig whose message
// names the JSON path ("routes[3].threshold: ..."); malformed JSON matches ErrParse.
func NewRouter(configJSON string, opts ...RouterOption) (*Router, error) {
	cfg := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cfg))
	return newRouter(opts, func(m *C.keel_model, e *C.keel_embedder, out **C.keel_router, cerr **C.keel_error) C.keel_status {
		return C.keel_router_new(cfg, m, e, out, cerr)
	})
}

// LoadRouter loads a router that Save wrote, without embedding again. An embedder given here
// must have the saved dimension. A damaged file is an error matching ErrIO or ErrParse.
func LoadRouter(path string, opts ...RouterOption) (*Router, error) {
	file := C.CString(path)
	defer C.free(unsafe.Pointer(file))
	return newRouter(opts, func(m *C.keel_model, e *C.keel_embedder, out **C.keel_router, cerr **C.keel_error) C.keel_status {
		return C.keel_router_load(file, m, e, out, cerr)
	})
}

// IsSavedRouter reports whether the file at path starts like one Save wrote.
func IsSavedRouter(path string) bool {
	file := C.CString(path)
	defer C.free(unsafe.Pointer(file))
	return C.keel_router_is_saved(file) == 1
}

// routerCreate is keel_router_new or keel_router_load with its other arguments bound.
type routerCreate func(*C.keel_model, *C.keel_embedder, **C.keel_router, **C.keel_error) C.keel_status

func newRouter(opts []RouterOption, create routerCreate) (*Router, error) {
	var o routerOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	r := &Router{}
	var model *C.keel_model
	var embedder *C.keel_embedder
	// The read locks keep the model and embedder open until keel has taken its references.
	if o.model != nil {
		o.model.mu.RLock()
		defer o.model.mu.RUnlock()
		if o.model.handle == nil {
			return nil, &Error{Code: InvalidArgument, Message: "the model is closed"}
		}
		model = o.model.handle
		r.hasModel = true
	}
	if o.embedder != nil {
		o.embedder.mu.RLock()
		defer o.embedder.mu.RUnlock()
		if o.embedder.handle == nil {
			return nil, &Error{Code: InvalidArgument, Message: "the embedder is closed"}
		}
		embedder = o.embedder.handle
	}
	var handle *C.keel_router
	var cerr *C.keel_error
	if err := takeError(create(model, embedder, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	r.handle = handle
	if o.model != nil && o.model.host != nil {
		o.model.host.retain()
		r.modelHost = o.model.host
	}
	if o.embedder != nil && o.embedder.host != nil {
		o.embedder.host.retain()
		r.embedHost = o.embedder.host
	}
	runtime.SetFinalizer(r, (*Router).Close)
	return r, nil
}

// Close frees the router after the calls in progress; it is safe to call more than once. A
// Route whose context ended may still be running inside keel: it finishes on its own.
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handle != nil {
		C.keel_router_free(r.handle)
		r.handle = nil
		if r.modelHost != nil {
			r.modelHost.release()
			r.modelHost = nil
		}
		if r.embedHost != nil {
			r.embedHost.release()
			r.embedHost = nil
		}
	}
	runtime.SetFinalizer(r, nil)
}

// lock takes the read lock of a call; the caller unlocks it.
func (r *Router) lock() (*C.keel_router, error) {
	r.mu.RLock()
	if r.handle == nil {
		r.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the router is closed"}
	}
	return r.handle, nil
}

// Route routes one request; metadata (nil for none) feeds the metadata conditions. Whatever
// the model answers or fails with (garbage, an error, its configured timeout) is a result with
// Tier "none" or "fallback" and a Reason, not an error. The context bounds the wait on the
// model: when it ends first, Route returns at once with an error matching both the context's
// error (context.Canceled, context.DeadlineExceeded) and the keel code (ErrCancelled,
// ErrTimeout), and the model call is cancelled.
func (r *Router) Route(ctx context.Context, text string, metadata map[string]any) (RouteResult, error) {
	return r.RouteWith(ctx, RouteRequest{Text: text, Metadata: metadata})
}

// RouteWith is Route with the run settings of a RouteRequest.
func (r *Router) RouteWith(ctx context.Context, req RouteRequest) (RouteResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return RouteResult{}, newContextError(err, nil)
	}
	if !r.hasModel || req.SkipLLM {
		return r.routeNow(req)
	}
	body, err := requestJSON(req)
	if err != nil {
		return RouteResult{}, err
	}
	reqC := C.CString(body)
	defer C.free(unsafe.Pointer(reqC))

	pending := &pendingCall{notify: make(chan struct{}, 1), done: make(chan callResult, 1)}
	handle, err := r.lock()
	if err != nil {
		return RouteResult{}, err
	}
	if r.modelHost != nil {
		r.modelHost.retain() // the model function stays reachable until this request completes
		pending.host = r.modelHost
	}
	userData := cgo.NewHandle(pending)
	var call *C.keel_call
	var cerr *C.keel_error
	status := C.keel_go_router_route_async(handle, reqC, C.uintptr_t(userData), &call, &cerr)
	r.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		userData.Delete() // done is never called when the request did not start
		if pending.host != nil {
			pending.host.release()
		}
		return RouteResult{}, err
	}
	finished := false
	defer func() {
		if !finished {
			C.keel_call_cancel(call)
		}
		C.keel_call_free(call) // freeing does not cancel; done still comes and cleans up
	}()
	select {
	case result := <-pending.done:
		finished = true
		if result.status != C.KEEL_OK {
			return RouteResult{}, &Error{Code: Code(result.status), Message: result.text}
		}
		return decodeResult(result.text)
	case <-ctx.Done():
		return RouteResult{}, newContextError(ctx.Err(), nil)
	}
}

// routeNow routes without waiting on a model: the fast path without metadata, else the JSON
// request.
func (r *Router) routeNow(req RouteRequest) (RouteResult, error) {
	var out *C.char
	var cerr *C.keel_error
	var status C.keel_status
	if req.Metadata == nil && !req.SkipLLM {
		handle, err := r.lock()
		if err != nil {
			return RouteResult{}, err
		}
		ptr, n := textArg(req.Text)
		status = C.keel_router_route_text(handle, ptr, n, &out, &cerr)
		r.mu.RUnlock()
		runtime.KeepAlive(req.Text)
	} else {
		body, err := requestJSON(req)
		if err != nil {
			return RouteResult{}, err
		}
		reqC := C.CString(body)
		defer C.free(unsafe.Pointer(reqC))
		handle, err := r.lock()
		if err != nil {
			return RouteResult{}, err
		}
		status = C.keel_router_route(handle, reqC, &out, &cerr)
		r.mu.RUnlock()
	}
	if err := takeError(status, cerr); err != nil {
		return RouteResult{}, err
	}
	return decodeResult(takeString(out))
}

func requestJSON(req RouteRequest) (string, error) {
	wire := struct {
		Text     string         `json:"text"`
		Metadata map[string]any `json:"metadata,omitempty"`
		UseLLM   *bool          `json:"use_llm,omitempty"`
	}{Text: req.Text, Metadata: req.Metadata}
	if req.SkipLLM {
		no := false
		wire.UseLLM = &no
	}
	data, err := json.Marshal(wire)
	if err != nil {
		return "", &Error{Code: InvalidArgument, Message: "request: " + err.Error()}
	}
	return string(data), nil
}

func decodeResult(text string) (RouteResult, error) {
	var result RouteResult
	if err := json.Unmarshal([]byte(text), &result); err != nil {
		return RouteResult{}, &Error{Code: Internal, Message: "bad route result JSON: " + err.Error()}
	}
	return result, nil
}

// TopK returns the k (>= 1) best routes for text by the condition and semantic tiers, best
// first; metadata (nil for none) feeds the metadata conditions.
func (r *Router) TopK(text string, k int, metadata map[string]any) ([]RouteCandidate, error) {
	if k < 1 {
		return nil, &Error{Code: InvalidArgument, Message: "k must be at least 1"}
	}
	var metaC *C.char
	if metadata != nil {
		data, err := json.Marshal(metadata)
		if err != nil {
			return nil, &Error{Code: InvalidArgument, Message: "metadata: " + err.Error()}
		}
		metaC = C.CString(string(data))
		defer C.free(unsafe.Pointer(metaC))
	}
	handle, err := r.lock()
	if err != nil {
		return nil, err
	}
	ptr, n := textArg(text)
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_router_top_k(handle, ptr, n, C.size_t(k), metaC, &out, &cerr)
	r.mu.RUnlock()
	runtime.KeepAlive(text)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	var candidates []RouteCandidate
	if err := json.Unmarshal([]byte(takeString(out)), &candidates); err != nil {
		return nil, &Error{Code: Internal, Message: "bad candidates JSON: " + err.Error()}
	}
	return candidates, nil
}

func examplesJSON(examples []RouteExample) (*C.char, error) {
	if examples == nil {
		examples = []RouteExample{}
	}
	data, err := json.Marshal(examples)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "examples: " + err.Error()}
	}
	return C.CString(string(data)), nil
}

// Fit learns from labelled examples: trains the semantic layer, calibrates confidence and
// tunes per-route thresholds; the llm tier is not consulted. opts may be nil. An empty list or
// an example naming an unknown route matches ErrInvalidArgument; a bad option ErrInvalidConfig.
func (r *Router) Fit(examples []RouteExample, opts *FitOptions) (FitReport, error) {
	examplesC, err := examplesJSON(examples)
	if err != nil {
		return FitReport{}, err
	}
	defer C.free(unsafe.Pointer(examplesC))
	var optsC *C.char
	if opts != nil {
		data, err := json.Marshal(opts)
		if err != nil {
			return FitReport{}, &Error{Code: InvalidArgument, Message: "options: " + err.Error()}
		}
		optsC = C.CString(string(data))
		defer C.free(unsafe.Pointer(optsC))
	}
	handle, err := r.lock()
	if err != nil {
		return FitReport{}, err
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_router_fit(handle, examplesC, optsC, &out, &cerr)
	r.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return FitReport{}, err
	}
	var report FitReport
	if err := json.Unmarshal([]byte(takeString(out)), &report); err != nil {
		return FitReport{}, &Error{Code: Internal, Message: "bad fit report JSON: " + err.Error()}
	}
	return report, nil
}

// Evaluate routes every labelled example (the llm tier only when useLLM) and measures accuracy,
// in-scope accuracy, out-of-scope recall, per-route figures and confusions.
func (r *Router) Evaluate(examples []RouteExample, useLLM bool) (Evaluation, error) {
	examplesC, err := examplesJSON(examples)
	if err != nil {
		return Evaluation{}, err
	}
	defer C.free(unsafe.Pointer(examplesC))
	llm := C.int(0)
	if useLLM {
		llm = 1
	}
	handle, err := r.lock()
	if err != nil {
		return Evaluation{}, err
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_router_evaluate(handle, examplesC, llm, &out, &cerr)
	r.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return Evaluation{}, err
	}
	var evaluation Evaluation
	if err := json.Unmarshal([]byte(takeString(out)), &evaluation); err != nil {
		return Evaluation{}, &Error{Code: Internal, Message: "bad evaluation JSON: " + err.Error()}
	}
	return evaluation, nil
}

// AddRoute adds a route (embedding only its utterances) or replaces the route of the same
// name. A bad route matches ErrInvalidConfig and names its path ("route.conditions[0]: ...").
func (r *Router) AddRoute(route RouteSpec) error {
	data, err := json.Marshal(route)
	if err != nil {
		return &Error{Code: InvalidArgument, Message: "route: " + err.Error()}
	}
	routeC := C.CString(string(data))
	defer C.free(unsafe.Pointer(routeC))
	handle, err := r.lock()
	if err != nil {
		return err
	}
	var cerr *C.keel_error
	status := C.keel_router_add_route(handle, routeC, &cerr)
	r.mu.RUnlock()
	return takeError(status, cerr)
}

// RemoveRoute removes the route called name; false when there was none.
func (r *Router) RemoveRoute(name string) (bool, error) {
	nameC := C.CString(name)
	defer C.free(unsafe.Pointer(nameC))
	handle, err := r.lock()
	if err != nil {
		return false, err
	}
	var removed C.int
	var cerr *C.keel_error
	status := C.keel_router_remove_route(handle, nameC, &removed, &cerr)
	r.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return false, err
	}
	return removed == 1, nil
}

// Config returns the configuration as it stands (routes, tuned thresholds, learnt state): a
// routes file NewRouter accepts.
func (r *Router) Config() (string, error) {
	handle, err := r.lock()
	if err != nil {
		return "", err
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_router_config(handle, &out, &cerr)
	r.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// RouteNames returns the names of the routes, in configuration order.
func (r *Router) RouteNames() ([]string, error) {
	config, err := r.Config()
	if err != nil {
		return nil, err
	}
	var parsed struct {
		Routes []struct {
			Name string `json:"name"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(config), &parsed); err != nil {
		return nil, &Error{Code: Internal, Message: "bad config JSON: " + err.Error()}
	}
	names := make([]string, len(parsed.Routes))
	for i, route := range parsed.Routes {
		names[i] = route.Name
	}
	return names, nil
}

// Save writes the router with its utterance vectors and learnt state to one file (a temporary
// file renamed into place), so LoadRouter does not embed again.
func (r *Router) Save(path string) error {
	file := C.CString(path)
	defer C.free(unsafe.Pointer(file))
	handle, err := r.lock()
	if err != nil {
		return err
	}
	var cerr *C.keel_error
	status := C.keel_router_save(handle, file, &cerr)
	r.mu.RUnlock()
	return takeError(status, cerr)
}

package keel

/*
#include <stdint.h>
#include <stdlib.h>
#include <keel.h>

// The completion trampoline of llm_callbacks.go, shared with Model.Chat: it hands the result to
// the pendingCall behind the cgo.Handle in user_data.
extern void keelGoDone(keel_status status, char* json_or_message, void* user_data);
// The event trampoline of tools_callbacks.go.
extern void keelGoAgentEvent(char* event_json, void* user_data);

static void keel_go_agent_done_fn(keel_status status, const char* json_or_message,
                                  void* user_data) {
  keelGoDone(status, (char*)json_or_message, user_data);
}
static void keel_go_agent_event_fn(const char* event_json, void* user_data) {
  keelGoAgentEvent((char*)event_json, user_data);
}

// A cgo.Handle travels as user_data; converting it here keeps go vet's unsafe.Pointer check
// quiet (the value is an integer, never a Go pointer).
static keel_status keel_go_agent_run_async(const keel_agent* agent, const char* input_json,
                                           const char* options_json, uintptr_t handle,
                                           keel_call** call, keel_error** err) {
  return keel_agent_run_async(agent, input_json, options_json, keel_go_agent_done_fn,
                              (void*)handle, call, err);
}
// handle 0 removes the callback.
static keel_status keel_go_agent_set_event_callback(keel_agent* agent, uintptr_t handle,
                                                    keel_error** err) {
  return keel_agent_set_event_callback(agent, handle ? keel_go_agent_event_fn : NULL,
                                       (void*)handle, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Stop reasons of an AgentResult.
const (
	StopFinal     = "final"
	StopMaxTurns  = "max_turns"
	StopBudget    = "budget"
	StopBlocked   = "blocked"
	StopCancelled = "cancelled"
	StopError     = "error"
)

// AgentError says why a run stopped short: Code is a status name ("timeout", "provider",
// "cancelled", ...), Message the detail.
type AgentError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ToolCallRecord is one tool call of a run and what became of it. Status is "ok", "error" (the
// tool failed), "unknown_tool", "invalid_arguments" (not JSON or not valid for the schema: the
// tool did not run), "timeout", "cancelled", "blocked" (the firewall withheld its result) or
// "not_run" (the run stopped first). Arguments are as the model sent them (a JSON string of its
// text when that was not JSON); Result is the tool's value when Status is "ok" (or "blocked");
// Error is what the model was told otherwise.
type ToolCallRecord struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Turn       int             `json:"turn"`
	Status     string          `json:"status"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationUS int64           `json:"duration_us"`
}

// Screening is one firewall verdict taken during a run: at Stage "input", "tool_result" (CallID
// says which call) or "output", the Decision ("allow", "flag", "block") and Risk, the Action
// taken ("flag", "redact", "block") and the categories found.
type Screening struct {
	Stage      string   `json:"stage"`
	Decision   string   `json:"decision"`
	Risk       float64  `json:"risk"`
	Action     string   `json:"action"`
	Categories []string `json:"categories"`
	CallID     string   `json:"call_id,omitempty"`
}

// AgentResult is everything a run did: the final answer (Output, "" unless StopReason is
// "final"), why it stopped, the whole transcript (Messages: the system prompt, the conversation
// given, every model message and every tool result), each tool call, the tokens used, the model
// calls made (Turns), the firewall's verdicts and how long it took. Raw is the result JSON as
// keel wrote it.
type AgentResult struct {
	Output     string           `json:"output"`
	StopReason string           `json:"stop_reason"`
	Error      *AgentError      `json:"error,omitempty"`
	Messages   []Message        `json:"messages"`
	ToolCalls  []ToolCallRecord `json:"tool_calls"`
	Usage      Usage            `json:"usage"`
	Turns      int              `json:"turns"`
	Screenings []Screening      `json:"screenings"`
	DurationUS int64            `json:"duration_us"`
	Raw        json.RawMessage  `json:"-"`
}

// String is the result's JSON, as keel wrote it.
func (r *AgentResult) String() string {
	if r == nil {
		return "<nil>"
	}
	if len(r.Raw) == 0 {
		data, _ := json.Marshal(r)
		return string(data)
	}
	return string(r.Raw)
}

// Err returns why the run stopped short as an *Error (its Code from Error.Code), or nil when
// the result carries no error.
func (r *AgentResult) Err() error {
	if r == nil || r.Error == nil {
		return nil
	}
	return &Error{Code: codeNamed(r.Error.Code), Message: r.Error.Message}
}

// codeNamed is the Code whose String is name (Internal for an unknown name).
func codeNamed(name string) Code {
	for c := OK; c <= Internal; c++ {
		if c.String() == name {
			return c
		}
	}
	return Internal
}

// Agent drives a model through tool calls: each run takes a conversation, calls the model,
// runs the tools it asks for (concurrently when it asks for several), feeds their results or
// errors back, and stops at a final answer or a limit, always returning the whole transcript.
// With a firewall it screens the user's input, tool results and the output. An agent is
// stateless and safe for concurrent use: any number of runs at once. Call Close when done.
type Agent struct {
	mu        sync.RWMutex // Close and OnEvent exclude runs being started
	handle    *C.keel_agent
	modelHost *callbackHost // retained: a Go model function stays reachable
	tools     *toolFuncs    // retained: the Go tool functions stay reachable
	events    cgo.Handle    // the OnEvent function, 0 when none
}

// NewAgent builds an agent from its configuration JSON ("" for the defaults; every key is
// optional): {"system_prompt", "max_turns": 10, "parallel_tool_calls": true,
// "max_parallel_tools": 8, "token_budget": 0, "timeout_ms": 0, "tool_timeout_ms": 60000,
// "temperature", "max_tokens", "tool_choice", "max_tool_result_bytes", "firewall": {...},
// "screen": {"input": "block", "tool_results": "block", "output": "block"}}. model is
// required; tools and firewall may be nil (then the configuration's "firewall", if any, builds
// one). The agent keeps what it needs: the model, toolset and firewall may be closed right
// after, and later changes to the toolset do not reach it. A bad configuration is an error
// matching ErrInvalidConfig naming the JSON path.
func NewAgent(configJSON string, model *Model, tools *Toolset, firewall *Firewall) (*Agent, error) {
	if model == nil {
		return nil, &Error{Code: InvalidArgument, Message: "model is required"}
	}
	var cfg *C.char
	if configJSON != "" {
		var err error
		if cfg, err = cString(configJSON, "agent configuration"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cfg))
	}
	// The read locks keep the model and toolset open until keel has taken its copies.
	model.mu.RLock()
	defer model.mu.RUnlock()
	if model.handle == nil {
		return nil, &Error{Code: InvalidArgument, Message: "the model is closed"}
	}
	var toolset *C.keel_toolset
	if tools != nil {
		handle, err := tools.lock()
		if err != nil {
			return nil, err
		}
		defer tools.mu.RUnlock()
		toolset = handle
	}
	var fw *C.keel_firewall
	if firewall != nil {
		handle, err := firewall.lock()
		if err != nil {
			return nil, err
		}
		defer firewall.mu.RUnlock()
		fw = handle
	}
	var handle *C.keel_agent
	var cerr *C.keel_error
	status := C.keel_agent_new(cfg, model.handle, toolset, fw, &handle, &cerr)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	a := &Agent{handle: handle}
	if model.host != nil {
		model.host.retain()
		a.modelHost = model.host
	}
	if tools != nil {
		tools.funcs.retain()
		a.tools = tools.funcs
	}
	runtime.SetFinalizer(a, (*Agent).Close)
	return a, nil
}

// Close frees the agent; it is safe to call more than once. Runs in flight finish on their
// own (without events), and their Run calls return normally.
func (a *Agent) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handle != nil {
		if a.events != 0 {
			// Runs in flight may outlive the handle: silence them first. When this returns
			// the event function is no longer running.
			C.keel_go_agent_set_event_callback(a.handle, 0, nil)
			a.events.Delete()
			a.events = 0
		}
		C.keel_agent_free(a.handle)
		a.handle = nil
		releaseFuncs(a.modelHost, a.tools)
		a.modelHost, a.tools = nil, nil
	}
	runtime.SetFinalizer(a, nil)
}

// releaseFuncs drops references on the Go functions behind a model and a toolset.
func releaseFuncs(model *callbackHost, tools *toolFuncs) {
	if model != nil {
		model.release()
	}
	if tools != nil {
		tools.release()
	}
}

// OnEvent makes fn receive the agent's events as JSON: "agent.run", "agent.model_call",
// "agent.tool_call" and "agent.screen" (never message text); nil removes it. fn runs on keel's
// threads, possibly several at once; it should be quick and must not call OnEvent or Close.
// When OnEvent returns, the previous function is no longer running.
func (a *Agent) OnEvent(fn func(event []byte)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handle == nil {
		return &Error{Code: InvalidArgument, Message: "the agent is closed"}
	}
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(fn)
	}
	var cerr *C.keel_error
	if err := takeError(C.keel_go_agent_set_event_callback(a.handle, C.uintptr_t(h), &cerr), cerr); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	if a.events != 0 {
		a.events.Delete()
	}
	a.events = h
	return nil
}

// Run runs the agent on one user message (the task). See RunMessages.
func (a *Agent) Run(ctx context.Context, task string) (*AgentResult, error) {
	input, err := json.Marshal(task)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "task: " + err.Error()}
	}
	return a.run(ctx, string(input))
}

// RunMessages runs the agent on a conversation (at least one message; a system message first
// replaces the configured system prompt).
//
// A run that happened returns its result and a nil error whatever its StopReason: a model
// failure is StopReason "error" with the transcript so far (Err gives it as an *Error). The
// context bounds the run: its deadline becomes the run's timeout and cancelling it stops the
// run (running tools are abandoned, their late results ignored). When the context ends the
// run, RunMessages returns the result so far (StopReason "cancelled", or "error" with a
// timeout) together with an error matching both the context's error (context.Canceled,
// context.DeadlineExceeded) and the keel code (ErrCancelled, ErrTimeout); the result is nil
// only when keel could not report it within two seconds of the cancellation (its threads all
// held by tool functions that ignore their context). Bad arguments (no messages, a malformed
// message, a closed agent) are errors with a nil result.
func (a *Agent) RunMessages(ctx context.Context, messages []Message) (*AgentResult, error) {
	if messages == nil {
		messages = []Message{}
	}
	input, err := json.Marshal(messages)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "messages: " + err.Error()}
	}
	return a.run(ctx, string(input))
}

func (a *Agent) run(ctx context.Context, input string) (*AgentResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, newContextError(err, nil)
	}
	inputC, err := cString(input, "input")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(inputC))
	optsC, err := timeoutOptions(ctx)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(optsC))

	pending := &pendingCall{done: make(chan callResult, 1)}
	a.mu.RLock()
	if a.handle == nil {
		a.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the agent is closed"}
	}
	// The run may outlive Close: the Go functions it calls stay reachable until it completes.
	model, tools := a.modelHost, a.tools
	if model != nil {
		model.retain()
	}
	if tools != nil {
		tools.retain()
	}
	abandoned := false // then the goroutine waiting for done releases them
	defer func() {
		if !abandoned {
			releaseFuncs(model, tools)
		}
	}()
	userData := cgo.NewHandle(pending)
	var call *C.keel_call
	var cerr *C.keel_error
	status := C.keel_go_agent_run_async(a.handle, inputC, optsC, C.uintptr_t(userData), &call, &cerr)
	a.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		userData.Delete() // done is never called when the run did not start
		return nil, err
	}
	defer C.keel_call_free(call) // freeing does not cancel

	result, ok := awaitCall(ctx, call, pending, optsC != nil)
	if !ok {
		// Not reported in time: the goroutine left waiting for done releases the functions.
		abandoned = true
		go func() {
			<-pending.done
			releaseFuncs(model, tools)
		}()
		return nil, newContextError(ctx.Err(), nil)
	}
	if result.status != C.KEEL_OK {
		return nil, withContext(ctx, &Error{Code: Code(result.status), Message: result.text})
	}
	r := &AgentResult{Raw: json.RawMessage(result.text)}
	if err := decodeJSON(result.text, r, "agent result"); err != nil {
		return nil, err
	}
	return r, endedByContext(ctx, r)
}

// cancelGrace is how long a cancelled run gets to report what it has before Run returns
// without it.
const cancelGrace = 2 * time.Second

// deadlineGrace is how long a run whose context's deadline passed gets to stop on keel's own
// deadline before it is cancelled.
const deadlineGrace = 250 * time.Millisecond

// endedByContext is the error of a run the context ended (nil for one that stopped by itself):
// it matches the context's error and, as keel's code, ErrCancelled or ErrTimeout.
func endedByContext(ctx context.Context, r *AgentResult) error {
	ctxErr := ctx.Err()
	if deadline, ok := ctx.Deadline(); ctxErr == nil && ok && !time.Now().Before(deadline) {
		// keel's timer, given the same deadline, may fire before the context's.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr == nil {
		return nil
	}
	kerr, _ := r.Err().(*Error)
	timedOut := kerr != nil && kerr.Code == Timeout
	if r.StopReason != StopCancelled && !timedOut {
		return nil // it stopped for a reason of its own as the context ended
	}
	if kerr != nil && (kerr.Code != Cancelled && kerr.Code != Timeout ||
		timedOut != errors.Is(ctxErr, context.DeadlineExceeded)) {
		kerr = nil // the keel code then follows the context's error
	}
	return newContextError(ctxErr, kerr)
}

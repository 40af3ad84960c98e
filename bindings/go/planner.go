package keel

/*
#include <stdint.h>
#include <stdlib.h>
#include <keel.h>

// The completion trampoline of llm_callbacks.go, shared with Model.Chat and Agent.Run: it hands
// the result to the pendingCall behind the cgo.Handle in user_data.
extern void keelGoDone(keel_status status, char* json_or_message, void* user_data);
// The event trampoline of tools_callbacks.go, shared with the agent: it calls the func([]byte)
// behind the cgo.Handle in user_data.
extern void keelGoAgentEvent(char* event_json, void* user_data);

static void keel_go_planner_done_fn(keel_status status, const char* json_or_message,
                                    void* user_data) {
  keelGoDone(status, (char*)json_or_message, user_data);
}
static void keel_go_planner_event_fn(const char* event_json, void* user_data) {
  keelGoAgentEvent((char*)event_json, user_data);
}

// A cgo.Handle travels as user_data; converting it here keeps go vet's unsafe.Pointer check
// quiet (the value is an integer, never a Go pointer).
static keel_status keel_go_planner_start(const keel_planner* planner, const char* goal,
                                         const char* plan_json, const char* options_json,
                                         uintptr_t handle, keel_call** call, keel_error** err) {
  return keel_planner_start(planner, goal, plan_json, options_json, keel_go_planner_done_fn,
                            (void*)handle, call, err);
}
static keel_status keel_go_planner_plan_async(const keel_planner* planner, const char* goal,
                                              const char* options_json, uintptr_t handle,
                                              keel_call** call, keel_error** err) {
  return keel_planner_plan_async(planner, goal, options_json, keel_go_planner_done_fn,
                                 (void*)handle, call, err);
}
// handle 0 removes the callback.
static keel_status keel_go_planner_set_event_callback(keel_planner* planner, uintptr_t handle,
                                                      keel_error** err) {
  return keel_planner_set_event_callback(planner, handle ? keel_go_planner_event_fn : NULL,
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

// Statuses of a PlanRun.
const (
	PlanSucceeded = "succeeded" // every task is done (and, for a goal, the model answered)
	PlanFailed    = "failed"    // a task failed, or the run's deadline passed (Error says which)
	PlanCancelled = "cancelled" // the run was cancelled
	PlanInvalid   = "invalid"   // the plan failed validation (or no valid plan came for a goal)
)

// Statuses of a TaskOutcome.
const (
	TaskDone        = "done"
	TaskFailed      = "failed"
	TaskSkipped     = "skipped"     // a task it needs failed (failure_policy "skip_dependents")
	TaskCancelled   = "cancelled"   // the run stopped before or while it ran
	TaskInterrupted = "interrupted" // a resumed run found it started; its tool is not idempotent
	TaskPending     = "pending"     // it never started (an invalid plan)
)

// PlanIssue is one problem of a plan: the task it concerns ("" for the plan as a whole) and what
// is wrong with it.
type PlanIssue struct {
	Task    string `json:"task"`
	Problem string `json:"problem"`
}

// String is "t3: unknown tool \"serch\"" (the problem alone when no task is named).
func (i PlanIssue) String() string {
	if i.Task == "" {
		return i.Problem
	}
	return i.Task + ": " + i.Problem
}

// TaskOutcome is one task of a run and what became of it (Status is one of the Task...
// constants). Output is the tool's value when the task is done (JSON null otherwise); Error
// says why it failed, was skipped, cancelled or interrupted. Times are in microseconds since
// the run started (0 when it never started). Reloaded is true when a resumed run took the
// output from the journal instead of running the task again.
type TaskOutcome struct {
	ID         string          `json:"id"`
	Tool       string          `json:"tool"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	Error      string          `json:"error,omitempty"`
	Attempts   int             `json:"attempts"`
	StartedUS  int64           `json:"started_us"`
	FinishedUS int64           `json:"finished_us"`
	DurationUS int64           `json:"duration_us"`
	Reloaded   bool            `json:"reloaded,omitempty"`
}

// PlanRun is what a run of a plan (or a goal) did: its id (the journal's key), its Status (one
// of the Plan... constants), the model's Answer (goals only), why it fell short (Error: Code is
// a status name such as "invalid_argument", "tool", "timeout" or "cancelled"), every task of
// the last plan in plan order, every plan run (more than one after a re-plan, as keel wrote
// them), the model's tokens and how long it took. Raw is the result JSON as keel wrote it.
type PlanRun struct {
	RunID      string            `json:"run_id"`
	Status     string            `json:"status"`
	Answer     string            `json:"answer,omitempty"`
	Error      *AgentError       `json:"error,omitempty"`
	Tasks      []TaskOutcome     `json:"tasks"`
	Plans      []json.RawMessage `json:"plans"`
	Replans    int               `json:"replans"`
	Usage      Usage             `json:"usage"`
	DurationUS int64             `json:"duration_us"`
	Raw        json.RawMessage   `json:"-"`
}

// Task returns the outcome of the task with that id, or nil.
func (r *PlanRun) Task(id string) *TaskOutcome {
	if r == nil {
		return nil
	}
	for i := range r.Tasks {
		if r.Tasks[i].ID == id {
			return &r.Tasks[i]
		}
	}
	return nil
}

// String is the result's JSON, as keel wrote it.
func (r *PlanRun) String() string {
	if r == nil {
		return "<nil>"
	}
	if len(r.Raw) == 0 {
		data, _ := json.Marshal(r)
		return string(data)
	}
	return string(r.Raw)
}

// Err returns why the run fell short as an *Error (its Code from Error.Code), or nil when the
// result carries no error.
func (r *PlanRun) Err() error {
	if r == nil || r.Error == nil {
		return nil
	}
	return &Error{Code: codeNamed(r.Error.Code), Message: r.Error.Message}
}

// RunOptions are a run's options. RunID names the run in the planner's journal: a run whose id
// the journal knows resumes it (tasks that finished are not run again). "" gives a new id.
type RunOptions struct {
	RunID string
}

// Planner turns a goal into a plan (a DAG of tool calls the model writes as JSON), validates
// it, runs it in parallel (every task whose dependencies are done starts, up to max_parallel)
// and has the model answer from the results, re-planning when it asks. Plans may also come from
// the host. With a journal, runs are durable: one that stopped resumes where it was. A planner
// is safe for concurrent use: any number of runs at once. Call Close when done.
type Planner struct {
	mu        sync.RWMutex // Close and OnEvent exclude calls being started and Plan calls
	handle    *C.keel_planner
	modelHost *callbackHost // retained: a Go model function stays reachable
	tools     *toolFuncs    // retained: the Go tool functions stay reachable
	events    cgo.Handle    // the OnEvent function, 0 when none
}

// NewPlanner builds a planner from its configuration JSON ("" for the defaults; every key is
// optional): {"max_parallel": 8, "failure_policy": "skip_dependents" | "fail_fast" |
// "continue", "task_timeout_ms": 60000, "retry": {...}, "circuit_breaker": {...} | false,
// "max_plan_attempts": 3, "max_replans": 1, "journal": "runs.sqlite", "instructions": "...",
// "max_output_bytes": 65536}. model may be nil (then only host plans without "llm" tasks), and
// so may tools (then only "llm" tasks). The planner keeps what it needs: the model and toolset
// may be closed right after, and later changes to the toolset do not reach it. A bad
// configuration, or a journal that cannot be opened, is an error matching ErrInvalidConfig.
func NewPlanner(configJSON string, model *Model, tools *Toolset) (*Planner, error) {
	var cfg *C.char
	if configJSON != "" {
		var err error
		if cfg, err = cString(configJSON, "planner configuration"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cfg))
	}
	// The read locks keep the model and toolset open until keel has taken its copies.
	var modelHandle *C.keel_model
	if model != nil {
		model.mu.RLock()
		defer model.mu.RUnlock()
		if model.handle == nil {
			return nil, &Error{Code: InvalidArgument, Message: "the model is closed"}
		}
		modelHandle = model.handle
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
	var handle *C.keel_planner
	var cerr *C.keel_error
	if err := takeError(C.keel_planner_new(cfg, modelHandle, toolset, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	p := &Planner{handle: handle}
	if model != nil && model.host != nil {
		model.host.retain()
		p.modelHost = model.host
	}
	if tools != nil {
		tools.funcs.retain()
		p.tools = tools.funcs
	}
	runtime.SetFinalizer(p, (*Planner).Close)
	return p, nil
}

// Close frees the planner after the Plan calls in progress; it is safe to call more than once.
// Runs in flight finish on their own (without events), and their Run and Solve calls return
// normally.
func (p *Planner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle != nil {
		// keel_planner_free removes the event callback first: when it returns the event
		// function is no longer running.
		C.keel_planner_free(p.handle)
		p.handle = nil
		if p.events != 0 {
			p.events.Delete()
			p.events = 0
		}
		releaseFuncs(p.modelHost, p.tools)
		p.modelHost, p.tools = nil, nil
	}
	runtime.SetFinalizer(p, nil)
}

// OnEvent makes fn receive the planner's events as JSON: "plan.task" (run_id, id, tool, state:
// queued, started, finished, failed, skipped, cancelled or interrupted) and "plan.run" (run_id,
// status); nil removes it. fn runs on keel's threads, possibly several at once; it should be
// quick and must not call OnEvent or Close. When OnEvent returns, the previous function is no
// longer running.
func (p *Planner) OnEvent(fn func(event []byte)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handle == nil {
		return &Error{Code: InvalidArgument, Message: "the planner is closed"}
	}
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(fn)
	}
	var cerr *C.keel_error
	if err := takeError(C.keel_go_planner_set_event_callback(p.handle, C.uintptr_t(h), &cerr), cerr); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	if p.events != 0 {
		p.events.Delete()
	}
	p.events = h
	return nil
}

// Validate returns every problem of a plan: duplicate ids, unknown tools, dependencies and
// references to tasks that do not exist, cycles (one issue naming the tasks in it), arguments
// that break a tool's schema, and llm tasks when the planner has no model. A valid plan gives an
// empty slice. A plan not even shaped like one ({"tasks": [{"id", "tool", "args"?, "deps"?,
// "timeout_ms"?}]}) is an error matching ErrInvalidArgument naming the place ("tasks[2].id").
func (p *Planner) Validate(plan json.RawMessage) ([]PlanIssue, error) {
	planC, err := cString(string(plan), "plan")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(planC))
	p.mu.RLock()
	if p.handle == nil {
		p.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the planner is closed"}
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_planner_validate(p.handle, planC, &out, &cerr)
	p.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	issues := []PlanIssue{}
	return issues, decodeJSON(takeString(out), &issues, "plan issues")
}

// Plan asks the model for a plan for goal and returns it as JSON, re-asking with the problems
// of an invalid one up to max_plan_attempts times. When no valid plan came, the error matches
// ErrParse and lists the last problems; a planner without a model gives ErrInvalidArgument.
// The context bounds the planning: when its deadline passes or it is cancelled, keel stops
// waiting for the model and Plan returns an error matching both the context's error and the
// keel code (ErrTimeout, ErrCancelled).
func (p *Planner) Plan(ctx context.Context, goal string) (json.RawMessage, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	goalC, err := cString(goal, "goal")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(goalC))
	result, err := p.await(ctx, nil, func(handle *C.keel_planner, optsC *C.char, userData C.uintptr_t,
		call **C.keel_call, cerr **C.keel_error) C.keel_status {
		return C.keel_go_planner_plan_async(handle, goalC, optsC, userData, call, cerr)
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(result.text), nil
}

// Run runs a plan ({"tasks": [{"id": "t1", "tool": "search", "args": {...}, "deps": [...]}]})
// and returns its result. An argument string "$t1" is t1's whole output and "${t1.a.0}" a value
// inside it, keeping its JSON type (inside a longer string, its text); a reference makes its
// task a dependency. The tool "llm" is the model: {"tool": "llm", "args": {"prompt": "..."}}.
//
// A plan that fails validation is a result with Status "invalid" and every problem in
// Error.Message. With a journal and an opts.RunID the journal knows, the run resumes: plan may
// then be nil (the journal has it); another plan than the stored one is an error matching
// ErrInvalidArgument. A plan not shaped like one is an error matching ErrInvalidArgument with a
// nil result.
//
// A run that happened returns its result and a nil error whatever its Status. The context
// bounds the run: its deadline becomes the run's timeout (Status "failed", Error.Code
// "timeout") and cancelling it stops the run (Status "cancelled"; running tools are abandoned,
// their late results ignored). When the context ends the run, Run returns the result so far
// together with an error matching both the context's error and the keel code (ErrCancelled,
// ErrTimeout); the result is nil only when keel could not report it within two seconds of the
// cancellation.
func (p *Planner) Run(ctx context.Context, plan json.RawMessage, opts *RunOptions) (*PlanRun, error) {
	var planC *C.char
	if len(plan) > 0 {
		var err error
		if planC, err = cString(string(plan), "plan"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(planC))
	}
	return p.start(ctx, nil, planC, opts)
}

// Solve reaches a goal: the model writes a plan (re-asked while it is invalid, up to
// max_plan_attempts), the plan runs, and the model answers from the results (Answer) or asks
// for a new plan (up to max_replans; Plans then holds every plan). When no valid plan came the
// Status is "invalid" (Error.Code "parse"); when the model fails while answering, Error says
// why and Answer is empty. A planner without a model gives an error matching
// ErrInvalidArgument. Results, errors and the context's part are as for Run; with a journal,
// an opts.RunID the journal knows resumes that run's last plan.
func (p *Planner) Solve(ctx context.Context, goal string, opts *RunOptions) (*PlanRun, error) {
	goalC, err := cString(goal, "goal")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(goalC))
	return p.start(ctx, goalC, nil, opts)
}

// start runs a plan (goal NULL) or solves a goal through keel_planner_start, and waits for the
// result.
func (p *Planner) start(ctx context.Context, goal, plan *C.char, opts *RunOptions) (*PlanRun, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	result, err := p.await(ctx, opts, func(handle *C.keel_planner, optsC *C.char, userData C.uintptr_t,
		call **C.keel_call, cerr **C.keel_error) C.keel_status {
		return C.keel_go_planner_start(handle, goal, plan, optsC, userData, call, cerr)
	})
	if err != nil {
		return nil, err
	}
	r := &PlanRun{Raw: json.RawMessage(result.text)}
	if err := decodeJSON(result.text, r, "plan run"); err != nil {
		return nil, err
	}
	return r, r.endedByContext(ctx)
}

// await starts one asynchronous call on the planner's handle (begin, given the options JSON
// and the cgo.Handle for the completion) and waits for its result under the context. A failed
// call is a *Error (together with the context's error when the context ended it). The Go model
// and tools the call may use stay reachable until keel is done with them, even after Close.
func (p *Planner) await(ctx context.Context, opts *RunOptions, begin func(handle *C.keel_planner, optsC *C.char,
	userData C.uintptr_t, call **C.keel_call, cerr **C.keel_error) C.keel_status) (callResult, error) {
	if err := ctx.Err(); err != nil {
		return callResult{}, newContextError(err, nil)
	}
	optsC, err := runOptionsJSON(ctx, opts)
	if err != nil {
		return callResult{}, err
	}
	defer C.free(unsafe.Pointer(optsC))
	_, keelHasDeadline := ctx.Deadline()

	pending := &pendingCall{done: make(chan callResult, 1)}
	p.mu.RLock()
	if p.handle == nil {
		p.mu.RUnlock()
		return callResult{}, &Error{Code: InvalidArgument, Message: "the planner is closed"}
	}
	model, tools := p.modelHost, p.tools
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
	status := begin(p.handle, optsC, C.uintptr_t(userData), &call, &cerr)
	p.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		userData.Delete() // done is never called when the call did not start
		return callResult{}, err
	}
	defer C.keel_call_free(call) // freeing does not cancel

	result, ok := awaitCall(ctx, call, pending, keelHasDeadline)
	if !ok {
		abandoned = true
		go func() {
			<-pending.done
			releaseFuncs(model, tools)
		}()
		return callResult{}, newContextError(ctx.Err(), nil)
	}
	if result.status != C.KEEL_OK {
		return callResult{}, withContext(ctx, &Error{Code: Code(result.status), Message: result.text})
	}
	return result, nil
}

// awaitCall waits for an asynchronous call's result. When the context ends first, a call that
// has the context's deadline gets deadlineGrace to stop on keel's own timer (which reports the
// accurate reason); otherwise, or then, it is cancelled and gets cancelGrace to report what it
// has. ok is false when it did not report in time: its result will still arrive on
// pending.done.
func awaitCall(ctx context.Context, call *C.keel_call, pending *pendingCall, keelHasDeadline bool) (result callResult, ok bool) {
	select {
	case result = <-pending.done:
		return result, true
	case <-ctx.Done():
	}
	if keelHasDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		select {
		case result = <-pending.done:
			return result, true
		case <-time.After(deadlineGrace):
		}
	}
	// keel answers at once unless its threads are all held by host functions that ignore
	// their context; then the caller gives up waiting rather than hang with them.
	C.keel_call_cancel(call)
	select {
	case result = <-pending.done:
		return result, true
	case <-time.After(cancelGrace):
		return callResult{}, false
	}
}

// runOptionsJSON is a run's options as keel takes them: {"timeout_ms": N} from the context's
// deadline (rounded up) and {"run_id"}; NULL when there are none. The caller frees it.
func runOptionsJSON(ctx context.Context, opts *RunOptions) (*C.char, error) {
	var o struct {
		TimeoutMS int64  `json:"timeout_ms,omitempty"`
		RunID     string `json:"run_id,omitempty"`
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, newContextError(context.DeadlineExceeded, nil)
		}
		o.TimeoutMS = int64((left + time.Millisecond - 1) / time.Millisecond)
	}
	if opts != nil {
		o.RunID = opts.RunID
	}
	if o.TimeoutMS == 0 && o.RunID == "" {
		return nil, nil
	}
	data, err := json.Marshal(o)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "run options: " + err.Error()}
	}
	return cString(string(data), "run options")
}

// endedByContext is the error of a run the context ended (nil for one that ended by itself): it
// matches the context's error and, as keel's code, ErrCancelled or ErrTimeout.
func (r *PlanRun) endedByContext(ctx context.Context) error {
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
	if r.Status != PlanCancelled && !timedOut {
		return nil // it ended for a reason of its own as the context ended
	}
	if kerr != nil && (kerr.Code != Cancelled && kerr.Code != Timeout ||
		timedOut != errors.Is(ctxErr, context.DeadlineExceeded)) {
		kerr = nil // the keel code then follows the context's error
	}
	return newContextError(ctxErr, kerr)
}

package keel

/*
#include <stdint.h>
#include <stdlib.h>
#include <keel.h>

// The Go trampoline of tools_callbacks.go (cgo's exported prototypes have no const).
extern int keelGoToolCall(char* arguments_json, char* context_json, keel_reply* reply,
                          void* user_data);

static int keel_go_tool_fn(const char* arguments_json, const char* context_json,
                           keel_reply* reply, void* user_data) {
  return keelGoToolCall((char*)arguments_json, (char*)context_json, reply, user_data);
}

// A cgo.Handle travels as user_data; converting it here keeps go vet's unsafe.Pointer check
// quiet (the value is an integer, never a Go pointer).
static keel_status keel_go_toolset_add(keel_toolset* tools, const char* spec_json,
                                       uintptr_t handle, keel_error** err) {
  return keel_toolset_add(tools, spec_json, keel_go_tool_fn, (void*)handle, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// ToolFunc is a tool written in Go. It receives the arguments the model sent, already checked
// against the tool's JSON Schema, and returns a value that is marshalled to JSON (a
// json.RawMessage is passed as it is). An error it returns fails the call: the model is told
// its message. A *keel.Error keeps its code (Timeout and Cancelled give the statuses "timeout"
// and "cancelled"); context.DeadlineExceeded becomes Timeout and context.Canceled Cancelled;
// anything else is a Tool error. A panic is recovered and reported the same way.
//
// ctx carries the time left before the caller stops waiting (the agent run's deadline, or
// Toolset.Call's) and, through ToolCallFromContext, the call's id. keel cannot tell a host
// function that a run was cancelled or that the agent's tool_timeout_ms passed, so a function
// that may block long should honour ctx's deadline. It runs on one of keel's threads (there
// are few: KEEL_THREADS, else the number of cores up to 4) and holds it until it returns,
// possibly for several calls at once.
type ToolFunc func(ctx context.Context, args json.RawMessage) (any, error)

// ToolCallInfo identifies one call of a Go tool: the call id the model gave and the tool's name.
type ToolCallInfo struct {
	CallID string
	Tool   string
}

type toolCallKey struct{}

// ToolCallFromContext returns the call a ToolFunc's context belongs to.
func ToolCallFromContext(ctx context.Context) (ToolCallInfo, bool) {
	info, ok := ctx.Value(toolCallKey{}).(ToolCallInfo)
	return info, ok
}

// goTool is what a tool's cgo.Handle points to.
type goTool struct {
	name string
	fn   ToolFunc
}

// toolFuncs keeps the Go functions of a toolset reachable from C. Agents copy the toolset's
// tools in C, with the handles as user_data, so the handles cannot go with the toolset (nor
// with Remove): the toolset holds one reference, every agent made from it one, every run or
// Call in flight one, and the last release deletes every handle.
type toolFuncs struct {
	mu      sync.Mutex
	refs    int
	handles []cgo.Handle
}

func newToolFuncs() *toolFuncs { return &toolFuncs{refs: 1} }

func (f *toolFuncs) retain() {
	f.mu.Lock()
	f.refs++
	f.mu.Unlock()
}

func (f *toolFuncs) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs--
	if f.refs == 0 {
		for _, h := range f.handles {
			h.Delete()
		}
		f.handles = nil
	}
}

// keep records a handle keel now holds; the caller holds a reference.
func (f *toolFuncs) keep(h cgo.Handle) {
	f.mu.Lock()
	f.handles = append(f.handles, h)
	f.mu.Unlock()
}

// Toolset holds the tools an agent may call: Go functions and subprocess skills (a program
// started without a shell that reads {"tool", "arguments", "call_id"} as JSON on stdin and
// writes one JSON value on stdout). Arguments are checked against each tool's JSON Schema
// before it runs. Safe for concurrent use: Add and Remove may run alongside calls. An agent
// copies the toolset when it is made; later changes do not reach it. Call Close when done.
type Toolset struct {
	mu     sync.RWMutex // Close excludes calls in progress
	handle *C.keel_toolset
	funcs  *toolFuncs
}

// NewToolset builds a toolset from a tools file's JSON ({"tools": [...]}, see SPEC.md); ""
// gives an empty one. A mistake is an error matching ErrInvalidConfig naming its JSON path;
// malformed JSON matches ErrParse.
func NewToolset(toolsJSON string) (*Toolset, error) {
	var cfg *C.char
	if toolsJSON != "" {
		var err error
		if cfg, err = cString(toolsJSON, "tools JSON"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cfg))
	}
	var handle *C.keel_toolset
	var cerr *C.keel_error
	if err := takeError(C.keel_toolset_new(cfg, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	return newToolset(handle), nil
}

// LoadToolset reads a tools file. A file that cannot be read is an error matching ErrIO naming
// the path. Relative skill commands and working directories stay relative to the process's
// working directory.
func LoadToolset(path string) (*Toolset, error) {
	pathC, err := cString(path, "path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(pathC))
	var handle *C.keel_toolset
	var cerr *C.keel_error
	if err := takeError(C.keel_toolset_load(pathC, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	return newToolset(handle), nil
}

func newToolset(handle *C.keel_toolset) *Toolset {
	ts := &Toolset{handle: handle, funcs: newToolFuncs()}
	runtime.SetFinalizer(ts, (*Toolset).Close)
	return ts
}

// Close frees the toolset after the calls in progress; it is safe to call more than once.
// Agents made from it keep their tools, Go functions included.
func (ts *Toolset) Close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.handle != nil {
		C.keel_toolset_free(ts.handle)
		ts.handle = nil
		ts.funcs.release()
	}
	runtime.SetFinalizer(ts, nil)
}

// lock takes the read lock of a call; the caller unlocks it.
func (ts *Toolset) lock() (*C.keel_toolset, error) {
	ts.mu.RLock()
	if ts.handle == nil {
		ts.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the toolset is closed"}
	}
	return ts.handle, nil
}

// Add adds a Go function as the tool spec describes. A tool of that name already there is an
// error matching ErrInvalidArgument; a spec without a name or with a schema keel cannot use
// matches ErrInvalidArgument too. A removed function stays referenced until the toolset and
// every agent made from it are closed.
func (ts *Toolset) Add(spec ToolSpec, fn ToolFunc) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return &Error{Code: InvalidArgument, Message: "spec: " + err.Error()}
	}
	return ts.AddJSON(string(data), fn)
}

// AddJSON is Add with the spec as JSON: {"name", "description", "parameters": {JSON Schema},
// "idempotent"?: true}.
func (ts *Toolset) AddJSON(specJSON string, fn ToolFunc) error {
	if fn == nil {
		return &Error{Code: InvalidArgument, Message: "fn must not be nil (AddSkill adds a subprocess skill)"}
	}
	specC, err := cString(specJSON, "spec")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(specC))
	handle, err := ts.lock()
	if err != nil {
		return err
	}
	defer ts.mu.RUnlock()
	h := cgo.NewHandle(&goTool{fn: fn, name: toolName(specJSON)})
	var cerr *C.keel_error
	if err := takeError(C.keel_go_toolset_add(handle, specC, C.uintptr_t(h), &cerr), cerr); err != nil {
		h.Delete() // keel did not keep it
		return err
	}
	ts.funcs.keep(h) // under the read lock: the toolset's reference is still held
	return nil
}

// toolName is the spec's name, for messages about a failing function.
func toolName(specJSON string) string {
	var spec struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal([]byte(specJSON), &spec)
	return spec.Name
}

// AddSkill adds a subprocess skill from its tools-file entry: {"name", "description",
// "parameters", "command": [argv], "timeout_ms", "working_directory", "env_allow", "env",
// "max_output_bytes", "idempotent"}. A bad entry is an error matching ErrInvalidArgument that
// names the JSON path; a tool of that name already there matches ErrInvalidArgument.
func (ts *Toolset) AddSkill(entryJSON string) error {
	entryC, err := cString(entryJSON, "skill entry")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(entryC))
	handle, err := ts.lock()
	if err != nil {
		return err
	}
	var cerr *C.keel_error
	status := C.keel_toolset_add(handle, entryC, nil, nil, &cerr)
	ts.mu.RUnlock()
	return takeError(status, cerr)
}

// Remove removes the tool called name; an error matching ErrNotFound when there is none.
// Agents already made from the toolset keep it.
func (ts *Toolset) Remove(name string) error {
	nameC, err := cString(name, "name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(nameC))
	handle, err := ts.lock()
	if err != nil {
		return err
	}
	var cerr *C.keel_error
	status := C.keel_toolset_remove(handle, nameC, &cerr)
	ts.mu.RUnlock()
	return takeError(status, cerr)
}

// Specs returns the specs of the tools, in the order they were added: what a model is shown.
func (ts *Toolset) Specs() ([]ToolSpec, error) {
	handle, err := ts.lock()
	if err != nil {
		return nil, err
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_toolset_specs(handle, &out, &cerr)
	ts.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	specs := []ToolSpec{}
	return specs, decodeJSON(takeString(out), &specs, "tool specs")
}

// Call runs one tool and returns its JSON value. args is marshalled to JSON (a json.RawMessage
// is passed as it is; nil means {}). An unknown tool is an error matching ErrNotFound; arguments
// that break the schema match ErrInvalidArgument and list the violations; a failure matches
// ErrTool (a skill's stderr tail, a Go function's message). The context's deadline becomes the
// call's timeout: keel then stops waiting (a skill is killed, a Go function's context ends) and
// Call returns an error matching both context.DeadlineExceeded and ErrTimeout. keel's C call
// takes no cancellation, so cancelling the context does not interrupt a call in progress: give
// it a deadline. Call may be used from inside a ToolFunc: keel runs Go functions on threads of
// their own, apart from its event loop.
func (ts *Toolset) Call(ctx context.Context, name string, args any) (json.RawMessage, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, newContextError(err, nil)
	}
	argsJSON, err := argumentsJSON(args)
	if err != nil {
		return nil, err
	}
	var out *C.char
	err = withString(name, "name", func(nameC *C.char) error {
		return withString(argsJSON, "arguments", func(argsC *C.char) error {
			optsC, err := timeoutOptions(ctx)
			if err != nil {
				return err
			}
			defer C.free(unsafe.Pointer(optsC))
			handle, err := ts.lock()
			if err != nil {
				return err
			}
			var cerr *C.keel_error
			status := C.keel_toolset_call(handle, nameC, argsC, optsC, &out, &cerr)
			ts.mu.RUnlock()
			return takeError(status, cerr)
		})
	})
	if err != nil {
		return nil, withContext(ctx, err)
	}
	return json.RawMessage(takeString(out)), nil
}

// argumentsJSON marshals a tool's arguments: nil is {}, a json.RawMessage passes as it is.
func argumentsJSON(args any) (string, error) {
	switch a := args.(type) {
	case nil:
		return "{}", nil
	case json.RawMessage:
		if len(a) == 0 {
			return "{}", nil
		}
		return string(a), nil
	}
	data, err := json.Marshal(args)
	if err != nil {
		return "", &Error{Code: InvalidArgument, Message: "arguments: " + err.Error()}
	}
	return string(data), nil
}

// timeoutOptions turns the context's deadline into {"timeout_ms": N} (rounded up), or NULL when
// there is none; the caller frees it.
func timeoutOptions(ctx context.Context) (*C.char, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return nil, newContextError(context.DeadlineExceeded, nil)
	}
	ms := (left + time.Millisecond - 1) / time.Millisecond
	return C.CString(fmt.Sprintf(`{"timeout_ms": %d}`, int64(ms))), nil
}

// withContext makes a timeout that came with the context's deadline also match
// context.DeadlineExceeded (keel's timer may fire just before the context's).
func withContext(ctx context.Context, err error) error {
	kerr, ok := err.(*Error)
	if !ok {
		return err
	}
	deadline, hasDeadline := ctx.Deadline()
	if kerr.Code == Timeout && hasDeadline && !time.Now().Before(deadline) {
		return newContextError(context.DeadlineExceeded, kerr)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && kerr.Code == Cancelled {
		return newContextError(ctxErr, kerr)
	}
	return err
}

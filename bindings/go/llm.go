package keel

/*
#include <stdint.h>
#include <stdlib.h>
#include <keel.h>

// The Go trampolines of llm_callbacks.go (cgo's exported prototypes have no const).
extern int keelGoModelCall(char* request_json, keel_reply* reply, void* user_data);
extern int keelGoEmbedCall(char* texts_json, keel_reply* reply, void* user_data);
extern void keelGoDelta(char* delta_json, void* user_data);
extern void keelGoDone(keel_status status, char* json_or_message, void* user_data);

static int keel_go_model_fn(const char* request_json, keel_reply* reply, void* user_data) {
  return keelGoModelCall((char*)request_json, reply, user_data);
}
static int keel_go_embed_fn(const char* texts_json, keel_reply* reply, void* user_data) {
  return keelGoEmbedCall((char*)texts_json, reply, user_data);
}
static void keel_go_delta_fn(const char* delta_json, void* user_data) {
  keelGoDelta((char*)delta_json, user_data);
}
static void keel_go_done_fn(keel_status status, const char* json_or_message, void* user_data) {
  keelGoDone(status, (char*)json_or_message, user_data);
}

// A cgo.Handle travels as user_data; converting it here keeps go vet's unsafe.Pointer check
// quiet (the value is an integer, never a Go pointer).
static keel_status keel_go_model_new_callback(uintptr_t handle, keel_model** out,
                                              keel_error** err) {
  return keel_model_new_callback(keel_go_model_fn, (void*)handle, out, err);
}
static keel_status keel_go_embedder_new_callback(size_t dimension, uintptr_t handle,
                                                 keel_embedder** out, keel_error** err) {
  return keel_embedder_new_callback(dimension, keel_go_embed_fn, (void*)handle, out, err);
}
static keel_status keel_go_chat_async(keel_model* model, const char* request_json,
                                      const char* options_json, int stream, uintptr_t handle,
                                      keel_call** call, keel_error** err) {
  return keel_model_chat_async(model, request_json, options_json,
                               stream ? keel_go_delta_fn : NULL, keel_go_done_fn, (void*)handle,
                               call, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// ToolCall is a tool call the model asked for. Arguments is the JSON object the model sent; when
// it sent something that is not a JSON object, Arguments is null and ArgumentsText keeps it.
type ToolCall struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Arguments     json.RawMessage `json:"arguments,omitempty"`
	ArgumentsText string          `json:"arguments_text,omitempty"`
}

// ArgumentsValid reports whether Arguments holds a JSON object.
func (c ToolCall) ArgumentsValid() bool {
	return len(c.Arguments) > 0 && string(c.Arguments) != "null"
}

// Message is one message of a conversation: Role "system", "user", "assistant" (optionally with
// ToolCalls) or "tool" (a tool's result, answering ToolCallID).
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"`
}

// SystemMessage, UserMessage, AssistantMessage and ToolResultMessage build messages.
func SystemMessage(text string) Message { return Message{Role: "system", Content: text} }

// UserMessage is a message from the user.
func UserMessage(text string) Message { return Message{Role: "user", Content: text} }

// AssistantMessage is a message from the model, optionally asking for tool calls.
func AssistantMessage(text string, calls ...ToolCall) Message {
	return Message{Role: "assistant", Content: text, ToolCalls: calls}
}

// ToolResultMessage answers the tool call callID of tool toolName.
func ToolResultMessage(callID, toolName, content string) Message {
	return Message{Role: "tool", Content: content, ToolCallID: callID, Name: toolName}
}

// ToolSpec is a tool the model may call: its name, what it does and its JSON-Schema parameters
// (nil: an object with no properties).
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ChatRequest is one call's input. ResponseFormat is "text", "json" or a JSON Schema (a map or
// json.RawMessage); ToolChoice is "auto", "none", "required" or map[string]string{"name": tool}.
type ChatRequest struct {
	Messages       []Message  `json:"messages"`
	Tools          []ToolSpec `json:"tools,omitempty"`
	Temperature    *float64   `json:"temperature,omitempty"`
	MaxTokens      int        `json:"max_tokens,omitempty"`
	Stop           []string   `json:"stop,omitempty"`
	ResponseFormat any        `json:"response_format,omitempty"`
	ToolChoice     any        `json:"tool_choice,omitempty"`
	Model          string     `json:"model,omitempty"`
}

// Usage counts one call's tokens.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// ChatResponse is a model's answer: the assistant message, why it stopped ("stop",
// "tool_calls", "length", ...), token usage and the model that answered.
type ChatResponse struct {
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
	Usage        Usage   `json:"usage"`
	Model        string  `json:"model"`
}

// Text is the assistant's text.
func (r *ChatResponse) Text() string { return r.Message.Content }

// Delta is a streamed piece: Kind "text" (Text) or "tool_call" (call Index; ID and Name on a
// call's first piece, then its JSON Arguments in pieces).
type Delta struct {
	Kind      string `json:"kind"`
	Text      string `json:"text,omitempty"`
	Index     int    `json:"index,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// contextError is what Chat returns when its context ended the call. It matches both the keel
// code (errors.Is(err, ErrCancelled) or ErrTimeout; errors.As(err, **Error)) and the context's
// own error (errors.Is(err, context.Canceled) or context.DeadlineExceeded).
type contextError struct {
	keel *Error
	ctx  error
}

func (e *contextError) Error() string        { return e.keel.Error() }
func (e *contextError) Unwrap() error        { return e.ctx }
func (e *contextError) Is(target error) bool { return e.keel.Is(target) }
func (e *contextError) As(target any) bool {
	if p, ok := target.(**Error); ok {
		*p = e.keel
		return true
	}
	return false
}

func newContextError(ctx error, keelErr *Error) error {
	if keelErr == nil {
		code := Cancelled
		if errors.Is(ctx, context.DeadlineExceeded) {
			code = Timeout
		}
		keelErr = &Error{Code: code, Message: ctx.Error()}
	}
	return &contextError{keel: keelErr, ctx: ctx}
}

// callbackHost keeps a Go callback reachable from C through a cgo.Handle for as long as keel
// may call it: the model (or embedder) holds one reference, each call in flight another, and
// the last release deletes the handle.
type callbackHost struct {
	mu     sync.Mutex
	refs   int
	handle cgo.Handle
	model  func(ChatRequest) (ChatResponse, error)
	embed  func([]string) ([][]float32, error)
	dim    int
}

func newCallbackHost(h *callbackHost) *callbackHost {
	h.refs = 1
	h.handle = cgo.NewHandle(h)
	return h
}

func (h *callbackHost) retain() {
	h.mu.Lock()
	h.refs++
	h.mu.Unlock()
}

func (h *callbackHost) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refs--
	if h.refs == 0 {
		h.handle.Delete()
	}
}

// pendingCall is one Chat in flight: the C callbacks feed it, the calling goroutine drains it.
type pendingCall struct {
	mu     sync.Mutex
	deltas []string      // delta JSON not yet delivered
	notify chan struct{} // a delta arrived (capacity 1)
	done   chan callResult
	host   *callbackHost // released when the call completes
}

type callResult struct {
	status C.keel_status
	text   string
}

func (p *pendingCall) takeDeltas() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.deltas
	p.deltas = nil
	return d
}

// Model is a chat model: an OpenAI-compatible or Anthropic provider, a scripted test double
// ({"provider": "scripted", "responses": [...]}) or a Go function. Safe for concurrent use; call
// Close when done (calls in flight keep what they need).
type Model struct {
	mu     sync.RWMutex // Close excludes calls being started
	handle *C.keel_model
	host   *callbackHost
}

// NewModel builds a model from the model file format (see SPEC.md). A bad configuration is an
// error matching ErrInvalidConfig whose message names the JSON path.
func NewModel(configJSON string) (*Model, error) {
	cfg := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cfg))
	var handle *C.keel_model
	var cerr *C.keel_error
	if err := takeError(C.keel_model_new(cfg, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	m := &Model{handle: handle}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// NewCallbackModel builds a model whose answers come from fn. fn runs on one of keel's threads,
// possibly for several calls at once. An error it returns fails the call: a *keel.Error keeps
// its code, any other error becomes a Provider error with its text; a panic is recovered and
// reported the same way. An empty Role becomes "assistant", an empty FinishReason "stop" (or
// "tool_calls").
func NewCallbackModel(fn func(ChatRequest) (ChatResponse, error)) (*Model, error) {
	if fn == nil {
		return nil, &Error{Code: InvalidArgument, Message: "fn must not be nil"}
	}
	host := newCallbackHost(&callbackHost{model: fn})
	var handle *C.keel_model
	var cerr *C.keel_error
	status := C.keel_go_model_new_callback(C.uintptr_t(host.handle), &handle, &cerr)
	if err := takeError(status, cerr); err != nil {
		host.release()
		return nil, err
	}
	m := &Model{handle: handle, host: host}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// Close frees the model; it is safe to call more than once. Calls in flight finish normally.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handle != nil {
		C.keel_model_free(m.handle)
		m.handle = nil
		if m.host != nil {
			m.host.release()
			m.host = nil
		}
	}
	runtime.SetFinalizer(m, nil)
}

// Chat makes one call. The context bounds it: its deadline becomes the call's timeout (the
// whole call, retries included) and cancelling it cancels the call. When the context ends the
// call, Chat returns at once with an error matching both the context's error
// (context.Canceled, context.DeadlineExceeded) and the keel code (ErrCancelled, ErrTimeout).
func (m *Model) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	return m.chat(ctx, req, nil)
}

// ChatStream is Chat with streaming: onDelta receives each piece, in order, on the calling
// goroutine, before ChatStream returns the whole response. It is never called after ChatStream
// returns.
func (m *Model) ChatStream(ctx context.Context, req ChatRequest, onDelta func(Delta)) (*ChatResponse, error) {
	if onDelta == nil {
		onDelta = func(Delta) {}
	}
	return m.chat(ctx, req, onDelta)
}

func (m *Model) chat(ctx context.Context, req ChatRequest, onDelta func(Delta)) (*ChatResponse, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, newContextError(err, nil)
	}
	if req.Messages == nil {
		req.Messages = []Message{}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "request: " + err.Error()}
	}
	reqC := C.CString(string(body))
	defer C.free(unsafe.Pointer(reqC))
	var optsC *C.char
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, newContextError(context.DeadlineExceeded, nil)
		}
		ms := (left + time.Millisecond - 1) / time.Millisecond
		optsC = C.CString(fmt.Sprintf(`{"timeout_ms": %d}`, int64(ms)))
		defer C.free(unsafe.Pointer(optsC))
	}

	pending := &pendingCall{notify: make(chan struct{}, 1), done: make(chan callResult, 1)}
	stream := C.int(0)
	if onDelta != nil {
		stream = 1
	}
	var call *C.keel_call
	var cerr *C.keel_error
	m.mu.RLock()
	if m.handle == nil {
		m.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the model is closed"}
	}
	if m.host != nil {
		m.host.retain() // the callback must stay reachable until this call completes
		pending.host = m.host
	}
	handle := cgo.NewHandle(pending)
	status := C.keel_go_chat_async(m.handle, reqC, optsC, stream, C.uintptr_t(handle), &call, &cerr)
	m.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		handle.Delete() // done is never called when the call did not start
		if pending.host != nil {
			pending.host.release()
		}
		return nil, err
	}

	finished := false
	defer func() {
		if !finished { // the context ended the call, or onDelta panicked
			C.keel_call_cancel(call)
		}
		C.keel_call_free(call) // freeing does not cancel; done still comes and cleans up
	}()
	deliver := func() {
		for _, raw := range pending.takeDeltas() {
			var d Delta
			if json.Unmarshal([]byte(raw), &d) == nil {
				onDelta(d)
			}
		}
	}
	for {
		select {
		case <-pending.notify:
			deliver()
		case result := <-pending.done:
			finished = true
			if onDelta != nil {
				deliver() // pieces that arrived just before the end
			}
			if result.status != C.KEEL_OK {
				keelErr := &Error{Code: Code(result.status), Message: result.text}
				// The context's deadline was passed as the call's timeout, rounded up: when
				// keel's timer wins the race with the context's, the error still says both.
				deadline, hasDeadline := ctx.Deadline()
				if keelErr.Code == Timeout && hasDeadline && !time.Now().Before(deadline) {
					return nil, newContextError(context.DeadlineExceeded, keelErr)
				}
				if ctxErr := ctx.Err(); ctxErr != nil && keelErr.Code == Cancelled {
					return nil, newContextError(ctxErr, keelErr)
				}
				return nil, keelErr
			}
			var response ChatResponse
			if err := json.Unmarshal([]byte(result.text), &response); err != nil {
				return nil, &Error{Code: Internal, Message: "bad response JSON: " + err.Error()}
			}
			return &response, nil
		case <-ctx.Done():
			return nil, newContextError(ctx.Err(), nil)
		}
	}
}

// Embedder turns text into fixed-dimension float vectors: the built-in hashing embedder (no
// model, no network), an OpenAI-compatible embeddings client, or a Go function. Safe for
// concurrent use; call Close when done.
type Embedder struct {
	mu     sync.RWMutex // Close waits for calls in progress
	handle *C.keel_embedder
	host   *callbackHost
}

// NewEmbedder builds an embedder: {"provider": "hashing", "dimension": 1024, ...} or
// {"provider": "openai", ...}; "" for the hashing default.
func NewEmbedder(configJSON string) (*Embedder, error) {
	var cfg *C.char
	if configJSON != "" {
		cfg = C.CString(configJSON)
		defer C.free(unsafe.Pointer(cfg))
	}
	var handle *C.keel_embedder
	var cerr *C.keel_error
	if err := takeError(C.keel_embedder_new(cfg, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	e := &Embedder{handle: handle}
	runtime.SetFinalizer(e, (*Embedder).Close)
	return e, nil
}

// NewCallbackEmbedder builds an embedder whose vectors come from fn: one vector of dim floats
// per text. fn runs on the goroutine calling Embed or EmbedBatch. Its error (or a panic, or a
// vector of the wrong size) fails the call with the message.
func NewCallbackEmbedder(dim int, fn func([]string) ([][]float32, error)) (*Embedder, error) {
	if fn == nil {
		return nil, &Error{Code: InvalidArgument, Message: "fn must not be nil"}
	}
	if dim <= 0 {
		return nil, &Error{Code: InvalidArgument, Message: fmt.Sprintf("dimension must be positive, got %d", dim)}
	}
	host := newCallbackHost(&callbackHost{embed: fn, dim: dim})
	var handle *C.keel_embedder
	var cerr *C.keel_error
	status := C.keel_go_embedder_new_callback(C.size_t(dim), C.uintptr_t(host.handle), &handle, &cerr)
	if err := takeError(status, cerr); err != nil {
		host.release()
		return nil, err
	}
	e := &Embedder{handle: handle, host: host}
	runtime.SetFinalizer(e, (*Embedder).Close)
	return e, nil
}

// Close frees the embedder after the calls in progress; it is safe to call more than once.
func (e *Embedder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.handle != nil {
		C.keel_embedder_free(e.handle)
		e.handle = nil
		if e.host != nil {
			e.host.release()
			e.host = nil
		}
	}
	runtime.SetFinalizer(e, nil)
}

// Dimension is the vectors' size (0 once closed, or for an HTTP embedder that has not learnt
// it yet).
func (e *Embedder) Dimension() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return int(C.keel_embedder_dimension(e.handle))
}

// Embed returns one text's vector through the fast path (no JSON).
func (e *Embedder) Embed(text string) ([]float32, error) {
	e.mu.RLock()
	if e.handle == nil {
		e.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the embedder is closed"}
	}
	dim := int(C.keel_embedder_dimension(e.handle))
	if dim == 0 { // an HTTP embedder learns its size from its first answer
		e.mu.RUnlock()
		vectors, err := e.EmbedBatch([]string{text})
		if err != nil {
			return nil, err
		}
		return vectors[0], nil
	}
	out := make([]float32, dim)
	ptr, n := textArg(text)
	var cerr *C.keel_error
	status := C.keel_embedder_embed_one(e.handle, ptr, n, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(dim), &cerr)
	e.mu.RUnlock()
	runtime.KeepAlive(text)
	runtime.KeepAlive(out)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedBatch returns the vectors of many texts, in order.
func (e *Embedder) EmbedBatch(texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	body, err := json.Marshal(texts)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Message: "texts: " + err.Error()}
	}
	textsC := C.CString(string(body))
	defer C.free(unsafe.Pointer(textsC))
	e.mu.RLock()
	if e.handle == nil {
		e.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the embedder is closed"}
	}
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_embedder_embed(e.handle, textsC, &out, &cerr)
	e.mu.RUnlock()
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	var vectors [][]float32
	if err := json.Unmarshal([]byte(takeString(out)), &vectors); err != nil {
		return nil, &Error{Code: Internal, Message: "bad vectors JSON: " + err.Error()}
	}
	return vectors, nil
}

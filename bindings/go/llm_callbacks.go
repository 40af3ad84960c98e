package keel

// The exported trampolines keel calls for Go models, embedders and Chat calls. They live apart
// from llm.go because cgo forbids C definitions in the preamble of a file with //export. Each
// finds its Go value through the cgo.Handle passed as user_data, and none lets a panic unwind
// into C.

/*
#include <stdlib.h>
#include <keel.h>
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/cgo"
	"unsafe"
)

func hostOf(userData unsafe.Pointer) *callbackHost {
	return cgo.Handle(uintptr(userData)).Value().(*callbackHost)
}

// replyError reports err through reply: a *keel.Error keeps its code, anything else is a
// Provider error.
func replyError(reply *C.keel_reply, err error) C.int {
	code := Provider
	message := err.Error()
	var kerr *Error
	if errors.As(err, &kerr) {
		code, message = kerr.Code, kerr.Message
	}
	msg := C.CString(message)
	defer C.free(unsafe.Pointer(msg))
	C.keel_reply_error(reply, C.keel_status(code), msg)
	return 1
}

func replySet(reply *C.keel_reply, v any) C.int {
	data, err := json.Marshal(v)
	if err != nil {
		return replyError(reply, err)
	}
	answer := C.CString(string(data))
	defer C.free(unsafe.Pointer(answer))
	C.keel_reply_set(reply, answer)
	return 0
}

func recovered(what string, r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("%s panicked: %w", what, err)
	}
	return fmt.Errorf("%s panicked: %v", what, r)
}

//export keelGoModelCall
func keelGoModelCall(requestJSON *C.char, reply *C.keel_reply, userData unsafe.Pointer) (rc C.int) {
	defer func() {
		if r := recover(); r != nil {
			rc = replyError(reply, recovered("the model function", r))
		}
	}()
	host := hostOf(userData)
	var request ChatRequest
	if err := json.Unmarshal([]byte(C.GoString(requestJSON)), &request); err != nil {
		return replyError(reply, &Error{Code: Internal, Message: "bad request JSON: " + err.Error()})
	}
	response, err := host.model(request)
	if err != nil {
		return replyError(reply, err)
	}
	if response.Message.Role == "" {
		response.Message.Role = "assistant"
	}
	if response.FinishReason == "" {
		response.FinishReason = "stop"
		if len(response.Message.ToolCalls) > 0 {
			response.FinishReason = "tool_calls"
		}
	}
	return replySet(reply, response)
}

//export keelGoEmbedCall
func keelGoEmbedCall(textsJSON *C.char, reply *C.keel_reply, userData unsafe.Pointer) (rc C.int) {
	defer func() {
		if r := recover(); r != nil {
			rc = replyError(reply, recovered("the embedder function", r))
		}
	}()
	host := hostOf(userData)
	var texts []string
	if err := json.Unmarshal([]byte(C.GoString(textsJSON)), &texts); err != nil {
		return replyError(reply, &Error{Code: Internal, Message: "bad texts JSON: " + err.Error()})
	}
	vectors, err := host.embed(texts)
	if err != nil {
		return replyError(reply, err)
	}
	if vectors == nil {
		vectors = [][]float32{}
	}
	return replySet(reply, vectors)
}

//export keelGoDelta
func keelGoDelta(deltaJSON *C.char, userData unsafe.Pointer) {
	defer func() { _ = recover() }()
	pending := cgo.Handle(uintptr(userData)).Value().(*pendingCall)
	raw := C.GoString(deltaJSON)
	pending.mu.Lock()
	pending.deltas = append(pending.deltas, raw)
	pending.mu.Unlock()
	select {
	case pending.notify <- struct{}{}:
	default: // a wake-up is already pending; the consumer takes every queued piece
	}
}

//export keelGoDone
func keelGoDone(status C.keel_status, jsonOrMessage *C.char, userData unsafe.Pointer) {
	defer func() { _ = recover() }()
	handle := cgo.Handle(uintptr(userData))
	pending := handle.Value().(*pendingCall)
	handle.Delete()
	pending.done <- callResult{status: status, text: C.GoString(jsonOrMessage)}
	if pending.host != nil {
		pending.host.release()
	}
}

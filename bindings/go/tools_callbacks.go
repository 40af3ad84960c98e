package keel

// The exported trampolines keel calls for Go tools and agent events. They live apart from
// tools.go and agent.go because cgo forbids C definitions in the preamble of a file with
// //export. Each finds its Go value through the cgo.Handle passed as user_data, and none lets a
// panic unwind into C.

/*
#include <stdlib.h>
#include <keel.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"runtime/cgo"
	"time"
	"unsafe"
)

// replyToolError reports a tool's failure through reply: a *keel.Error keeps its code, the
// context's errors become Timeout or Cancelled, anything else is a Tool error.
func replyToolError(reply *C.keel_reply, err error) C.int {
	code := Tool
	message := err.Error()
	var kerr *Error
	switch {
	case errors.As(err, &kerr):
		code, message = kerr.Code, kerr.Message
	case errors.Is(err, context.DeadlineExceeded):
		code = Timeout
	case errors.Is(err, context.Canceled):
		code = Cancelled
	}
	msg := C.CString(message)
	defer C.free(unsafe.Pointer(msg))
	C.keel_reply_error(reply, C.keel_status(code), msg)
	return 1
}

// toolContext is the context a ToolFunc receives: the time left from context_json's
// "timeout_ms", and the call's identity.
func toolContext(contextJSON string, name string) (context.Context, context.CancelFunc) {
	var info struct {
		CallID    string `json:"call_id"`
		Tool      string `json:"tool"`
		TimeoutMS *int64 `json:"timeout_ms"`
	}
	_ = json.Unmarshal([]byte(contextJSON), &info) // a missing field only loses that detail
	if info.Tool == "" {
		info.Tool = name
	}
	ctx := context.WithValue(context.Background(), toolCallKey{}, ToolCallInfo{CallID: info.CallID, Tool: info.Tool})
	if info.TimeoutMS != nil {
		return context.WithTimeout(ctx, time.Duration(*info.TimeoutMS)*time.Millisecond)
	}
	return context.WithCancel(ctx)
}

//export keelGoToolCall
func keelGoToolCall(argumentsJSON, contextJSON *C.char, reply *C.keel_reply, userData unsafe.Pointer) (rc C.int) {
	name := "the tool"
	defer func() {
		if r := recover(); r != nil {
			rc = replyToolError(reply, recovered(name, r))
		}
	}()
	tool := cgo.Handle(uintptr(userData)).Value().(*goTool)
	if tool.name != "" {
		name = "tool " + tool.name
	}
	ctx, cancel := toolContext(C.GoString(contextJSON), tool.name)
	defer cancel()
	value, err := tool.fn(ctx, json.RawMessage(C.GoString(argumentsJSON)))
	if err != nil {
		return replyToolError(reply, err)
	}
	data, err := json.Marshal(value)
	if err != nil {
		return replyToolError(reply, errors.New(name+": its result cannot be marshalled to JSON: "+err.Error()))
	}
	answer := C.CString(string(data))
	defer C.free(unsafe.Pointer(answer))
	C.keel_reply_set(reply, answer)
	return 0
}

//export keelGoAgentEvent
func keelGoAgentEvent(eventJSON *C.char, userData unsafe.Pointer) {
	defer func() { _ = recover() }() // an event sink's panic must not unwind into keel
	fn := cgo.Handle(uintptr(userData)).Value().(func([]byte))
	fn([]byte(C.GoString(eventJSON)))
}

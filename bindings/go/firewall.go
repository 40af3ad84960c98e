package keel

/*
#include <stdlib.h>
#include <keel.h>
*/
import "C"

import (
	"encoding/json"
	"reflect"
	"runtime"
	"sync"
	"unsafe"
)

// Direction says which way text travels: into a model or out of it.
type Direction int

const (
	Input  Direction = 0
	Output Direction = 1
)

// Finding is one thing the firewall found; Start and End are byte offsets into the text.
type Finding struct {
	Category string  `json:"category"`
	Rule     string  `json:"rule"`
	Severity float64 `json:"severity"`
	Start    int     `json:"start"`
	End      int     `json:"end"`
	Encoding string  `json:"encoding,omitempty"`
}

// Verdict is the outcome of a scan.
type Verdict struct {
	Decision  string    `json:"decision"` // "allow", "flag" or "block"
	Risk      float64   `json:"risk"`
	Findings  []Finding `json:"findings"`
	Redacted  *string   `json:"redacted,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
}

// Redaction is the result of Redact: the text, what was redacted, and the vault that restores it.
type Redaction struct {
	Text     string            `json:"text"`
	Findings []Finding         `json:"findings"`
	Vault    map[string]string `json:"vault"`
}

// Firewall screens prompts and replies. Safe for concurrent use; call Close when done.
type Firewall struct {
	mu     sync.RWMutex // Close waits for calls in progress
	handle *C.keel_firewall
}

// NewFirewall builds a firewall from configuration JSON ("" for the defaults).
func NewFirewall(configJSON string) (*Firewall, error) {
	cfg := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cfg))
	var handle *C.keel_firewall
	var cerr *C.keel_error
	if err := takeError(C.keel_firewall_new(cfg, &handle, &cerr), cerr); err != nil {
		return nil, err
	}
	fw := &Firewall{handle: handle}
	runtime.SetFinalizer(fw, (*Firewall).Close)
	return fw, nil
}

// Close frees the firewall once the calls in progress have returned; it is safe to call more
// than once (and on a nil *Firewall).
func (f *Firewall) Close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handle != nil {
		C.keel_firewall_free(f.handle)
		f.handle = nil
	}
	runtime.SetFinalizer(f, nil)
}

// lock holds the firewall open for a call: on success the caller must f.mu.RUnlock() when the
// C call has returned.
func (f *Firewall) lock() (*C.keel_firewall, error) {
	if f == nil {
		return nil, &Error{Code: InvalidArgument, Message: "the firewall is nil"}
	}
	f.mu.RLock()
	if f.handle == nil {
		f.mu.RUnlock()
		return nil, &Error{Code: InvalidArgument, Message: "the firewall is closed"}
	}
	return f.handle, nil
}

// textArg passes Go string bytes to C without a copy (they hold no Go pointers, so cgo allows
// it); the caller keeps s alive with runtime.KeepAlive. Go 1.19 has no unsafe.StringData.
func textArg(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	header := (*reflect.StringHeader)(unsafe.Pointer(&s))
	return (*C.char)(unsafe.Pointer(header.Data)), C.size_t(len(s))
}

// Scan returns the verdict for text travelling in the given direction.
func (f *Firewall) Scan(text string, direction Direction) (*Verdict, error) {
	handle, err := f.lock()
	if err != nil {
		return nil, err
	}
	ptr, n := textArg(text)
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_firewall_scan(handle, ptr, n, C.keel_direction(direction), &out, &cerr)
	f.mu.RUnlock()
	runtime.KeepAlive(text)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	var v Verdict
	if err := json.Unmarshal([]byte(takeString(out)), &v); err != nil {
		return nil, &Error{Code: Internal, Message: "bad verdict JSON: " + err.Error()}
	}
	return &v, nil
}

// Check is the fast path: the decision ("allow", "flag", "block") and risk, nothing else.
func (f *Firewall) Check(text string, direction Direction) (string, float64, error) {
	handle, err := f.lock()
	if err != nil {
		return "", 0, err
	}
	ptr, n := textArg(text)
	var decision C.keel_decision
	var risk C.double
	var cerr *C.keel_error
	status := C.keel_firewall_check(handle, ptr, n, C.keel_direction(direction), &decision, &risk, &cerr)
	f.mu.RUnlock()
	runtime.KeepAlive(text)
	if err := takeError(status, cerr); err != nil {
		return "", 0, err
	}
	names := [...]string{"allow", "flag", "block"}
	if int(decision) < 0 || int(decision) >= len(names) {
		return "", 0, &Error{Code: Internal, Message: "unknown decision from keel"}
	}
	return names[int(decision)], float64(risk), nil
}

// Redact replaces PII and secrets; pass the vault of earlier calls (or nil) to keep placeholders
// stable across a conversation.
func (f *Firewall) Redact(text string, vault map[string]string, direction Direction) (*Redaction, error) {
	var vaultC *C.char
	if len(vault) > 0 {
		data, _ := json.Marshal(vault)
		vaultC = C.CString(string(data))
		defer C.free(unsafe.Pointer(vaultC))
	}
	handle, err := f.lock()
	if err != nil {
		return nil, err
	}
	ptr, n := textArg(text)
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_firewall_redact(handle, ptr, n, C.keel_direction(direction), vaultC, &out, &cerr)
	f.mu.RUnlock()
	runtime.KeepAlive(text)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	var r Redaction
	if err := json.Unmarshal([]byte(takeString(out)), &r); err != nil {
		return nil, &Error{Code: Internal, Message: "bad redaction JSON: " + err.Error()}
	}
	return &r, nil
}

// Restore turns the vault's placeholders in text (a model's reply) back into their values.
func Restore(text string, vault map[string]string) (string, error) {
	data, _ := json.Marshal(vault)
	vaultC := C.CString(string(data))
	defer C.free(unsafe.Pointer(vaultC))
	ptr, n := textArg(text)
	var out *C.char
	var cerr *C.keel_error
	status := C.keel_firewall_restore(ptr, n, vaultC, &out, &cerr)
	runtime.KeepAlive(text)
	if err := takeError(status, cerr); err != nil {
		return "", err
	}
	return takeString(out), nil
}

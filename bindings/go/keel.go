// Package keel is the Go binding of keel, an embeddable library for AI-agent systems: firewall,
// router, planner, agent loop and knowledge layer. It calls libkeel through cgo and the C ABI of
// keel.h, found with pkg-config (an installed keel.pc, or build/pkgconfig for a build tree).
//
// Every handle has an explicit Close (with a finalizer as a safety net); errors are *Error
// values carrying the library's status code.
package keel

/*
#cgo pkg-config: keel
#include <stdlib.h>
#include <keel.h>
*/
import "C"

import "unsafe"

// ABIVersion of the keel.h this package was compiled against.
const headerABIVersion = int(C.KEEL_ABI_VERSION)

// Version returns the version of the loaded libkeel ("0.1.0").
func Version() string { return C.GoString(C.keel_version()) }

// ABIVersion returns the ABI generation of the loaded libkeel.
func ABIVersion() int { return int(C.keel_abi_version()) }

// CheckABI returns an *Error with code InvalidArgument when the loaded library does not serve
// the given ABI generation.
func CheckABI(abi int) error {
	var cerr *C.keel_error
	status := C.keel_check_abi(C.int(abi), &cerr)
	return takeError(status, cerr)
}

// takeError converts a status and its keel_error into a Go error, freeing the keel_error.
func takeError(status C.keel_status, cerr *C.keel_error) error {
	if status == C.KEEL_OK {
		return nil
	}
	e := &Error{Code: Code(status)}
	if cerr != nil {
		e.Code = Code(C.keel_error_code(cerr))
		e.Message = C.GoString(C.keel_error_message(cerr))
		C.keel_error_free(cerr)
	}
	return e
}

// takeString converts a string the library returned (caller-owned) and frees it.
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.keel_free(unsafe.Pointer(s))
	return C.GoString(s)
}

func init() {
	if err := CheckABI(headerABIVersion); err != nil {
		panic(err)
	}
}

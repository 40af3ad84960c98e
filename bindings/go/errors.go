package keel

/*
#include <keel.h>
*/
import "C"

import "fmt"

// Code is a keel status code; values are stable and mirror keel_status.
type Code int

// The status codes of keel.h.
const (
	OK              Code = 0
	InvalidArgument Code = 1
	InvalidConfig   Code = 2
	NotFound        Code = 3
	IO              Code = 4
	Timeout         Code = 5
	Cancelled       Code = 6
	Unavailable     Code = 7
	Provider        Code = 8
	Tool            Code = 9
	Parse           Code = 10
	LimitExceeded   Code = 11
	Internal        Code = 12
)

// String returns the code's stable name ("invalid_config").
func (c Code) String() string { return C.GoString(C.keel_status_name(C.keel_status(c))) }

// Error is the error type of every failing keel call.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("keel: %s", e.Code)
	}
	return fmt.Sprintf("keel: %s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, keel.ErrTimeout) match any keel error with that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument = &Error{Code: InvalidArgument}
	ErrInvalidConfig   = &Error{Code: InvalidConfig}
	ErrNotFound        = &Error{Code: NotFound}
	ErrIO              = &Error{Code: IO}
	ErrTimeout         = &Error{Code: Timeout}
	ErrCancelled       = &Error{Code: Cancelled}
	ErrUnavailable     = &Error{Code: Unavailable}
	ErrProvider        = &Error{Code: Provider}
	ErrTool            = &Error{Code: Tool}
	ErrParse           = &Error{Code: Parse}
	ErrLimitExceeded   = &Error{Code: LimitExceeded}
	ErrInternal        = &Error{Code: Internal}
)

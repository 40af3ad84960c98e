package keel

import (
	"errors"
	"strings"
	"testing"
)

func TestVersionMatchesTheHeader(t *testing.T) {
	if got := Version(); got != "0.1.0" {
		t.Fatalf("Version() = %q", got)
	}
	if ABIVersion() != headerABIVersion {
		t.Fatalf("ABIVersion() = %d, header %d", ABIVersion(), headerABIVersion)
	}
}

func TestCheckABIAcceptsTheLoadedABI(t *testing.T) {
	if err := CheckABI(ABIVersion()); err != nil {
		t.Fatal(err)
	}
}

func TestCheckABIMismatchIsAnInvalidArgumentError(t *testing.T) {
	err := CheckABI(999)
	if err == nil {
		t.Fatal("expected an error")
	}
	var kerr *Error
	if !errors.As(err, &kerr) {
		t.Fatalf("not a *keel.Error: %T", err)
	}
	if kerr.Code != InvalidArgument {
		t.Fatalf("code = %v", kerr.Code)
	}
	if !strings.Contains(kerr.Message, "ABI mismatch") {
		t.Fatalf("message = %q", kerr.Message)
	}
	if !errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrTimeout) {
		t.Fatal("errors.Is does not match by code")
	}
}

func TestCodesHaveStableNames(t *testing.T) {
	want := map[Code]string{
		OK: "ok", InvalidArgument: "invalid_argument", InvalidConfig: "invalid_config",
		NotFound: "not_found", IO: "io", Timeout: "timeout", Cancelled: "cancelled",
		Unavailable: "unavailable", Provider: "provider", Tool: "tool", Parse: "parse",
		LimitExceeded: "limit_exceeded", Internal: "internal", Code(99): "unknown",
	}
	for code, name := range want {
		if code.String() != name {
			t.Errorf("%d.String() = %q, want %q", int(code), code.String(), name)
		}
	}
}

func TestErrorMessageNamesTheCode(t *testing.T) {
	err := &Error{Code: Timeout, Message: "model call took 30000 ms"}
	if err.Error() != "keel: timeout: model call took 30000 ms" {
		t.Fatalf("Error() = %q", err.Error())
	}
}

"""Loads libkeel.so and declares the C functions once, each next to its C prototype.

The library is looked for, in order: the path in the KEEL_LIBRARY environment variable; a copy
inside this package (a wheel built by ``pip install`` bundles one); the system's library path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from ctypes import POINTER, c_char_p, c_int, c_void_p
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from .errors import error_from_code

ABI_VERSION = 1  # KEEL_ABI_VERSION of the keel.h this module was written against


class _Error(ctypes.Structure):
    """keel_error (opaque)."""


ErrorPtr = POINTER(_Error)


def _candidates() -> list:
    found = []
    env = os.environ.get("KEEL_LIBRARY")
    if env:
        return [env]  # an explicit choice: do not fall back silently to another copy
    here = Path(__file__).resolve().parent
    for name in ("libkeel.so", f"libkeel.so.{ABI_VERSION}"):
        if (here / name).exists():
            found.append(str(here / name))
    found.append(f"libkeel.so.{ABI_VERSION}")
    system = ctypes.util.find_library("keel")
    if system:
        found.append(system)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as exc:
            errors.append(f"{candidate}: {exc}")
    raise ImportError(
        "keel: cannot load libkeel.so (set KEEL_LIBRARY to its path, or build it with "
        "scripts/test); tried " + "; ".join(errors)
    )


lib = _load()


def _declare(name: str, restype: Any, argtypes: list) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes


# const char* keel_version(void);
_declare("keel_version", c_char_p, [])
# int keel_abi_version(void);
_declare("keel_abi_version", c_int, [])
# keel_status keel_check_abi(int host_abi_version, keel_error** err);
_declare("keel_check_abi", c_int, [c_int, POINTER(ErrorPtr)])
# const char* keel_status_name(keel_status status);
_declare("keel_status_name", c_char_p, [c_int])
# keel_status keel_error_code(const keel_error* err);
_declare("keel_error_code", c_int, [ErrorPtr])
# const char* keel_error_message(const keel_error* err);
_declare("keel_error_message", c_char_p, [ErrorPtr])
# void keel_error_free(keel_error* err);
_declare("keel_error_free", None, [ErrorPtr])
# void keel_free(void* ptr);
_declare("keel_free", None, [c_void_p])


def call(fn: Callable[..., int], *args: Any) -> None:
    """Calls a fallible C function (its last parameter is keel_error**), raising on failure."""
    err = ErrorPtr()
    status = fn(*args, ctypes.byref(err))
    if status != 0:
        raise take_error(status, err)


def take_error(status: int, err: Optional[Any]) -> Exception:
    """The Python exception for a failed call; frees the keel_error."""
    if err:
        message = lib.keel_error_message(err).decode("utf-8", "replace")
        code = lib.keel_error_code(err)
        lib.keel_error_free(err)
    else:
        message, code = lib.keel_status_name(status).decode(), status
    return error_from_code(code, message)


def take_string(ptr: Optional[int]) -> str:
    """Decodes and frees a string the library returned through a char** out-parameter."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.keel_free(ptr)


def encode(text: str) -> bytes:
    """UTF-8 bytes for a C string argument; NUL characters cannot cross a C string."""
    if "\x00" in text:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError("text contains a NUL character, which C strings cannot carry")
    return text.encode("utf-8", "surrogatepass")


# typedef void (*keel_event_fn)(const char* event_json, void* user_data);
EventFn = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)


_Handle = TypeVar("_Handle", bound="NativeHandle")


class NativeHandle:
    """The life cycle every wrapper of a C handle shares: ``with`` closes it, so does garbage
    collection (quietly: a finaliser must not raise), and a call after close() is an
    InvalidArgumentError. Subclasses set ``_handle`` and define close() and
    _closed_message()."""

    _handle: Any = None

    def close(self) -> None:
        raise NotImplementedError

    def _closed_message(self) -> str:
        return "closed"

    def __enter__(self: "_Handle") -> "_Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _live(self) -> Any:
        if not self._handle:
            raise error_from_code(1, self._closed_message())
        return self._handle

    def _set_event_callback(self, setter: Any,
                            callback: Optional[Callable[[Any], None]]) -> None:
        """Installs ``callback(event_dict)`` through the handle's keel_*_set_event_callback
        (``setter``), or removes it for None. An exception in the callback is dropped: nothing
        may unwind into C. The ctypes function is kept alive while the library may call it."""
        handle = self._live()
        if callback is None:
            call(setter, handle, EventFn(), None)
            self._event_callback = None
            return

        def trampoline(event: bytes, _user: Any) -> None:
            try:
                callback(json.loads(event))
            except BaseException:
                pass

        fn = EventFn(trampoline)
        call(setter, handle, fn, None)
        self._event_callback = fn

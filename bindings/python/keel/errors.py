"""Exceptions raised by keel: one class per status code of the C ABI, all under KeelError."""

from __future__ import annotations

from typing import Dict, Optional, Type


class KeelError(Exception):
    """Base of every keel error. ``code`` is the C ABI status, ``code_name`` its stable name."""

    code: int = 12
    code_name: str = "internal"

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgumentError(KeelError, ValueError):
    code, code_name = 1, "invalid_argument"


class InvalidConfigError(KeelError, ValueError):
    """A configuration is invalid; the message starts with the failing JSON path."""

    code, code_name = 2, "invalid_config"


class NotFoundError(KeelError, LookupError):
    code, code_name = 3, "not_found"


class KeelIOError(KeelError, OSError):
    code, code_name = 4, "io"


class KeelTimeoutError(KeelError, TimeoutError):
    code, code_name = 5, "timeout"


class CancelledError(KeelError):
    code, code_name = 6, "cancelled"


class UnavailableError(KeelError):
    """A circuit breaker is open, or a service cannot be reached."""

    code, code_name = 7, "unavailable"


class ProviderError(KeelError):
    """An LLM provider or HTTP error."""

    code, code_name = 8, "provider"


class ToolError(KeelError):
    code, code_name = 9, "tool"


class ParseError(KeelError, ValueError):
    code, code_name = 10, "parse"


class LimitExceededError(KeelError):
    code, code_name = 11, "limit_exceeded"


class InternalError(KeelError):
    code, code_name = 12, "internal"


_BY_CODE: Dict[int, Type[KeelError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        InvalidConfigError,
        NotFoundError,
        KeelIOError,
        KeelTimeoutError,
        CancelledError,
        UnavailableError,
        ProviderError,
        ToolError,
        ParseError,
        LimitExceededError,
        InternalError,
    )
}


def error_from_code(code: int, message: str) -> KeelError:
    """The exception for a status code; unknown (newer) codes become a plain KeelError."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return KeelError(message, code)
    return cls(message)

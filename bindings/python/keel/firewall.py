"""The AI firewall: screens prompts and replies for injection, jailbreaks, exfiltration, PII and
secrets; scores the risk; decides allow / flag / block; redacts reversibly."""

from __future__ import annotations

import ctypes
import html
import json
from ctypes import POINTER, c_char_p, c_double, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _native
from ._native import ErrorPtr, lib
from ._text import OffsetMap, Text, to_bytes

__all__ = ["Firewall", "Verdict", "Finding", "Redaction"]


class _Firewall(ctypes.Structure):
    """keel_firewall (opaque)."""


_FirewallPtr = POINTER(_Firewall)
_EventFn = _native.EventFn

# keel_status keel_firewall_new(const char* config_json, keel_firewall** out, keel_error** err);
lib.keel_firewall_new.restype = c_int
lib.keel_firewall_new.argtypes = [c_char_p, POINTER(_FirewallPtr), POINTER(ErrorPtr)]
# void keel_firewall_free(keel_firewall* firewall);
lib.keel_firewall_free.restype = None
lib.keel_firewall_free.argtypes = [_FirewallPtr]
# keel_status keel_firewall_scan(const keel_firewall*, const char* text, size_t len,
#                                keel_direction, char** verdict_json, keel_error** err);
lib.keel_firewall_scan.restype = c_int
lib.keel_firewall_scan.argtypes = [_FirewallPtr, c_char_p, c_size_t, c_int, POINTER(c_void_p),
                                   POINTER(ErrorPtr)]
# keel_status keel_firewall_check(const keel_firewall*, const char* text, size_t len,
#                                 keel_direction, keel_decision* decision, double* risk,
#                                 keel_error** err);
lib.keel_firewall_check.restype = c_int
lib.keel_firewall_check.argtypes = [_FirewallPtr, c_char_p, c_size_t, c_int, POINTER(c_int),
                                    POINTER(c_double), POINTER(ErrorPtr)]
# keel_status keel_firewall_redact(const keel_firewall*, const char* text, size_t len,
#                                  keel_direction, const char* vault_json, char** result_json,
#                                  keel_error** err);
lib.keel_firewall_redact.restype = c_int
lib.keel_firewall_redact.argtypes = [_FirewallPtr, c_char_p, c_size_t, c_int, c_char_p,
                                     POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_firewall_restore(const char* text, size_t len, const char* vault_json,
#                                   char** restored, keel_error** err);
lib.keel_firewall_restore.restype = c_int
lib.keel_firewall_restore.argtypes = [c_char_p, c_size_t, c_char_p, POINTER(c_void_p),
                                      POINTER(ErrorPtr)]
# keel_status keel_firewall_rules(const keel_firewall*, char** rules_json, keel_error** err);
lib.keel_firewall_rules.restype = c_int
lib.keel_firewall_rules.argtypes = [_FirewallPtr, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_firewall_set_event_callback(keel_firewall*, keel_event_fn, void* user_data,
#                                              keel_error** err);
lib.keel_firewall_set_event_callback.restype = c_int
lib.keel_firewall_set_event_callback.argtypes = [_FirewallPtr, _EventFn, c_void_p,
                                                 POINTER(ErrorPtr)]

_DIRECTIONS = {"input": 0, "output": 1}
_DECISIONS = ("allow", "flag", "block")


def _direction(direction: str) -> int:
    try:
        return _DIRECTIONS[direction]
    except KeyError:
        raise _native.error_from_code(1, f'direction must be "input" or "output", got {direction!r}')


@dataclass(frozen=True)
class Finding:
    """One finding. ``start``/``end`` index the scanned ``str`` (``byte_start``/``byte_end`` are
    the UTF-8 byte offsets the C ABI reports); ``text`` is the matched part."""

    category: str
    rule: str
    severity: float
    start: int
    end: int
    byte_start: int
    byte_end: int
    text: str
    encoding: str = ""


@dataclass
class Verdict:
    decision: str
    risk: float
    findings: List[Finding] = field(default_factory=list)
    redacted: Optional[str] = None
    truncated: bool = False

    @property
    def blocked(self) -> bool:
        return self.decision == "block"

    @property
    def flagged(self) -> bool:
        return self.decision == "flag"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "decision": self.decision,
            "risk": self.risk,
            "findings": [f.__dict__.copy() for f in self.findings],
            "redacted": self.redacted,
            "truncated": self.truncated,
        }

    def _repr_html_(self) -> str:
        colour = {"allow": "#2e7d32", "flag": "#f9a825", "block": "#c62828"}[self.decision]
        rows = "".join(
            f"<tr><td>{html.escape(f.category)}</td><td><code>{html.escape(f.rule)}</code></td>"
            f"<td>{f.severity:.2f}</td><td>{f.start}–{f.end}</td>"
            f"<td><code>{html.escape(f.text[:80])}</code></td></tr>"
            for f in self.findings
        )
        table = (
            "<table><tr><th>category</th><th>rule</th><th>severity</th><th>span</th>"
            f"<th>text</th></tr>{rows}</table>" if rows else "<p>no findings</p>"
        )
        return (
            f"<div><b style='color:{colour}'>{self.decision.upper()}</b> risk {self.risk:.3f}"
            f"{table}</div>"
        )


@dataclass
class Redaction:
    text: str
    findings: List[Finding]
    vault: Dict[str, str]


def _findings(raw: List[Dict[str, Any]], text: Text, encoded: bytes) -> List[Finding]:
    offsets = OffsetMap(text, encoded)
    out = []
    for f in raw:
        bs, be = f["start"], f["end"]
        out.append(
            Finding(
                category=f["category"],
                rule=f["rule"],
                severity=f["severity"],
                start=offsets.index(bs),
                end=offsets.index(be),
                byte_start=bs,
                byte_end=be,
                text=encoded[bs:be].decode("utf-8", "replace"),
                encoding=f.get("encoding", ""),
            )
        )
    return out


class Firewall(_native.NativeHandle):
    """A firewall built from a configuration (a dict, a JSON string, or None for defaults).

    Safe to share between threads. Use as a context manager or call close() to free it early.
    """

    def __init__(self, config: Union[None, str, Dict[str, Any]] = None) -> None:
        if config is None:
            text = b""
        elif isinstance(config, str):
            text = config.encode()
        else:
            text = json.dumps(config).encode()
        handle = _FirewallPtr()
        _native.call(lib.keel_firewall_new, text, ctypes.byref(handle))
        self._handle = handle
        self._event_callback = None  # kept alive while the library may call it

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.keel_firewall_free(handle)

    def _closed_message(self) -> str:
        return "the firewall is closed"

    def scan(self, text: Text, direction: str = "input") -> Verdict:
        """Full scan: decision, risk, findings (with str offsets) and the redacted text."""
        encoded = to_bytes(text)
        out = c_void_p()
        _native.call(lib.keel_firewall_scan, self._live(), encoded, len(encoded),
                     _direction(direction), ctypes.byref(out))
        raw = json.loads(_native.take_string(out.value))
        return Verdict(
            decision=raw["decision"],
            risk=raw["risk"],
            findings=_findings(raw["findings"], text, encoded),
            redacted=raw.get("redacted"),
            truncated=raw.get("truncated", False),
        )

    def check(self, text: Text, direction: str = "input") -> Tuple[str, float]:
        """The fast path: (decision, risk) without findings or redaction."""
        encoded = to_bytes(text)
        decision, risk = c_int(), c_double()
        _native.call(lib.keel_firewall_check, self._live(), encoded, len(encoded),
                     _direction(direction), ctypes.byref(decision), ctypes.byref(risk))
        return _DECISIONS[decision.value], risk.value

    def redact(self, text: Text, vault: Optional[Dict[str, str]] = None,
               direction: str = "input") -> Redaction:
        """Redacts PII and secrets. Pass the vault of earlier calls to keep placeholders stable
        across a conversation; restore() turns placeholders in a reply back into values."""
        encoded = to_bytes(text)
        out = c_void_p()
        vault_json = json.dumps(vault).encode() if vault else None
        _native.call(lib.keel_firewall_redact, self._live(), encoded, len(encoded),
                     _direction(direction), vault_json, ctypes.byref(out))
        raw = json.loads(_native.take_string(out.value))
        return Redaction(raw["text"], _findings(raw["findings"], text, encoded), raw["vault"])

    @staticmethod
    def restore(text: Text, vault: Dict[str, str]) -> str:
        encoded = to_bytes(text)
        out = c_void_p()
        _native.call(lib.keel_firewall_restore, encoded, len(encoded),
                     json.dumps(vault).encode(), ctypes.byref(out))
        return _native.take_string(out.value)

    def rules(self) -> List[Dict[str, Any]]:
        """The compiled catalogue: id, category, severity, view, direction, lang, description."""
        out = c_void_p()
        _native.call(lib.keel_firewall_rules, self._live(), ctypes.byref(out))
        return json.loads(_native.take_string(out.value))

    def on_event(self, callback: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Calls `callback(event_dict)` after each scan (set it before sharing the firewall)."""
        self._set_event_callback(lib.keel_firewall_set_event_callback, callback)

"""The router: decides which route (a skill, an agent, a queue) handles a request through a
three-tier cascade where the first confident tier wins — condition (keywords, RE2 patterns,
metadata predicates), semantic (the request embedded and compared with each route's example
utterances) and llm (a chat model picks among the route names and descriptions).

The configuration is the routes file of SPEC.md, as a dict, JSON text or the path of a JSON
file. When a model is involved, ``route`` starts ``keel_router_route_async`` and the calling
thread waits on a queue, as ``ChatModel.chat`` does, so Ctrl-C cancels a request in flight.
"""

from __future__ import annotations

import ctypes
import html
import json
import os
import queue
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _native, llm
from ._native import ErrorPtr, lib
from ._text import Text, to_bytes
from .llm import ChatModel, Config, Embedder

__all__ = [
    "Router",
    "RouteResult",
    "RouteCandidate",
    "FitReport",
    "Evaluation",
    "RouteMetrics",
    "ConfusedPair",
]

PathLike = Union[str, "os.PathLike[str]"]
# A labelled example: {"text", "metadata"?, "route": name | None}, (text, route) or
# (text, route, metadata). A route of None means out of scope: no route should take it.
Example = Union[Mapping[str, Any], Tuple[str, Optional[str]], Tuple[str, Optional[str], Any]]
ModelArg = Union[None, ChatModel, Config, Callable[[Dict[str, Any]], Any]]
EmbedderArg = Union[None, Embedder, Config]


class _Router(ctypes.Structure):
    """keel_router (opaque)."""


_RouterPtr = POINTER(_Router)
# typedef void (*keel_event_fn)(const char* event_json, void* user_data);
_EventFn = _native.EventFn

# keel_status keel_router_new(const char* config_json, keel_model* model, keel_embedder* embedder,
#                             keel_router** out, keel_error** err);
lib.keel_router_new.restype = c_int
lib.keel_router_new.argtypes = [c_char_p, llm._ModelPtr, llm._EmbedderPtr, POINTER(_RouterPtr),
                                POINTER(ErrorPtr)]
# void keel_router_free(keel_router* router);
lib.keel_router_free.restype = None
lib.keel_router_free.argtypes = [_RouterPtr]
# keel_status keel_router_route(const keel_router* router, const char* request_json,
#                               char** result_json, keel_error** err);
lib.keel_router_route.restype = c_int
lib.keel_router_route.argtypes = [_RouterPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_router_route_text(const keel_router* router, const char* text, size_t len,
#                                    char** result_json, keel_error** err);
lib.keel_router_route_text.restype = c_int
lib.keel_router_route_text.argtypes = [_RouterPtr, c_char_p, c_size_t, POINTER(c_void_p),
                                       POINTER(ErrorPtr)]
# keel_status keel_router_route_async(const keel_router* router, const char* request_json,
#                                     keel_done_fn done, void* user_data, keel_call** call,
#                                     keel_error** err);
lib.keel_router_route_async.restype = c_int
lib.keel_router_route_async.argtypes = [_RouterPtr, c_char_p, llm._DoneFn, c_void_p,
                                        POINTER(llm._CallPtr), POINTER(ErrorPtr)]
# keel_status keel_router_top_k(const keel_router* router, const char* text, size_t len, size_t k,
#                               const char* metadata_json, char** candidates_json,
#                               keel_error** err);
lib.keel_router_top_k.restype = c_int
lib.keel_router_top_k.argtypes = [_RouterPtr, c_char_p, c_size_t, c_size_t, c_char_p,
                                  POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_router_fit(keel_router* router, const char* examples_json,
#                             const char* options_json, char** report_json, keel_error** err);
lib.keel_router_fit.restype = c_int
lib.keel_router_fit.argtypes = [_RouterPtr, c_char_p, c_char_p, POINTER(c_void_p),
                                POINTER(ErrorPtr)]
# keel_status keel_router_evaluate(const keel_router* router, const char* examples_json,
#                                  int use_llm, char** evaluation_json, keel_error** err);
lib.keel_router_evaluate.restype = c_int
lib.keel_router_evaluate.argtypes = [_RouterPtr, c_char_p, c_int, POINTER(c_void_p),
                                     POINTER(ErrorPtr)]
# keel_status keel_router_add_route(keel_router* router, const char* route_json, keel_error** err);
lib.keel_router_add_route.restype = c_int
lib.keel_router_add_route.argtypes = [_RouterPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_router_remove_route(keel_router* router, const char* name, int* removed,
#                                      keel_error** err);
lib.keel_router_remove_route.restype = c_int
lib.keel_router_remove_route.argtypes = [_RouterPtr, c_char_p, POINTER(c_int), POINTER(ErrorPtr)]
# keel_status keel_router_config(const keel_router* router, char** config_json, keel_error** err);
lib.keel_router_config.restype = c_int
lib.keel_router_config.argtypes = [_RouterPtr, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_router_save(const keel_router* router, const char* path, keel_error** err);
lib.keel_router_save.restype = c_int
lib.keel_router_save.argtypes = [_RouterPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_router_load(const char* path, keel_model* model, keel_embedder* embedder,
#                              keel_router** out, keel_error** err);
lib.keel_router_load.restype = c_int
lib.keel_router_load.argtypes = [c_char_p, llm._ModelPtr, llm._EmbedderPtr, POINTER(_RouterPtr),
                                 POINTER(ErrorPtr)]
# int keel_router_is_saved(const char* path);
lib.keel_router_is_saved.restype = c_int
lib.keel_router_is_saved.argtypes = [c_char_p]
# keel_status keel_router_set_event_callback(keel_router* router, keel_event_fn callback,
#                                            void* user_data, keel_error** err);
lib.keel_router_set_event_callback.restype = c_int
lib.keel_router_set_event_callback.argtypes = [_RouterPtr, _EventFn, c_void_p, POINTER(ErrorPtr)]

_KEEL_OK = 0


# ---- Results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteCandidate:
    """A route and its score (a condition's confidence or the semantic confidence)."""

    route: str
    score: float


@dataclass
class RouteResult:
    """The outcome of routing one request. ``route`` is None when no route takes it (tier
    "none"); with tier "fallback" it is the configured fallback route and ``confidence`` the best
    any tier reached. ``reason`` says why no tier decided, or why the model's answer was refused.
    ``timings_us`` has "condition", "semantic", "llm" and "total" in microseconds."""

    route: Optional[str]
    confidence: float
    tier: str
    candidates: List[RouteCandidate] = field(default_factory=list)
    timings_us: Dict[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def decided(self) -> bool:
        """True when a tier was confident (not a fallback, not no route)."""
        return self.tier in ("condition", "semantic", "llm")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RouteResult":
        return cls(
            route=raw.get("route"),
            confidence=float(raw.get("confidence", 0.0)),
            tier=raw.get("tier", "none"),
            candidates=[RouteCandidate(c["route"], float(c["score"]))
                        for c in raw.get("candidates", [])],
            timings_us={k: int(v) for k, v in (raw.get("timings_us") or {}).items()},
            reason=raw.get("reason", ""),
        )

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "route": self.route,
            "confidence": self.confidence,
            "tier": self.tier,
            "candidates": [{"route": c.route, "score": c.score} for c in self.candidates],
            "timings_us": dict(self.timings_us),
        }
        if self.reason:
            out["reason"] = self.reason
        return out

    def _repr_html_(self) -> str:
        colour = {"condition": "#2e7d32", "semantic": "#1565c0", "llm": "#6a1b9a",
                  "fallback": "#f9a825"}.get(self.tier, "#757575")
        name = html.escape(self.route) if self.route is not None else "<i>no route</i>"
        rows = "".join(
            f"<tr><td>{html.escape(c.route)}</td><td>{c.score:.3f}</td></tr>"
            for c in self.candidates
        )
        table = (f"<table><tr><th>candidate</th><th>score</th></tr>{rows}</table>"
                 if rows else "")
        reason = f"<p><small>{html.escape(self.reason)}</small></p>" if self.reason else ""
        total = self.timings_us.get("total", 0)
        return (
            f"<div><b>{name}</b> <span style='color:{colour}'>{html.escape(self.tier)}</span> "
            f"confidence {self.confidence:.3f} · {total} µs{reason}{table}</div>"
        )


@dataclass
class FitReport:
    """What ``Router.fit`` did: whether it kept a learnt linear layer, the shared threshold it
    chose, the objective reached ((1 - w) in-scope accuracy + w out-of-scope recall), those two
    figures, how many routes got their own threshold, and how long it took."""

    layer: bool
    threshold: float
    objective: float
    in_scope_accuracy: float
    out_of_scope_recall: float
    routes_tuned: int
    seconds: float

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "FitReport":
        return cls(
            layer=bool(raw.get("layer", False)),
            threshold=float(raw.get("threshold", 0.0)),
            objective=float(raw.get("objective", 0.0)),
            in_scope_accuracy=float(raw.get("in_scope_accuracy", 0.0)),
            out_of_scope_recall=float(raw.get("out_of_scope_recall", 0.0)),
            routes_tuned=int(raw.get("routes_tuned", 0)),
            seconds=float(raw.get("seconds", 0.0)),
        )

    def _repr_html_(self) -> str:
        return (
            f"<div>fit: layer {'kept' if self.layer else 'not used'} · threshold "
            f"{self.threshold:.3f} · objective {self.objective:.3f} · in-scope accuracy "
            f"{self.in_scope_accuracy:.3f} · out-of-scope recall {self.out_of_scope_recall:.3f}"
            f" · {self.routes_tuned} routes tuned · {self.seconds:.3f} s</div>"
        )


@dataclass(frozen=True)
class RouteMetrics:
    """One route's figures in an evaluation; ``support`` is how many examples expected it."""

    precision: float
    recall: float
    support: int


@dataclass(frozen=True)
class ConfusedPair:
    """Examples that expected one route and got another; "(out of scope)" stands for no
    route."""

    expected: str
    predicted: str
    count: int


@dataclass
class Evaluation:
    """What ``Router.evaluate`` measured. ``accuracy`` counts every example (an out-of-scope
    one is right when no route took it; fallback answers count as no route);
    ``out_of_scope_recall`` is the share of out-of-scope examples rejected and
    ``out_of_scope_precision`` the share of rejections that were out of scope. ``tiers`` counts
    the examples each tier decided."""

    examples: int
    accuracy: float
    in_scope_examples: int
    in_scope_accuracy: float
    out_of_scope_examples: int
    out_of_scope_recall: float
    out_of_scope_precision: float
    tiers: Dict[str, int] = field(default_factory=dict)
    routes: Dict[str, RouteMetrics] = field(default_factory=dict)
    confused: List[ConfusedPair] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Evaluation":
        in_scope = raw.get("in_scope") or {}
        out_of_scope = raw.get("out_of_scope") or {}
        return cls(
            examples=int(raw.get("examples", 0)),
            accuracy=float(raw.get("accuracy", 0.0)),
            in_scope_examples=int(in_scope.get("examples", 0)),
            in_scope_accuracy=float(in_scope.get("accuracy", 0.0)),
            out_of_scope_examples=int(out_of_scope.get("examples", 0)),
            out_of_scope_recall=float(out_of_scope.get("recall", 0.0)),
            out_of_scope_precision=float(out_of_scope.get("precision", 0.0)),
            tiers={k: int(v) for k, v in (raw.get("tiers") or {}).items()},
            routes={
                name: RouteMetrics(float(m.get("precision", 0.0)), float(m.get("recall", 0.0)),
                                   int(m.get("support", 0)))
                for name, m in (raw.get("routes") or {}).items()
            },
            confused=[ConfusedPair(c["expected"], c["predicted"], int(c["count"]))
                      for c in raw.get("confused", [])],
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{m.precision:.3f}</td><td>{m.recall:.3f}</td>"
            f"<td>{m.support}</td></tr>"
            for name, m in sorted(self.routes.items())
        )
        routes = (
            "<table><tr><th>route</th><th>precision</th><th>recall</th><th>support</th></tr>"
            f"{rows}</table>" if rows else ""
        )
        pairs = "".join(
            f"<tr><td>{html.escape(c.expected)}</td><td>{html.escape(c.predicted)}</td>"
            f"<td>{c.count}</td></tr>"
            for c in self.confused
        )
        confused = (
            "<table><tr><th>expected</th><th>predicted</th><th>count</th></tr>"
            f"{pairs}</table>" if pairs else "<p>no confusions</p>"
        )
        tiers = ", ".join(f"{html.escape(t)} {n}" for t, n in sorted(self.tiers.items()))
        return (
            f"<div><b>accuracy {self.accuracy:.3f}</b> over {self.examples} examples · "
            f"in scope {self.in_scope_accuracy:.3f} ({self.in_scope_examples}) · out-of-scope "
            f"recall {self.out_of_scope_recall:.3f} ({self.out_of_scope_examples}) · "
            f"precision {self.out_of_scope_precision:.3f}<br><small>tiers: {tiers}</small>"
            f"{routes}{confused}</div>"
        )


# ---- Arguments ----------------------------------------------------------------------------------


def _text_str(text: Text) -> str:
    """A str for a JSON request (bytes are decoded; invalid UTF-8 becomes U+FFFD)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, got {type(text).__name__}")
    return text


def _examples_json(examples: Iterable[Example]) -> bytes:
    items: List[Dict[str, Any]] = []
    for i, example in enumerate(examples):
        if isinstance(example, Mapping):
            item = dict(example)
        elif isinstance(example, (tuple, list)) and len(example) in (2, 3):
            item = {"text": example[0], "route": example[1]}
            if len(example) == 3 and example[2] is not None:
                item["metadata"] = example[2]
        else:
            raise _native.error_from_code(
                1, f"examples[{i}]: expected a dict or a (text, route[, metadata]) tuple, got "
                   f"{type(example).__name__}")
        if isinstance(item.get("text"), (bytes, bytearray)):
            item["text"] = _text_str(item["text"])
        items.append(item)
    return json.dumps(items).encode("utf-8", "surrogatepass")


def _json_arg(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(1, f"{what}: {exc}") from exc


def _private_model(model: ModelArg) -> Tuple[Any, Optional[ChatModel]]:
    """The keel_model* to pass and the ChatModel this router owns (closed with it), if any.

    keel takes its own reference to the C model, so a provider or scripted model may be closed
    by its owner. A Python function model is different: its function is reachable only while
    its ChatModel is open, so the router builds its own ChatModel over the same function and
    the function lives exactly as long as the router."""
    if model is None:
        return None, None
    if isinstance(model, ChatModel):
        fn = getattr(model, "_callback", None)
        if fn is None:
            return model._live(), None
        model._live()  # a closed model is an error here, as everywhere
        owned = ChatModel.from_function(fn)
    elif callable(model) and not isinstance(model, (str, bytes, os.PathLike)):
        owned = ChatModel.from_function(model)
    else:
        owned = ChatModel(model)  # a model configuration: dict, JSON text or path
    return owned._live(), owned


def _private_embedder(embedder: EmbedderArg) -> Tuple[Any, Optional[Embedder]]:
    """As _private_model, for embedders."""
    if embedder is None:
        return None, None
    if isinstance(embedder, Embedder):
        fn = getattr(embedder, "_callback", None)
        if fn is None:
            return embedder._live(), None
        owned = Embedder.from_function(embedder.dimension, fn)
    else:
        owned = Embedder(embedder)  # an embedder configuration: dict, JSON text or path
    return owned._live(), owned


# ---- The router ---------------------------------------------------------------------------------


class Router(_native.NativeHandle):
    """A three-tier router built from a routes file (a dict, JSON text, or the path of a JSON
    file) with an optional ``model`` for the llm tier (a ChatModel, a model configuration, or a
    Python function as for ``ChatModel.from_function``) and an optional ``embedder`` (an
    Embedder or its configuration; default: the configuration's "embedder", else the built-in
    hashing embedder). Every utterance is embedded before the constructor returns.

    Python functions behind the model or embedder are kept alive as long as the router, even if
    their ChatModel or Embedder is closed first. Safe to share between threads. Use as a
    context manager or call close() to free it early.
    """

    def __init__(self, config: Config, *, model: ModelArg = None,
                 embedder: EmbedderArg = None) -> None:
        self._handle = None
        self._owned: List[Any] = []
        self._event_callback: Optional[Any] = None
        text = llm._config_text(config)
        if not text:
            raise _native.error_from_code(1, "a router needs a routes configuration")
        self._adopt(lambda m, e, out: _native.call(lib.keel_router_new, text, m, e, out),
                    model, embedder)

    def _adopt(self, create: Callable[[Any, Any, Any], None], model: ModelArg,
               embedder: EmbedderArg) -> None:
        owned: List[Any] = []
        try:
            model_ptr, own_model = _private_model(model)
            if own_model is not None:
                owned.append(own_model)
            embedder_ptr, own_embedder = _private_embedder(embedder)
            if own_embedder is not None:
                owned.append(own_embedder)
            handle = _RouterPtr()
            create(model_ptr, embedder_ptr, ctypes.byref(handle))
        except BaseException:
            for item in owned:
                item.close()
            raise
        self._handle = handle
        self._owned = owned
        self._has_model = model is not None

    @classmethod
    def load(cls, path: PathLike, model: ModelArg = None,
             embedder: EmbedderArg = None) -> "Router":
        """A router from a file ``save`` wrote, without embedding again. An embedder given here
        must have the saved dimension. A damaged file is a KeelIOError or ParseError."""
        file = _native.encode(os.fspath(path))
        self = cls.__new__(cls)
        self._handle = None
        self._owned = []
        self._event_callback = None
        self._adopt(lambda m, e, out: _native.call(lib.keel_router_load, file, m, e, out),
                    model, embedder)
        return self

    @staticmethod
    def is_saved(path: PathLike) -> bool:
        """True when ``path`` starts like a file ``save`` wrote."""
        try:
            return bool(lib.keel_router_is_saved(_native.encode(os.fspath(path))))
        except (TypeError, ValueError):
            return False

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            if getattr(self, "_event_callback", None) is not None:
                # A request still in flight (cancelled by Ctrl-C) may emit an event after the
                # free; removing the callback first waits for a running one and stops the rest.
                _native.call(lib.keel_router_set_event_callback, handle, _EventFn(), None)
                self._event_callback = None
            lib.keel_router_free(handle)
        for item in getattr(self, "_owned", []):
            item.close()
        self._owned = []

    def _closed_message(self) -> str:
        return "the router is closed"

    # -- routing --

    def route(self, text: Text, metadata: Optional[Mapping[str, Any]] = None, *,
              use_llm: bool = True, timeout: Optional[float] = None) -> RouteResult:
        """Routes one request. ``metadata`` feeds the metadata conditions. ``use_llm=False``
        stops after the semantic tier; ``timeout`` (seconds) bounds the whole request. Whatever
        the model answers or fails with (garbage, an error, the timeout) becomes tier "none" or
        "fallback" with a ``reason``, not an exception. Ctrl-C cancels a request waiting on the
        model."""
        handle = self._live()
        if metadata is None and use_llm and timeout is None and not self._has_model:
            # The fast path: no JSON request, nothing to wait for.
            encoded = to_bytes(text)
            out = c_void_p()
            _native.call(lib.keel_router_route_text, handle, encoded, len(encoded),
                         ctypes.byref(out))
            return RouteResult.from_dict(json.loads(_native.take_string(out.value)))
        request: Dict[str, Any] = {"text": _text_str(text)}
        if metadata is not None:
            request["metadata"] = metadata
        if not use_llm:
            request["use_llm"] = False
        if timeout is not None:
            if timeout <= 0:
                raise _native.error_from_code(1, f"timeout must be positive, got {timeout!r}")
            request["timeout_ms"] = max(1, int(round(timeout * 1000)))
        request_json = _json_arg(request, "request")
        if not self._has_model or not use_llm or getattr(llm._local, "in_callback", False):
            # No model to wait on; or called from inside a Python model function, where the
            # blocking form reports an llm tier it cannot wait for as an InvalidArgumentError
            # instead of starving keel's threads.
            out = c_void_p()
            _native.call(lib.keel_router_route, handle, request_json, ctypes.byref(out))
            return RouteResult.from_dict(json.loads(_native.take_string(out.value)))
        return self._route_async(handle, request_json)

    def _route_async(self, handle: Any, request_json: bytes) -> RouteResult:
        key = next(llm._keys)
        results: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        llm._calls[key] = results  # llm's done trampoline delivers here; its exit drain waits
        call = llm._CallPtr()
        err = ErrorPtr()
        status = lib.keel_router_route_async(handle, request_json, llm._done_trampoline, key,
                                             ctypes.byref(call), ctypes.byref(err))
        if status != _KEEL_OK:
            llm._calls.pop(key, None)
            raise _native.take_error(status, err)
        with llm._lock:
            llm._live_calls[key] = call
        finished = False
        try:
            for item in llm._pieces(results):  # a route has no deltas: the one item is "done"
                finished = True
                _, status, payload = item
                text = payload.decode("utf-8", "replace") if payload else ""
                if status != _KEEL_OK:
                    raise _native.error_from_code(status, text)
                return RouteResult.from_dict(json.loads(text))
        finally:
            with llm._lock:
                del llm._live_calls[key]
                if not finished:
                    # Interrupted (KeyboardInterrupt): cancel; done still comes and drops the
                    # queue from llm._calls.
                    lib.keel_call_cancel(call)
                lib.keel_call_free(call)
        raise _native.error_from_code(12, "the request ended without a result")

    def route_many(self, texts: Iterable[Text],
                   metadata: Optional[Mapping[str, Any]] = None, *, use_llm: bool = True,
                   timeout: Optional[float] = None) -> List[RouteResult]:
        """Routes each text in turn (with the same metadata), in order."""
        return [self.route(t, metadata, use_llm=use_llm, timeout=timeout) for t in texts]

    def top_k(self, text: Text, k: int,
              metadata: Optional[Mapping[str, Any]] = None) -> List[RouteCandidate]:
        """The ``k`` (>= 1) best routes by the condition and semantic tiers, best first."""
        handle = self._live()
        if k < 1:
            raise _native.error_from_code(1, f"k must be at least 1, got {k}")
        encoded = to_bytes(text)
        metadata_json = _json_arg(metadata, "metadata") if metadata is not None else None
        out = c_void_p()
        _native.call(lib.keel_router_top_k, handle, encoded, len(encoded), int(k), metadata_json,
                     ctypes.byref(out))
        return [RouteCandidate(c["route"], float(c["score"]))
                for c in json.loads(_native.take_string(out.value))]

    # -- learning --

    def fit(self, examples: Iterable[Example], **options: Any) -> FitReport:
        """Learns from labelled examples (dicts ``{"text", "metadata"?, "route"}`` or tuples
        ``(text, route[, metadata])``; a route of None is out of scope): trains the semantic
        layer, calibrates confidence and tunes per-route thresholds. ``options``: ``layer``
        ("auto", "always", "never"), ``epochs``, ``l2``, ``per_route_thresholds``, ``seed``.
        The llm tier is not consulted. An empty list or an unknown route is an
        InvalidArgumentError; a bad option an InvalidConfigError naming it."""
        handle = self._live()
        examples_json = _examples_json(examples)
        options_json = _json_arg(options, "options") if options else None
        out = c_void_p()
        _native.call(lib.keel_router_fit, handle, examples_json, options_json, ctypes.byref(out))
        return FitReport.from_dict(json.loads(_native.take_string(out.value)))

    def evaluate(self, examples: Iterable[Example], use_llm: bool = False) -> Evaluation:
        """Routes every labelled example (the llm tier only with ``use_llm``) and measures
        accuracy, in-scope accuracy, out-of-scope recall, per-route figures and confusions."""
        handle = self._live()
        examples_json = _examples_json(examples)
        out = c_void_p()
        _native.call(lib.keel_router_evaluate, handle, examples_json, 1 if use_llm else 0,
                     ctypes.byref(out))
        return Evaluation.from_dict(json.loads(_native.take_string(out.value)))

    # -- routes and configuration --

    def add_route(self, route: Mapping[str, Any]) -> None:
        """Adds a route ``{"name", "description", "conditions", "utterances", "threshold"}``
        (embedding only its utterances), or replaces the route of the same name. A bad route is
        an InvalidConfigError naming the path ("route.conditions[0]: ...")."""
        handle = self._live()
        _native.call(lib.keel_router_add_route, handle, _json_arg(route, "route"))

    def remove_route(self, name: str) -> bool:
        """Removes the route called ``name``; False when there was none."""
        handle = self._live()
        removed = c_int(0)
        _native.call(lib.keel_router_remove_route, handle, _native.encode(name),
                     ctypes.byref(removed))
        return bool(removed.value)

    def config(self) -> Dict[str, Any]:
        """The configuration as it stands (routes, tuned thresholds, learnt state): a routes
        file that ``Router`` accepts."""
        handle = self._live()
        out = c_void_p()
        _native.call(lib.keel_router_config, handle, ctypes.byref(out))
        return json.loads(_native.take_string(out.value))

    @property
    def route_names(self) -> List[str]:
        """The names of the routes, in configuration order."""
        return [r["name"] for r in self.config().get("routes", [])]

    def save(self, path: PathLike) -> None:
        """Saves the router with its utterance vectors and learnt state to one file (written to
        a temporary file and renamed), so ``Router.load`` does not embed again."""
        handle = self._live()
        _native.call(lib.keel_router_save, handle, _native.encode(os.fspath(path)))

    def on_event(self, callback: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Calls ``callback(event_dict)`` with a "router.route" event for each routed request
        (from whichever thread routed it); None removes it. An exception in the callback is
        ignored."""
        self._set_event_callback(lib.keel_router_set_event_callback, callback)

    def __repr__(self) -> str:
        if not self._handle:
            return "<keel.Router (closed)>"
        return f"<keel.Router routes={self.route_names!r}>"

"""Chat models and embedders: OpenAI-compatible and Anthropic providers, a scripted test double,
the built-in hashing embedder, and Python functions as models and embedders.

Calls start with ``keel_model_chat_async`` and the calling thread waits on a queue, so Ctrl-C
(a KeyboardInterrupt) cancels a call in flight, streamed pieces reach ``on_delta`` on the
calling thread, and an abandoned ``stream()`` generator cancels its call instead of leaking it.
"""

from __future__ import annotations

import atexit
import ctypes
import html
import itertools
import json
import os
import queue
import threading
import time
from ctypes import POINTER, c_char_p, c_float, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Generator, Iterable, Iterator, List, Optional, Sequence,
                    TypeVar, Union)

from . import _native
from ._native import ErrorPtr, lib
from ._text import Text, to_bytes
from .errors import KeelError

__all__ = [
    "ChatModel",
    "ChatResponse",
    "Delta",
    "Embedder",
    "Message",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

PathLike = Union[str, "os.PathLike[str]"]
Config = Union[Dict[str, Any], str, "os.PathLike[str]"]


class _Model(ctypes.Structure):
    """keel_model (opaque)."""


class _Embedder(ctypes.Structure):
    """keel_embedder (opaque)."""


class _Call(ctypes.Structure):
    """keel_call (opaque)."""


_ModelPtr = POINTER(_Model)
_EmbedderPtr = POINTER(_Embedder)
_CallPtr = POINTER(_Call)

# typedef int (*keel_model_fn)(const char* request_json, keel_reply* reply, void* user_data);
_ModelFn = ctypes.CFUNCTYPE(c_int, c_char_p, c_void_p, c_void_p)
# typedef int (*keel_embed_fn)(const char* texts_json, keel_reply* reply, void* user_data);
_EmbedFn = ctypes.CFUNCTYPE(c_int, c_char_p, c_void_p, c_void_p)
# typedef void (*keel_delta_fn)(const char* delta_json, void* user_data);
_DeltaFn = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)
# typedef void (*keel_done_fn)(keel_status status, const char* json_or_message, void* user_data);
_DoneFn = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)

# void keel_reply_set(keel_reply* reply, const char* json);
lib.keel_reply_set.restype = None
lib.keel_reply_set.argtypes = [c_void_p, c_char_p]
# void keel_reply_error(keel_reply* reply, keel_status code, const char* message);
lib.keel_reply_error.restype = None
lib.keel_reply_error.argtypes = [c_void_p, c_int, c_char_p]
# keel_status keel_model_new(const char* config_json, keel_model** out, keel_error** err);
lib.keel_model_new.restype = c_int
lib.keel_model_new.argtypes = [c_char_p, POINTER(_ModelPtr), POINTER(ErrorPtr)]
# keel_status keel_model_new_callback(keel_model_fn fn, void* user_data, keel_model** out,
#                                     keel_error** err);
lib.keel_model_new_callback.restype = c_int
lib.keel_model_new_callback.argtypes = [_ModelFn, c_void_p, POINTER(_ModelPtr), POINTER(ErrorPtr)]
# void keel_model_free(keel_model* model);
lib.keel_model_free.restype = None
lib.keel_model_free.argtypes = [_ModelPtr]
# keel_status keel_model_chat(keel_model* model, const char* request_json,
#                             const char* options_json, keel_delta_fn on_delta, void* user_data,
#                             char** response_json, keel_error** err);
lib.keel_model_chat.restype = c_int
lib.keel_model_chat.argtypes = [_ModelPtr, c_char_p, c_char_p, _DeltaFn, c_void_p,
                                POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_model_chat_async(keel_model* model, const char* request_json,
#                                   const char* options_json, keel_delta_fn on_delta,
#                                   keel_done_fn done, void* user_data, keel_call** call,
#                                   keel_error** err);
lib.keel_model_chat_async.restype = c_int
lib.keel_model_chat_async.argtypes = [_ModelPtr, c_char_p, c_char_p, _DeltaFn, _DoneFn, c_void_p,
                                      POINTER(_CallPtr), POINTER(ErrorPtr)]
# void keel_call_cancel(keel_call* call);
lib.keel_call_cancel.restype = None
lib.keel_call_cancel.argtypes = [_CallPtr]
# void keel_call_free(keel_call* call);
lib.keel_call_free.restype = None
lib.keel_call_free.argtypes = [_CallPtr]
# keel_status keel_embedder_new(const char* config_json, keel_embedder** out, keel_error** err);
lib.keel_embedder_new.restype = c_int
lib.keel_embedder_new.argtypes = [c_char_p, POINTER(_EmbedderPtr), POINTER(ErrorPtr)]
# keel_status keel_embedder_new_callback(size_t dimension, keel_embed_fn fn, void* user_data,
#                                        keel_embedder** out, keel_error** err);
lib.keel_embedder_new_callback.restype = c_int
lib.keel_embedder_new_callback.argtypes = [c_size_t, _EmbedFn, c_void_p, POINTER(_EmbedderPtr),
                                           POINTER(ErrorPtr)]
# void keel_embedder_free(keel_embedder* embedder);
lib.keel_embedder_free.restype = None
lib.keel_embedder_free.argtypes = [_EmbedderPtr]
# size_t keel_embedder_dimension(const keel_embedder* embedder);
lib.keel_embedder_dimension.restype = c_size_t
lib.keel_embedder_dimension.argtypes = [_EmbedderPtr]
# keel_status keel_embedder_embed(const keel_embedder* embedder, const char* texts_json,
#                                 char** vectors_json, keel_error** err);
lib.keel_embedder_embed.restype = c_int
lib.keel_embedder_embed.argtypes = [_EmbedderPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_embedder_embed_one(const keel_embedder* embedder, const char* text, size_t len,
#                                     float* out, size_t capacity, keel_error** err);
lib.keel_embedder_embed_one.restype = c_int
lib.keel_embedder_embed_one.argtypes = [_EmbedderPtr, c_char_p, c_size_t, POINTER(c_float),
                                        c_size_t, POINTER(ErrorPtr)]

_KEEL_OK = 0
_KEEL_PROVIDER = 8


# ---- Results ------------------------------------------------------------------------------------


@dataclass
class ToolCall:
    """A tool call the model asked for. ``arguments`` is the parsed JSON object, or None when the
    model sent arguments that are not a JSON object (then ``arguments_text`` keeps them)."""

    id: str
    name: str
    arguments: Optional[Dict[str, Any]] = field(default_factory=dict)
    arguments_text: str = ""

    @property
    def arguments_valid(self) -> bool:
        return self.arguments is not None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"id": self.id, "name": self.name}
        if self.arguments is not None:
            out["arguments"] = self.arguments
        else:
            out["arguments"] = None
            out["arguments_text"] = self.arguments_text
        return out

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "ToolCall":
        args = raw.get("arguments", {})
        text = raw.get("arguments_text", "")
        if isinstance(args, str):  # the provider form: JSON in a string
            text = args
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = None
            if args is not None and not isinstance(args, dict):
                args = None
        return cls(id=raw.get("id", ""), name=raw["name"], arguments=args, arguments_text=text)


@dataclass
class Message:
    """One message of a conversation: role "system", "user", "assistant" (optionally with tool
    calls) or "tool" (a tool's result, answering ``tool_call_id``)."""

    role: str
    content: str = ""
    tool_calls: List[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""
    name: str = ""

    @classmethod
    def system(cls, text: str) -> "Message":
        return cls("system", text)

    @classmethod
    def user(cls, text: str) -> "Message":
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str = "",
                  tool_calls: Optional[Iterable[ToolCall]] = None) -> "Message":
        return cls("assistant", text, list(tool_calls or []))

    @classmethod
    def tool_result(cls, call_id: str, tool_name: str, content: Any) -> "Message":
        """A tool's result; ``content`` that is not a str is sent as JSON."""
        if not isinstance(content, str):
            content = json.dumps(content)
        return cls("tool", content, tool_call_id=call_id, name=tool_name)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "Message":
        return cls(
            role=raw.get("role", "user"),
            content=raw.get("content") or "",
            tool_calls=[ToolCall.from_dict(c) for c in raw.get("tool_calls", [])],
            tool_call_id=raw.get("tool_call_id", ""),
            name=raw.get("name", ""),
        )


@dataclass
class ToolSpec:
    """A tool the model may call: its name, what it does, and its JSON-Schema parameters."""

    name: str
    description: str = ""
    parameters: Dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class ChatResponse:
    """A model's answer: the assistant message, why it stopped ("stop", "tool_calls", "length",
    ...), token usage and the model that answered."""

    message: Message
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""

    @property
    def text(self) -> str:
        return self.message.content

    @property
    def tool_calls(self) -> List[ToolCall]:
        return self.message.tool_calls

    def to_dict(self) -> Dict[str, Any]:
        return {
            "message": self.message.to_dict(),
            "finish_reason": self.finish_reason,
            "usage": {"input_tokens": self.usage.input_tokens,
                      "output_tokens": self.usage.output_tokens},
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "ChatResponse":
        usage = raw.get("usage") or {}
        return cls(
            message=Message.from_dict(raw["message"]),
            finish_reason=raw.get("finish_reason", "stop"),
            usage=Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0)),
            model=raw.get("model", ""),
        )

    def _repr_html_(self) -> str:
        def arguments(call: ToolCall) -> str:
            return json.dumps(call.arguments) if call.arguments_valid else call.arguments_text

        calls = "".join(
            f"<tr><td><code>{html.escape(c.id)}</code></td><td><b>{html.escape(c.name)}</b></td>"
            f"<td><code>{html.escape(arguments(c))}</code></td></tr>"
            for c in self.tool_calls
        )
        table = (
            f"<table><tr><th>id</th><th>tool</th><th>arguments</th></tr>{calls}</table>"
            if calls else ""
        )
        text = (
            f"<div style='white-space:pre-wrap'>{html.escape(self.text)}</div>" if self.text else ""
        )
        return (
            f"<div>{text}{table}<small>{html.escape(self.model or 'model')} · finish "
            f"{html.escape(self.finish_reason)} · tokens {self.usage.input_tokens} in / "
            f"{self.usage.output_tokens} out</small></div>"
        )


@dataclass(frozen=True)
class Delta:
    """A streamed piece: ``kind`` "text" (``text``) or "tool_call" (call ``index``; ``id`` and
    ``name`` on a call's first piece, then its JSON ``arguments`` in pieces)."""

    kind: str
    text: str = ""
    index: int = 0
    id: str = ""
    name: str = ""
    arguments: str = ""

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "Delta":
        return cls(
            kind=raw.get("kind", "text"),
            text=raw.get("text", ""),
            index=raw.get("index", 0),
            id=raw.get("id", ""),
            name=raw.get("name", ""),
            arguments=raw.get("arguments", ""),
        )


# ---- Plumbing -----------------------------------------------------------------------------------

# The C side only ever holds these module-level trampolines (never freed) and an integer key as
# user_data; the Python objects behind a key live in these tables. A call that arrives after its
# owner went away (a model closed while a call was in flight) finds no entry and fails cleanly
# instead of jumping into a freed ctypes thunk.
_keys = itertools.count(1)
_hosts: Dict[int, Callable[[bytes], str]] = {}  # model and embedder callbacks
_calls: Dict[int, "queue.SimpleQueue[tuple]"] = {}  # chat calls whose done has not come yet
_local = threading.local()  # .in_callback: this thread is running a host model for keel
# For the exit drain: the keel_call handles not yet freed, and how many host callbacks run.
_lock = threading.Lock()
_live_calls: Dict[int, Any] = {}
_hosts_running = 0
_exiting = False


@atexit.register
def _drain_at_exit() -> None:
    """Cancels the calls still in flight and waits (a few seconds at most) for them and for
    running host callbacks to finish. A keel thread that re-enters the interpreter after it has
    shut down is ended by Python with pthread_exit, which cannot unwind through keel's
    noexcept frames and aborts the process; draining first makes exit clean."""
    global _exiting
    _exiting = True
    with _lock:
        for call in _live_calls.values():
            lib.keel_call_cancel(call)
    deadline = time.monotonic() + 5.0
    while (_calls or _hosts_running) and time.monotonic() < deadline:
        time.sleep(0.01)


def _error_code_and_message(exc: BaseException) -> tuple:
    if isinstance(exc, KeelError):
        return exc.code, exc.message
    text = str(exc)
    return _KEEL_PROVIDER, f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _host_trampoline(what: str) -> Callable[[bytes, int, int], int]:
    def trampoline(payload: bytes, reply: int, user_data: int) -> int:
        global _hosts_running
        try:
            host = None if _exiting else _hosts.get(user_data or 0)
            if host is None:
                why = "Python is exiting" if _exiting else f"the {what} was closed"
                lib.keel_reply_error(reply, 6, why.encode())
                return 1
            with _lock:
                _hosts_running += 1
            try:
                answer = host(payload)
            finally:
                with _lock:
                    _hosts_running -= 1
            lib.keel_reply_set(reply, answer.encode("utf-8", "surrogatepass"))
            return 0
        except BaseException as exc:  # nothing may unwind into C
            try:
                code, message = _error_code_and_message(exc)
                lib.keel_reply_error(reply, code, message.encode("utf-8", "replace"))
            except BaseException:
                pass
            return 1

    return trampoline


_model_trampoline = _ModelFn(_host_trampoline("model"))
_embed_trampoline = _EmbedFn(_host_trampoline("embedder"))


def _on_delta(delta: bytes, user_data: int) -> None:
    try:
        q = _calls.get(user_data or 0)
        if q is not None:
            q.put(("delta", delta))
    except BaseException:
        pass


def _on_done(status: int, payload: bytes, user_data: int) -> None:
    try:
        q = _calls.pop(user_data or 0, None)
        if q is not None:
            q.put(("done", status, payload))
    except BaseException:
        pass


_delta_trampoline = _DeltaFn(_on_delta)
_done_trampoline = _DoneFn(_on_done)


def _pieces(results: "queue.SimpleQueue[tuple]") -> Iterator[tuple]:
    """A call's pieces as they arrive. Waits are short so that a KeyboardInterrupt lands even
    when SIGINT went to another thread and left this one asleep."""
    while True:
        try:
            item = results.get(timeout=0.1)
        except queue.Empty:
            item = None
        if item is not None:
            yield item


def _config_with_options(config: Optional[Config], options: Dict[str, Any], what: str) -> bytes:
    """A configuration's JSON (a dict, JSON text or a path) with keyword ``options`` over it;
    errors name ``what`` ("agent config")."""
    if not options:
        return _config_text(config) or b"{}"
    base: Dict[str, Any] = {}
    if config is not None:
        try:
            base = json.loads(_config_text(config) or b"{}")
        except ValueError as exc:
            raise _native.error_from_code(10, f"{what}: {exc}") from exc
        if not isinstance(base, dict):
            raise _native.error_from_code(2, f"{what}: expected an object")
    base.update(options)
    try:
        return json.dumps(base).encode()
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(2, f"{what}: {exc}") from exc


def _config_text(config: Optional[Config]) -> bytes:
    """A configuration as JSON bytes: a dict, JSON text, or the path of a JSON file."""
    if config is None:
        return b""
    if isinstance(config, dict):
        return json.dumps(config).encode()
    if isinstance(config, bytes):
        return config
    if isinstance(config, str) and config.lstrip().startswith(("{", "[")):
        return config.encode()
    if isinstance(config, (str, os.PathLike)):
        try:
            with open(config, "rb") as f:
                return f.read()
        except OSError as exc:
            raise _native.error_from_code(4, f"{os.fspath(config)}: {exc.strerror or exc}") from exc
    raise TypeError(f"expected a dict, JSON text or a path, got {type(config).__name__}")


def _message_dict(message: Union[Message, Dict[str, Any]]) -> Dict[str, Any]:
    if isinstance(message, Message):
        return message.to_dict()
    if isinstance(message, dict):
        return message
    raise TypeError(f"expected a Message or a dict, got {type(message).__name__}")


def _tool_dict(tool: Union[ToolSpec, Dict[str, Any]]) -> Dict[str, Any]:
    if isinstance(tool, ToolSpec):
        return tool.to_dict()
    if isinstance(tool, dict):
        return tool
    raise TypeError(f"expected a ToolSpec or a dict, got {type(tool).__name__}")


def _response_json(answer: Any) -> str:
    """What a Python model function returned, as response JSON."""
    if isinstance(answer, ChatResponse):
        return json.dumps(answer.to_dict())
    if isinstance(answer, Message):
        return json.dumps({"message": answer.to_dict(),
                           "finish_reason": "tool_calls" if answer.tool_calls else "stop"})
    if isinstance(answer, str):
        return json.dumps({"message": {"role": "assistant", "content": answer}})
    if isinstance(answer, dict):
        if "message" in answer:
            message = answer["message"]
            if isinstance(message, Message):
                answer = {**answer, "message": message.to_dict()}
            return json.dumps(answer)
        # The short form: the assistant message's fields, plus the response's own.
        outer = {k: answer[k] for k in ("finish_reason", "usage", "model") if k in answer}
        message = {k: v for k, v in answer.items() if k not in outer}
        message.setdefault("role", "assistant")
        if "tool_calls" in message:
            message["tool_calls"] = [c.to_dict() if isinstance(c, ToolCall) else c
                                     for c in message["tool_calls"]]
            outer.setdefault("finish_reason", "tool_calls")
        return json.dumps({"message": message, **outer})
    raise TypeError(
        "a model function must return a str, a dict, a Message or a ChatResponse, got "
        + type(answer).__name__
    )


def _vector_list(vector: Any) -> List[float]:
    if hasattr(vector, "tolist"):  # numpy arrays
        vector = vector.tolist()
    return [float(x) for x in vector]


# ---- Models -------------------------------------------------------------------------------------


class ChatModel(_native.NativeHandle):
    """A chat model: an OpenAI-compatible or Anthropic provider, a scripted test double
    (``{"provider": "scripted", "responses": [...]}``) or a Python function.

    Safe to share between threads. Use as a context manager or call close() to free it early;
    calls in flight keep what they need alive.
    """

    def __init__(self, config: Config) -> None:
        handle = _ModelPtr()
        _native.call(lib.keel_model_new, _config_text(config), ctypes.byref(handle))
        self._handle = handle
        self._host_key = 0
        self._callback: Optional[Callable[..., Any]] = None

    @classmethod
    def from_config(cls, config: Config) -> "ChatModel":
        """A model from the model file format: a dict, JSON text, or the path of a JSON file."""
        return cls(config)

    @classmethod
    def from_function(cls, fn: Callable[[Dict[str, Any]], Any]) -> "ChatModel":
        """A model whose answers come from ``fn(request: dict)``. It returns a str (the
        assistant's text), a ChatResponse, a Message, a response dict (``{"message": ...}``) or
        the short form ``{"content": ..., "tool_calls": [...]}``. An exception it raises fails
        the call; its message reaches the caller (a KeelError keeps its code, anything else
        becomes a ProviderError). ``fn`` runs on one of keel's threads."""

        def host(request: bytes) -> str:
            _local.in_callback = True
            try:
                return _response_json(fn(json.loads(request)))
            finally:
                _local.in_callback = False

        key = next(_keys)
        _hosts[key] = host
        handle = _ModelPtr()
        try:
            _native.call(lib.keel_model_new_callback, _model_trampoline, key, ctypes.byref(handle))
        except BaseException:
            _hosts.pop(key, None)
            raise
        self = cls.__new__(cls)
        self._handle = handle
        self._host_key = key
        self._callback = fn  # kept alive with the model
        return self

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.keel_model_free(handle)
        _hosts.pop(getattr(self, "_host_key", 0), None)

    def _closed_message(self) -> str:
        return "the model is closed"

    @staticmethod
    def _request(messages_or_request: Union[str, Dict[str, Any], Sequence[Any]],
                 tools: Optional[Sequence[Union[ToolSpec, Dict[str, Any]]]],
                 temperature: Optional[float], max_tokens: Optional[int],
                 response_format: Union[None, str, Dict[str, Any]],
                 tool_choice: Union[None, str, Dict[str, Any]],
                 stop: Optional[Sequence[str]]) -> Dict[str, Any]:
        if isinstance(messages_or_request, str):
            prompt = {"role": "user", "content": messages_or_request}
            request: Dict[str, Any] = {"messages": [prompt]}
        elif isinstance(messages_or_request, dict):
            request = dict(messages_or_request)
            if "messages" in request:
                request["messages"] = [_message_dict(m) for m in request["messages"]]
            if "tools" in request:
                request["tools"] = [_tool_dict(t) for t in request["tools"]]
        elif isinstance(messages_or_request, Message):
            request = {"messages": [messages_or_request.to_dict()]}
        else:
            request = {"messages": [_message_dict(m) for m in messages_or_request]}
        if tools is not None:
            request["tools"] = [_tool_dict(t) for t in tools]
        if temperature is not None:
            request["temperature"] = temperature
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if response_format is not None:
            request["response_format"] = response_format
        if tool_choice is not None:
            if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
                tool_choice = {"name": tool_choice}  # a tool's name
            request["tool_choice"] = tool_choice
        if stop is not None:
            request["stop"] = list(stop)
        return request

    @staticmethod
    def _options(timeout: Optional[float]) -> Optional[bytes]:
        if timeout is None:
            return None
        if timeout <= 0:
            raise _native.error_from_code(1, f"timeout must be positive, got {timeout!r}")
        return json.dumps({"timeout_ms": max(1, int(round(timeout * 1000)))}).encode()

    def _run(self, request: Dict[str, Any], timeout: Optional[float],
             streaming: bool) -> Iterator[Any]:
        """Starts a call and yields its Deltas (when streaming), then the ChatResponse.
        Closing the generator early cancels the call."""
        request_json = json.dumps(request).encode("utf-8", "surrogatepass")
        options = self._options(timeout)
        if getattr(_local, "in_callback", False):
            # A host model waiting on keel from keel's own thread could starve the pool: the
            # blocking call reports that as an InvalidArgumentError instead.
            out = c_void_p()
            _native.call(lib.keel_model_chat, self._live(), request_json, options, _DeltaFn(),
                         None, ctypes.byref(out))
            yield ChatResponse.from_dict(json.loads(_native.take_string(out.value)))
            return
        handle = self._live()
        key = next(_keys)
        results: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        _calls[key] = results
        call = _CallPtr()
        err = ErrorPtr()
        status = lib.keel_model_chat_async(
            handle, request_json, options,
            _delta_trampoline if streaming else _DeltaFn(), _done_trampoline, key,
            ctypes.byref(call), ctypes.byref(err))
        if status != _KEEL_OK:
            _calls.pop(key, None)
            raise _native.take_error(status, err)
        with _lock:
            _live_calls[key] = call
        finished = False
        # A for loop, not `while True: ... continue`: CPython 3.11 attributes an interrupt
        # raised at a jump back to a loop that opens a try block to the instruction before the
        # try, and then skips this finally (and the cancel).
        try:
            for item in _pieces(results):
                if item[0] == "delta":
                    yield Delta.from_dict(json.loads(item[1]))
                else:
                    finished = True
                    _, status, payload = item
                    text = payload.decode("utf-8", "replace") if payload else ""
                    if status != _KEEL_OK:
                        raise _native.error_from_code(status, text)
                    yield ChatResponse.from_dict(json.loads(text))
                    return
        finally:
            with _lock:
                del _live_calls[key]
                if not finished:
                    # Abandoned (generator closed, on_delta raised, KeyboardInterrupt): cancel.
                    # The done callback still comes and drops the queue from _calls.
                    lib.keel_call_cancel(call)
                lib.keel_call_free(call)

    def chat(self, messages_or_request: Union[str, Dict[str, Any], Sequence[Any]], *,
             tools: Optional[Sequence[Union[ToolSpec, Dict[str, Any]]]] = None,
             temperature: Optional[float] = None, max_tokens: Optional[int] = None,
             response_format: Union[None, str, Dict[str, Any]] = None,
             tool_choice: Union[None, str, Dict[str, Any]] = None,
             stop: Optional[Sequence[str]] = None,
             timeout: Optional[float] = None,
             on_delta: Optional[Callable[[Delta], None]] = None) -> ChatResponse:
        """One call. ``messages_or_request`` is a prompt str, a list of Messages (or message
        dicts), or a whole request dict; keyword arguments add to it. ``timeout`` (seconds)
        bounds the whole call, retries included (KeelTimeoutError). With ``on_delta`` the call
        streams and ``on_delta(Delta)`` runs on this thread for each piece; if it raises, the
        call is cancelled and the exception propagates. Ctrl-C cancels the call."""
        request = self._request(messages_or_request, tools, temperature, max_tokens,
                                response_format, tool_choice, stop)
        run = self._run(request, timeout, streaming=on_delta is not None)
        try:
            for item in run:
                if isinstance(item, Delta):
                    on_delta(item)  # type: ignore[misc]
                else:
                    return item
        finally:
            run.close()
        raise _native.error_from_code(12, "the call ended without a response")

    def stream(self, messages_or_request: Union[str, Dict[str, Any], Sequence[Any]], *,
               tools: Optional[Sequence[Union[ToolSpec, Dict[str, Any]]]] = None,
               temperature: Optional[float] = None, max_tokens: Optional[int] = None,
               response_format: Union[None, str, Dict[str, Any]] = None,
               tool_choice: Union[None, str, Dict[str, Any]] = None,
               stop: Optional[Sequence[str]] = None,
               timeout: Optional[float] = None) -> Generator[Delta, None, ChatResponse]:
        """Streams a call: yields each Delta as it arrives; the generator's return value
        (``StopIteration.value``, or ``response = yield from model.stream(...)``) is the whole
        ChatResponse. The call starts at the first ``next()``; closing or dropping the
        generator early cancels it."""
        request = self._request(messages_or_request, tools, temperature, max_tokens,
                                response_format, tool_choice, stop)
        run = self._run(request, timeout, streaming=True)
        try:
            for item in run:
                if isinstance(item, Delta):
                    yield item
                else:
                    return item
        finally:
            run.close()
        raise _native.error_from_code(12, "the call ended without a response")


# ---- Embedders ----------------------------------------------------------------------------------


class Embedder(_native.NativeHandle):
    """Turns text into fixed-dimension float vectors: the built-in hashing embedder (the
    default; no model, no network), an OpenAI-compatible embeddings client, or a Python function.

    Safe to share between threads. Use as a context manager or call close() to free it early.
    """

    def __init__(self, config: Optional[Config] = None) -> None:
        handle = _EmbedderPtr()
        _native.call(lib.keel_embedder_new, _config_text(config), ctypes.byref(handle))
        self._handle = handle
        self._host_key = 0
        self._callback: Optional[Callable[..., Any]] = None

    @classmethod
    def from_config(cls, config: Optional[Config] = None) -> "Embedder":
        """``{"provider": "hashing", "dimension": 1024, ...}`` or ``{"provider": "openai", ...}``
        as a dict, JSON text or the path of a JSON file; None for the hashing default."""
        return cls(config)

    @classmethod
    def from_function(cls, dimension: int,
                      fn: Callable[[List[str]], Sequence[Sequence[float]]]) -> "Embedder":
        """An embedder whose vectors come from ``fn(texts) -> one vector per text`` (lists,
        tuples or numpy arrays of ``dimension`` floats). An exception it raises fails the call
        with its message; a vector of the wrong size is a ProviderError."""

        def host(texts: bytes) -> str:
            return json.dumps([_vector_list(v) for v in fn(json.loads(texts))])

        key = next(_keys)
        _hosts[key] = host
        handle = _EmbedderPtr()
        try:
            _native.call(lib.keel_embedder_new_callback, int(dimension), _embed_trampoline, key,
                         ctypes.byref(handle))
        except BaseException:
            _hosts.pop(key, None)
            raise
        self = cls.__new__(cls)
        self._handle = handle
        self._host_key = key
        self._callback = fn  # kept alive with the embedder
        return self

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.keel_embedder_free(handle)
        _hosts.pop(getattr(self, "_host_key", 0), None)

    def _closed_message(self) -> str:
        return "the embedder is closed"

    @property
    def dimension(self) -> int:
        """The vectors' size (0 for an HTTP embedder whose size is not known yet)."""
        return int(lib.keel_embedder_dimension(self._live()))

    def embed(self, text: Text) -> List[float]:
        """One text's vector (the fast path: no JSON)."""
        handle = self._live()
        dimension = int(lib.keel_embedder_dimension(handle))
        if dimension == 0:  # an HTTP embedder learns its size from its first answer
            return self.embed_batch([text])[0]
        encoded = to_bytes(text)
        out = (c_float * dimension)()
        _native.call(lib.keel_embedder_embed_one, handle, encoded, len(encoded), out, dimension)
        return list(out)

    def embed_batch(self, texts: Iterable[Text]) -> List[List[float]]:
        """Vectors for many texts, in order."""
        items = [t.decode("utf-8") if isinstance(t, (bytes, bytearray)) else t for t in texts]
        if not items:
            return []
        out = c_void_p()
        _native.call(lib.keel_embedder_embed, self._live(), json.dumps(items).encode(),
                     ctypes.byref(out))
        return json.loads(_native.take_string(out.value))


# ---- runs: one asynchronous C call, one result ---------------------------------------------------

# How long an interrupted run may take to hand back its result before Ctrl-C propagates.
_CANCEL_GRACE_S = 2.0
_R = TypeVar("_R")


def _await_run(start: Callable[..., int], parse: Callable[[Dict[str, Any]], _R],
               interrupt_attribute: str) -> _R:
    """Starts an asynchronous keel run — ``start(done_fn, key, call_ref, err_ref)`` returns the
    C status — and waits on this thread for its one result, parsed by ``parse``. Ctrl-C cancels
    the run (keel_call_cancel) and the KeyboardInterrupt propagates, carrying the cancelled
    run's result as ``interrupt_attribute`` when it arrives within two seconds."""
    key = next(_keys)
    results: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
    _calls[key] = results  # the done trampoline delivers here; the exit drain waits for it
    call = _CallPtr()
    err = ErrorPtr()
    status = start(_done_trampoline, key, ctypes.byref(call), ctypes.byref(err))
    if status != 0:
        _calls.pop(key, None)
        raise _native.take_error(status, err)
    with _lock:
        _live_calls[key] = call

    def outcome(item: tuple) -> _R:
        _, code, payload = item
        text = payload.decode("utf-8", "replace") if payload else ""
        if code != 0:
            raise _native.error_from_code(code, text)
        return parse(json.loads(text))

    finished = cancelled = False
    try:
        # A for loop, not `while True`: see ChatModel._run on CPython 3.11 and interrupts.
        for item in _pieces(results):  # a run has no deltas: the one item is "done"
            finished = True
            return outcome(item)
    except KeyboardInterrupt as interrupt:
        if not finished:
            with _lock:
                lib.keel_call_cancel(call)
            cancelled = True
            deadline = time.monotonic() + _CANCEL_GRACE_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    item = results.get(timeout=min(left, 0.1))
                except queue.Empty:
                    continue
                try:
                    setattr(interrupt, interrupt_attribute, outcome(item))
                except Exception:  # noqa: BLE001 - the interrupt matters more than its payload
                    pass
                break
        raise
    finally:
        with _lock:
            del _live_calls[key]
            if not finished and not cancelled:
                # Abandoned some other way: cancel; done still comes and drops the queue.
                lib.keel_call_cancel(call)
            lib.keel_call_free(call)
    raise _native.error_from_code(12, "the run ended without a result")

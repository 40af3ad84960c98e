"""The agent: a stateless loop that calls a model, runs the tools it asks for (concurrently when
it asks for several), feeds their results or errors back, and stops at a final answer or a
limit — always returning the whole transcript. A firewall may screen the user's input, the tool
results (indirect prompt injection) and the output.

``Agent.run`` starts ``keel_agent_run_async`` and the calling thread waits on a queue, as
``ChatModel.chat`` does, so Ctrl-C cancels a run in flight (its tools are cancelled too).
"""

from __future__ import annotations

import ctypes
import html
import json
import os
from ctypes import POINTER, c_char_p, c_int, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _native, llm
from ._native import ErrorPtr, lib
from .firewall import Firewall, _FirewallPtr
from .llm import ChatModel, Config, Message, Usage
from .router import ModelArg, _private_model
from .tools import Toolset, ToolsArg, _options, _release, _retain, _ToolsetPtr

__all__ = ["Agent", "AgentResult", "ToolCallRecord"]

# The conversation a run takes: a task, messages, or {"messages": [...]}.
AgentInput = Union[str, Message, Mapping[str, Any], Sequence[Union[Message, Mapping[str, Any]]]]
FirewallArg = Union[None, Firewall, Mapping[str, Any]]


class _Agent(ctypes.Structure):
    """keel_agent (opaque)."""


_AgentPtr = POINTER(_Agent)
# typedef void (*keel_event_fn)(const char* event_json, void* user_data);
_EventFn = _native.EventFn

# keel_status keel_agent_new(const char* config_json, keel_model* model,
#                            const keel_toolset* tools, const keel_firewall* firewall,
#                            keel_agent** out, keel_error** err);
lib.keel_agent_new.restype = c_int
lib.keel_agent_new.argtypes = [c_char_p, llm._ModelPtr, _ToolsetPtr, _FirewallPtr,
                               POINTER(_AgentPtr), POINTER(ErrorPtr)]
# void keel_agent_free(keel_agent* agent);
lib.keel_agent_free.restype = None
lib.keel_agent_free.argtypes = [_AgentPtr]
# keel_status keel_agent_run(const keel_agent* agent, const char* input_json,
#                            const char* options_json, char** result_json, keel_error** err);
lib.keel_agent_run.restype = c_int
lib.keel_agent_run.argtypes = [_AgentPtr, c_char_p, c_char_p, POINTER(c_void_p),
                               POINTER(ErrorPtr)]
# keel_status keel_agent_run_async(const keel_agent* agent, const char* input_json,
#                                  const char* options_json, keel_done_fn done, void* user_data,
#                                  keel_call** call, keel_error** err);
lib.keel_agent_run_async.restype = c_int
lib.keel_agent_run_async.argtypes = [_AgentPtr, c_char_p, c_char_p, llm._DoneFn, c_void_p,
                                     POINTER(llm._CallPtr), POINTER(ErrorPtr)]
# keel_status keel_agent_set_event_callback(keel_agent* agent, keel_event_fn callback,
#                                           void* user_data, keel_error** err);
lib.keel_agent_set_event_callback.restype = c_int
lib.keel_agent_set_event_callback.argtypes = [_AgentPtr, _EventFn, c_void_p, POINTER(ErrorPtr)]


# ---- Results ------------------------------------------------------------------------------------


@dataclass
class ToolCallRecord:
    """One tool call of a run and what became of it. ``status`` is "ok", "error" (the tool
    failed), "unknown_tool", "invalid_arguments" (not JSON or not valid for the schema: the tool
    did not run), "timeout", "cancelled", "blocked" (the firewall withheld its result) or
    "not_run" (the run stopped first). ``arguments`` are as the model sent them (its text when
    they were not JSON); ``result`` is the tool's value (ok or blocked); ``error`` what the model
    was told otherwise."""

    id: str
    name: str
    arguments: Any
    turn: int
    status: str
    result: Any = None
    error: str = ""
    duration_us: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "ToolCallRecord":
        return cls(
            id=raw.get("id", ""),
            name=raw.get("name", ""),
            arguments=raw.get("arguments"),
            turn=int(raw.get("turn", 0)),
            status=raw.get("status", ""),
            result=raw.get("result"),
            error=raw.get("error", ""),
            duration_us=int(raw.get("duration_us", 0)),
        )


@dataclass
class AgentResult:
    """What a run did. ``stop_reason`` is "final" (``output`` is the answer), "max_turns",
    "budget", "blocked" (the firewall stopped the input or the output), "cancelled" or "error"
    (a model failure or the run's deadline: ``error`` is ``{"code", "message"}``). ``messages``
    is the whole transcript, ``tool_calls`` every call and its outcome, ``turns`` the model
    calls made, ``screenings`` the firewall's verdicts (``{"stage", "decision", "risk",
    "action", "categories", "call_id"?}``). ``raw`` keeps the JSON as the library gave it."""

    output: str
    stop_reason: str
    messages: List[Message] = field(default_factory=list)
    tool_calls: List[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    error: Optional[Dict[str, Any]] = None
    screenings: List[Dict[str, Any]] = field(default_factory=list)
    duration_us: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when the run ended with a final answer."""
        return self.stop_reason == "final"

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "AgentResult":
        usage = raw.get("usage") or {}
        return cls(
            output=raw.get("output", ""),
            stop_reason=raw.get("stop_reason", "error"),
            messages=[Message.from_dict(m) for m in raw.get("messages", [])],
            tool_calls=[ToolCallRecord.from_dict(c) for c in raw.get("tool_calls", [])],
            usage=Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0)),
            turns=int(raw.get("turns", 0)),
            error=raw.get("error"),
            screenings=list(raw.get("screenings", [])),
            duration_us=int(raw.get("duration_us", 0)),
            raw=raw,
        )

    def to_dict(self) -> Dict[str, Any]:
        """The result JSON as the library gave it."""
        return self.raw

    def _repr_html_(self) -> str:
        colour = {"final": "#2e7d32", "blocked": "#c62828", "error": "#c62828",
                  "cancelled": "#757575"}.get(self.stop_reason, "#f9a825")
        calls = "".join(
            f"<tr><td>{c.turn}</td><td><b>{html.escape(c.name)}</b></td>"
            f"<td><code>{html.escape(json.dumps(c.arguments))}</code></td>"
            f"<td>{html.escape(c.status)}</td>"
            f"<td><code>{html.escape(json.dumps(c.result) if c.ok else c.error)}</code></td>"
            f"<td>{c.duration_us} µs</td></tr>"
            for c in self.tool_calls
        )
        table = ("<table><tr><th>turn</th><th>tool</th><th>arguments</th><th>status</th>"
                 f"<th>result</th><th>time</th></tr>{calls}</table>" if calls else "")
        screens = "".join(
            f"<li>{html.escape(str(s.get('stage')))}: {html.escape(str(s.get('decision')))} "
            f"({html.escape(str(s.get('action')))}, risk {float(s.get('risk', 0)):.2f}) "
            f"{html.escape(', '.join(s.get('categories', [])))}</li>"
            for s in self.screenings
        )
        screenings = f"<ul>{screens}</ul>" if screens else ""
        error = (f"<p><small>{html.escape(str(self.error.get('code')))}: "
                 f"{html.escape(str(self.error.get('message')))}</small></p>"
                 if self.error else "")
        output = (f"<div style='white-space:pre-wrap'>{html.escape(self.output)}</div>"
                  if self.output else "")
        return (
            f"<div>{output}<span style='color:{colour}'><b>{html.escape(self.stop_reason)}"
            f"</b></span> · {self.turns} turns · {len(self.tool_calls)} tool calls · tokens "
            f"{self.usage.input_tokens} in / {self.usage.output_tokens} out · "
            f"{self.duration_us / 1000:.1f} ms{error}{table}{screenings}</div>"
        )


# ---- Arguments ----------------------------------------------------------------------------------


def _input_json(task: AgentInput) -> bytes:
    """A run's input: a task str, a Message, messages, or {"messages": [...]}."""
    value: Any
    if isinstance(task, str):
        value = task
    elif isinstance(task, Message):
        value = [task.to_dict()]
    elif isinstance(task, Mapping):
        value = dict(task)
        if "messages" in value:
            value["messages"] = [llm._message_dict(m) for m in value["messages"]]
    elif isinstance(task, (bytes, bytearray)):
        value = bytes(task).decode("utf-8", "replace")
    else:
        value = [llm._message_dict(m) for m in task]
    try:
        return json.dumps(value).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(1, f"input: {exc}") from exc


# ---- The agent ----------------------------------------------------------------------------------


class Agent(_native.NativeHandle):
    """An agent: a configuration, a model, tools and an optional firewall; each ``run`` takes a
    conversation and returns everything that happened.

    ``config`` is a dict, JSON text or the path of a JSON file (every key optional:
    "system_prompt", "max_turns" (10), "parallel_tool_calls", "max_parallel_tools",
    "token_budget", "timeout_ms", "temperature", "max_tokens", "tool_choice",
    "max_tool_result_bytes", "firewall", "screen"); keyword ``options`` are merged over it
    (``Agent(model=m, max_turns=3)``). ``model`` is a ChatModel (or, as for Router, a model
    configuration or a Python function). ``tools`` is a Toolset, or what ``Toolset()`` takes —
    an iterable of functions, Tools and skill entries, or a tools file — for a private one.
    ``firewall`` is a Firewall, or a firewall configuration dict; with one, the input, the tool
    results and the output are screened (blocking by default; see "screen").

    The agent copies the toolset: later changes to it do not reach the agent, and the Python
    functions behind its tools (and behind a Python function model) live as long as the agent.
    Safe to share between threads: runs may overlap. Use as a context manager or call close()
    to free it early.
    """

    def __init__(self, config: Optional[Config] = None, *, model: ModelArg,
                 tools: Union[Toolset, ToolsArg] = None, firewall: FirewallArg = None,
                 **options: Any) -> None:
        self._handle = None
        self._owned: List[Any] = []
        self._tool_keys: List[int] = []
        self._firewall: Optional[Firewall] = None
        self._event_callback: Optional[Any] = None
        self._tool_names: List[str] = []
        if model is None:
            raise _native.error_from_code(1, "an agent needs a model")
        if isinstance(firewall, Mapping):
            options = {**options, "firewall": dict(firewall)}
            firewall = None
        elif firewall is not None and not isinstance(firewall, Firewall):
            raise TypeError("firewall: expected a keel.Firewall or a configuration dict, got "
                            f"{type(firewall).__name__}")
        config_json = llm._config_with_options(config, dict(options), "agent config")
        private: Optional[Toolset] = None
        owned: List[Any] = []
        keys: List[int] = []
        try:
            model_ptr, own_model = _private_model(model)
            if own_model is not None:
                owned.append(own_model)
            if isinstance(tools, Toolset):
                toolset = tools
            elif tools is not None:
                toolset = private = Toolset(tools)
            else:
                toolset = None
            tools_ptr = toolset._live() if toolset is not None else None
            firewall_ptr = firewall._live() if firewall is not None else None
            if toolset is not None:
                # Held before the C copy is made, so no tool of the copy can lose its function.
                keys = toolset._python_keys()
                _retain(keys)
                self._tool_names = toolset.names
            handle = _AgentPtr()
            _native.call(lib.keel_agent_new, config_json, model_ptr, tools_ptr, firewall_ptr,
                         ctypes.byref(handle))
        except BaseException:
            _release(keys)
            for item in owned:
                item.close()
            raise
        finally:
            if private is not None:
                private.close()  # the agent has its copy (and holds the functions)
        self._handle = handle
        self._owned = owned
        self._tool_keys = keys
        # The C firewall is shared; its event callback (a ctypes thunk) lives on the Python
        # Firewall, which must therefore live as long as the agent.
        self._firewall = firewall

    def close(self) -> None:
        """Frees the agent. Runs in flight finish first."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            if getattr(self, "_event_callback", None) is not None:
                # A run cancelled by Ctrl-C may emit an event after the free; removing the
                # callback first waits for a running one and stops the rest.
                _native.call(lib.keel_agent_set_event_callback, handle, _EventFn(), None)
                self._event_callback = None
            lib.keel_agent_free(handle)
        keys, self._tool_keys = getattr(self, "_tool_keys", []), []
        _release(keys)
        for item in getattr(self, "_owned", []):
            item.close()
        self._owned = []
        self._firewall = None

    def _closed_message(self) -> str:
        return "the agent is closed"

    @property
    def tool_names(self) -> List[str]:
        """The names of the agent's tools (as the toolset had them when the agent was made)."""
        return list(self._tool_names)

    # -- runs --

    def run(self, task: AgentInput, *, timeout: Optional[float] = None) -> AgentResult:
        """Runs the agent on ``task``: a str (the user's request), a Message or a list of
        Messages (or message dicts), or ``{"messages": [...]}``. ``timeout`` (seconds) bounds
        the whole run. A run that happened returns its result whatever its ``stop_reason`` (a
        model failure is "error", with the transcript so far); exceptions are for bad
        arguments.

        Ctrl-C cancels the run (its tools too) and the KeyboardInterrupt propagates; it carries
        the cancelled run's result as ``agent_result`` when that arrives within two seconds.
        It may be called from inside a tool function: keel runs those on threads of their own."""
        handle = self._live()
        input_json = _input_json(task)
        options = _options(timeout)
        return llm._await_run(
            lambda done, key, call, err: lib.keel_agent_run_async(handle, input_json, options, done,
                                                                  key, call, err),
            AgentResult.from_dict, "agent_result")

    # -- events --

    def on_event(self, callback: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Calls ``callback(event_dict)`` with "agent.run", "agent.model_call",
        "agent.tool_call" and "agent.screen" events (never message text), from whichever thread
        did the work; None removes it. An exception in the callback is ignored."""
        self._set_event_callback(lib.keel_agent_set_event_callback, callback)

    def __repr__(self) -> str:
        if not self._handle:
            return "<keel.Agent (closed)>"
        return f"<keel.Agent tools={self._tool_names!r}>"

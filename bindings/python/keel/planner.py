"""The planner: a goal becomes a plan — a DAG of tool calls the model writes as JSON — which is
validated, run in parallel (every task whose dependencies are done starts at once, up to
"max_parallel") and answered by the model from the results, or re-planned. Plans may also come
from the host:

    {"tasks": [{"id": "t1", "tool": "search", "args": {"q": "keel"}, "deps": []},
               {"id": "t2", "tool": "summarise", "args": {"text": "$t1"}}]}

An argument that is exactly ``"$t1"`` or ``"${t1.field.0}"`` is replaced by that output (or the
value inside it) keeping its JSON type; inside a longer string, by its text. The tool "llm" is
the model: ``{"tool": "llm", "args": {"prompt": "..."}}`` answers with text.

``Planner.run`` and ``Planner.solve`` start ``keel_planner_start`` and the calling thread waits
on a queue, as ``Agent.run`` does, so Ctrl-C cancels a run in flight (its tools too).
"""

from __future__ import annotations

import ctypes
import html
import json
import os
import threading
from ctypes import POINTER, c_char_p, c_int, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar, Union

from . import _native, llm
from ._native import ErrorPtr, lib
from .llm import Config, Usage
from .router import ModelArg, _private_model
from .tools import Toolset, ToolsArg, _release, _retain, _ToolsetPtr

__all__ = ["Planner", "PlanRun", "TaskOutcome", "PlanIssue"]

# A plan: a dict, JSON text or the path of a JSON file.
PlanArg = Union[Mapping[str, Any], str, bytes, "os.PathLike[str]"]


class _Planner(ctypes.Structure):
    """keel_planner (opaque)."""


_PlannerPtr = POINTER(_Planner)
_T = TypeVar("_T")
# typedef void (*keel_event_fn)(const char* event_json, void* user_data);
_EventFn = _native.EventFn

# keel_status keel_planner_new(const char* config_json, keel_model* model,
#                              const keel_toolset* tools, keel_planner** out, keel_error** err);
lib.keel_planner_new.restype = c_int
lib.keel_planner_new.argtypes = [c_char_p, llm._ModelPtr, _ToolsetPtr, POINTER(_PlannerPtr),
                                 POINTER(ErrorPtr)]
# void keel_planner_free(keel_planner* planner);
lib.keel_planner_free.restype = None
lib.keel_planner_free.argtypes = [_PlannerPtr]
# keel_status keel_planner_validate(const keel_planner* planner, const char* plan_json,
#                                   char** issues_json, keel_error** err);
lib.keel_planner_validate.restype = c_int
lib.keel_planner_validate.argtypes = [_PlannerPtr, c_char_p, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_planner_plan(const keel_planner* planner, const char* goal,
#                               const char* options_json, char** plan_json, keel_error** err);
lib.keel_planner_plan.restype = c_int
lib.keel_planner_plan.argtypes = [_PlannerPtr, c_char_p, c_char_p, POINTER(c_void_p),
                                  POINTER(ErrorPtr)]
# keel_status keel_planner_plan_async(const keel_planner* planner, const char* goal,
#                                     const char* options_json, keel_done_fn done,
#                                     void* user_data, keel_call** call, keel_error** err);
lib.keel_planner_plan_async.restype = c_int
lib.keel_planner_plan_async.argtypes = [_PlannerPtr, c_char_p, c_char_p, llm._DoneFn, c_void_p,
                                        POINTER(llm._CallPtr), POINTER(ErrorPtr)]
# keel_status keel_planner_run(const keel_planner* planner, const char* plan_json,
#                              const char* options_json, char** result_json, keel_error** err);
lib.keel_planner_run.restype = c_int
lib.keel_planner_run.argtypes = [_PlannerPtr, c_char_p, c_char_p, POINTER(c_void_p),
                                 POINTER(ErrorPtr)]
# keel_status keel_planner_solve(const keel_planner* planner, const char* goal,
#                                const char* options_json, char** result_json, keel_error** err);
lib.keel_planner_solve.restype = c_int
lib.keel_planner_solve.argtypes = [_PlannerPtr, c_char_p, c_char_p, POINTER(c_void_p),
                                   POINTER(ErrorPtr)]
# keel_status keel_planner_start(const keel_planner* planner, const char* goal,
#                                const char* plan_json, const char* options_json,
#                                keel_done_fn done, void* user_data, keel_call** call,
#                                keel_error** err);
lib.keel_planner_start.restype = c_int
lib.keel_planner_start.argtypes = [_PlannerPtr, c_char_p, c_char_p, c_char_p, llm._DoneFn,
                                   c_void_p, POINTER(llm._CallPtr), POINTER(ErrorPtr)]
# keel_status keel_planner_set_event_callback(keel_planner* planner, keel_event_fn callback,
#                                             void* user_data, keel_error** err);
lib.keel_planner_set_event_callback.restype = c_int
lib.keel_planner_set_event_callback.argtypes = [_PlannerPtr, _EventFn, c_void_p,
                                                POINTER(ErrorPtr)]


# ---- Results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanIssue:
    """A problem with a plan: the task it concerns ("" for the plan as a whole) and what is
    wrong. ``str()`` reads ``t3: unknown tool "serch"``."""

    task: str
    problem: str

    def __str__(self) -> str:
        return f"{self.task}: {self.problem}" if self.task else self.problem


@dataclass
class TaskOutcome:
    """One task of a run and what became of it. ``status`` is "done" (``output`` is the tool's
    value), "failed", "skipped" (a dependency failed), "cancelled", "interrupted" (a resumed run
    found it started and its tool is not idempotent, so did not run it again) or "pending"
    (never started); ``error`` says why when it is not done. Times are microseconds since the
    run started (0 when it never started). ``reloaded``: a resumed run took its output from the
    journal instead of running it again."""

    id: str
    tool: str
    status: str
    output: Any = None
    error: str = ""
    attempts: int = 0
    started_us: int = 0
    finished_us: int = 0
    duration_us: int = 0
    reloaded: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "TaskOutcome":
        return cls(
            id=raw.get("id", ""),
            tool=raw.get("tool", ""),
            status=raw.get("status", "pending"),
            output=raw.get("output"),
            error=raw.get("error", ""),
            attempts=int(raw.get("attempts", 0)),
            started_us=int(raw.get("started_us", 0)),
            finished_us=int(raw.get("finished_us", 0)),
            duration_us=int(raw.get("duration_us", 0)),
            reloaded=bool(raw.get("reloaded", False)),
        )


@dataclass
class PlanRun:
    """What a run did. ``status`` is "succeeded", "failed" (``error`` is ``{"code",
    "message"}``), "cancelled" or "invalid" (the plan could not run: every problem is in
    ``error["message"]``). ``answer`` is the model's answer to a goal (``solve``); ``tasks``
    the last plan's tasks in plan order; ``plans`` every plan run (more than one after a
    re-plan); ``usage`` the model's tokens. ``raw`` keeps the JSON as the library gave it."""

    run_id: str
    status: str
    answer: str = ""
    error: Optional[Dict[str, Any]] = None
    tasks: List[TaskOutcome] = field(default_factory=list)
    plans: List[Dict[str, Any]] = field(default_factory=list)
    replans: int = 0
    usage: Usage = field(default_factory=Usage)
    duration_us: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when every task needed ran and the run succeeded."""
        return self.status == "succeeded"

    def task(self, task_id: str) -> TaskOutcome:
        """The outcome of task ``task_id``; a KeyError naming the tasks there are otherwise."""
        for outcome in self.tasks:
            if outcome.id == task_id:
                return outcome
        raise KeyError(f"no task {task_id!r} in run {self.run_id!r} (tasks: "
                       f"{', '.join(t.id for t in self.tasks) or 'none'})")

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "PlanRun":
        usage = raw.get("usage") or {}
        return cls(
            run_id=raw.get("run_id", ""),
            status=raw.get("status", "failed"),
            answer=raw.get("answer", ""),
            error=raw.get("error"),
            tasks=[TaskOutcome.from_dict(t) for t in raw.get("tasks", [])],
            plans=list(raw.get("plans", [])),
            replans=int(raw.get("replans", 0)),
            usage=Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0)),
            duration_us=int(raw.get("duration_us", 0)),
            raw=raw,
        )

    def to_dict(self) -> Dict[str, Any]:
        """The result JSON as the library gave it."""
        return self.raw

    def _repr_html_(self) -> str:
        colour = {"succeeded": "#2e7d32", "failed": "#c62828", "invalid": "#c62828",
                  "cancelled": "#757575"}.get(self.status, "#f9a825")
        task_colour = {"done": "#2e7d32", "failed": "#c62828", "skipped": "#757575",
                       "cancelled": "#757575", "interrupted": "#f9a825"}

        def shown(t: TaskOutcome) -> str:
            text = json.dumps(t.output) if t.ok else t.error
            return text if len(text) <= 300 else text[:300] + "…"

        rows = "".join(
            f"<tr><td><code>{html.escape(t.id)}</code></td><td><b>{html.escape(t.tool)}</b></td>"
            f"<td style='color:{task_colour.get(t.status, '#000')}'>{html.escape(t.status)}"
            f"{' (journal)' if t.reloaded else ''}</td><td>{t.attempts}</td>"
            f"<td><code>{html.escape(shown(t))}</code></td>"
            f"<td>{t.started_us / 1000:.1f}–{t.finished_us / 1000:.1f} ms</td></tr>"
            for t in self.tasks
        )
        table = ("<table><tr><th>task</th><th>tool</th><th>status</th><th>attempts</th>"
                 f"<th>output or error</th><th>time</th></tr>{rows}</table>" if rows else "")
        error = (f"<p><small>{html.escape(str(self.error.get('code')))}: "
                 f"{html.escape(str(self.error.get('message')))}</small></p>"
                 if self.error else "")
        answer = (f"<div style='white-space:pre-wrap'>{html.escape(self.answer)}</div>"
                  if self.answer else "")
        return (
            f"<div>{answer}<span style='color:{colour}'><b>{html.escape(self.status)}</b></span>"
            f" · run <code>{html.escape(self.run_id)}</code> · {len(self.tasks)} tasks · "
            f"{self.replans} re-plans · tokens {self.usage.input_tokens} in / "
            f"{self.usage.output_tokens} out · {self.duration_us / 1000:.1f} ms{error}{table}</div>"
        )


# ---- Arguments ----------------------------------------------------------------------------------


def _plan_json(plan: PlanArg) -> bytes:
    """A plan as JSON bytes: a dict, JSON text, or the path of a JSON file."""
    if isinstance(plan, Mapping):
        try:
            return json.dumps(dict(plan)).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError) as exc:
            raise _native.error_from_code(1, f"plan: {exc}") from exc
    if isinstance(plan, (bytes, bytearray)):
        return bytes(plan)
    if isinstance(plan, (str, os.PathLike)):
        return llm._config_text(plan)  # JSON text as is; otherwise the file's contents
    raise TypeError(f"plan: expected a dict, JSON text or a path, got {type(plan).__name__}")


def _run_options(timeout: Optional[float], run_id: Optional[str] = None) -> Optional[bytes]:
    options: Dict[str, Any] = {}
    if timeout is not None:
        if timeout <= 0:
            raise _native.error_from_code(1, f"timeout must be positive, got {timeout!r}")
        options["timeout_ms"] = max(1, int(round(timeout * 1000)))
    if run_id is not None:
        if not isinstance(run_id, str) or not run_id:
            raise _native.error_from_code(1, f"run_id must be a non-empty str, got {run_id!r}")
        options["run_id"] = run_id
    return json.dumps(options).encode() if options else None


# ---- The planner --------------------------------------------------------------------------------


class Planner(_native.NativeHandle):
    """A planner: a configuration, an optional model and tools. ``plan`` asks the model for a
    plan, ``run`` runs one, ``solve`` does both and has the model answer from the results.

    ``config`` is a dict, JSON text or the path of a JSON file (every key optional:
    "max_parallel" (8), "failure_policy" ("fail_fast", "skip_dependents" (the default) or
    "continue"), "task_timeout_ms", "retry", "circuit_breaker", "max_plan_attempts",
    "max_replans", "journal" (an SQLite file: runs survive a crash and resume by run id),
    "instructions", "max_output_bytes"); keyword ``options`` are merged over it
    (``Planner(tools=t, max_parallel=2)``). ``model`` is a ChatModel (or a model configuration
    or a Python function, as for Agent); without one, only host plans without "llm" tasks run.
    ``tools`` is a Toolset, or what ``Toolset()`` takes — an iterable of functions, Tools and
    skill entries, or a tools file — for a private one.

    The planner copies the toolset: later changes to it do not reach the planner, and the
    Python functions behind its tools (and behind a Python function model) live as long as the
    planner and its runs. Safe to share between threads: runs may overlap. Use as a context
    manager or call close() to free it early.
    """

    def __init__(self, config: Optional[Config] = None, *, model: ModelArg = None,
                 tools: Union[Toolset, ToolsArg] = None, **options: Any) -> None:
        self._handle = None
        self._owned: List[Any] = []
        self._tool_keys: List[int] = []
        self._event_callback: Optional[Any] = None
        self._tool_names: List[str] = []
        self._lock = threading.Lock()
        self._runs = 0  # calls in flight: they keep the Python tools and model until they end
        config_json = llm._config_with_options(config, dict(options), "planner config")
        private: Optional[Toolset] = None
        owned: List[Any] = []
        keys: List[int] = []
        try:
            model_ptr, own_model = _private_model(model)
            if own_model is not None:
                owned.append(own_model)
            if isinstance(tools, Toolset):
                toolset: Optional[Toolset] = tools
            elif tools is not None:
                toolset = private = Toolset(tools)
            else:
                toolset = None
            tools_ptr = toolset._live() if toolset is not None else None
            if toolset is not None:
                # Held before the C copy is made, so no tool of the copy can lose its function.
                keys = toolset._python_keys()
                _retain(keys)
                self._tool_names = toolset.names
            handle = _PlannerPtr()
            _native.call(lib.keel_planner_new, config_json, model_ptr, tools_ptr,
                         ctypes.byref(handle))
        except BaseException:
            _release(keys)
            for item in owned:
                item.close()
            raise
        finally:
            if private is not None:
                private.close()  # the planner has its copy (and holds the functions)
        self._handle = handle
        self._owned = owned
        self._tool_keys = keys

    def close(self) -> None:
        """Frees the planner. Runs in flight go on to their end (keel_planner_free lets them),
        and their Python tools and model stay reachable until then."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before anything was made
            return
        with lock:
            handle, self._handle = self._handle, None
            idle = self._runs == 0
        if handle:
            if self._event_callback is not None:
                # Removing the callback first waits for a running one and stops the rest, so
                # no event reaches a thunk Python is about to drop.
                _native.call(lib.keel_planner_set_event_callback, handle, _EventFn(), None)
                self._event_callback = None
            lib.keel_planner_free(handle)
        if idle:
            self._let_go()

    def _let_go(self) -> None:
        """Drops the Python tools and the owned model (once closed and no run is in flight)."""
        keys, self._tool_keys = self._tool_keys, []
        _release(keys)
        owned, self._owned = self._owned, []
        for item in owned:
            item.close()

    def _closed_message(self) -> str:
        return "the planner is closed"

    @property
    def tool_names(self) -> List[str]:
        """The names of the planner's tools (as the toolset had them when it was made)."""
        return list(self._tool_names)

    # -- plans --

    def validate(self, plan: PlanArg) -> List[PlanIssue]:
        """Every problem of a plan (a dict, JSON text or a path): duplicate ids, unknown tools,
        missing dependencies or references, a cycle (one issue naming its tasks), arguments not
        valid for a tool's schema. Empty for a valid plan. A plan that is not even shaped like
        one is an InvalidArgumentError naming the place ("tasks[2].id")."""
        out = c_void_p()
        _native.call(lib.keel_planner_validate, self._live(), _plan_json(plan), ctypes.byref(out))
        return [PlanIssue(i.get("task", ""), i.get("problem", ""))
                for i in json.loads(_native.take_string(out.value))]

    def plan(self, goal: str, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Asks the model for a plan for ``goal`` and returns it (``{"tasks": [...]}``). An
        invalid answer goes back to the model with its problems, up to "max_plan_attempts";
        then a ParseError carries the last problems. ``timeout`` (seconds) bounds it all, and
        Ctrl-C cancels it (the KeyboardInterrupt propagates)."""
        encoded = _native.encode(goal)
        options = _run_options(timeout)
        return self._in_flight(lambda handle: llm._await_run(
            lambda done, key, call, err: lib.keel_planner_plan_async(handle, encoded, options, done,
                                                                     key, call, err),
            lambda plan: plan, "plan"))

    # -- runs --

    def run(self, plan: Optional[PlanArg] = None, *, timeout: Optional[float] = None,
            run_id: Optional[str] = None) -> PlanRun:
        """Runs a plan (a dict, JSON text or a path) and returns what happened. The plan is
        validated first: an invalid one is a run with status "invalid" and every problem in
        ``error["message"]``. ``timeout`` (seconds) bounds the whole run; ``run_id`` names it in
        the journal: with a journal, a run id it knows resumes that run — its finished tasks are
        not run again — and ``plan`` may be None (the journal has it).

        A run that happened returns its result whatever its status; exceptions are for bad
        arguments. Ctrl-C cancels the run (its tools too) and the KeyboardInterrupt propagates,
        carrying the cancelled run as ``plan_run`` when that arrives within two seconds."""
        plan_json = None if plan is None else _plan_json(plan)
        return self._start(None, plan_json, _run_options(timeout, run_id))

    def solve(self, goal: str, *, timeout: Optional[float] = None,
              run_id: Optional[str] = None) -> PlanRun:
        """Plans ``goal`` with the model, runs the plan and has the model answer from the
        results (``answer``), re-planning when it asks (up to "max_replans"). Needs a model.
        ``timeout``, ``run_id`` and Ctrl-C as for ``run``."""
        return self._start(_native.encode(goal), None, _run_options(timeout, run_id))

    def _start(self, goal: Optional[bytes], plan_json: Optional[bytes],
               options: Optional[bytes]) -> PlanRun:
        return self._in_flight(lambda handle: llm._await_run(
            lambda done, key, call, err: lib.keel_planner_start(handle, goal, plan_json, options, done,
                                                                key, call, err),
            PlanRun.from_dict, "plan_run"))

    def _in_flight(self, wait: Callable[[Any], _T]) -> _T:
        """Runs ``wait(handle)`` counted as a call in flight, so close() during it lets the
        native planner go only once the last call has returned."""
        with self._lock:
            handle = self._live()
            self._runs += 1
        try:
            return wait(handle)
        finally:
            with self._lock:
                self._runs -= 1
                last = self._runs == 0 and not self._handle
            if last:  # closed while this call was in flight
                self._let_go()

    # -- events --

    def on_event(self, callback: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Calls ``callback(event_dict)`` with "plan.task" (id, tool, state: queued | started |
        finished | failed | skipped | cancelled | interrupted), "plan.model_call" (stage: plan |
        join, tokens; never the prompt) and "plan.run" (run_id, status) events, from whichever
        thread did the work; None removes it (waiting for a call in
        progress). An exception in the callback is ignored; it must not call on_event."""
        self._set_event_callback(lib.keel_planner_set_event_callback, callback)

    def __repr__(self) -> str:
        if not self._handle:
            return "<keel.Planner (closed)>"
        return f"<keel.Planner tools={self._tool_names!r}>"

"""Tools an agent may call: Python functions (``@keel.tool``) and subprocess skills (a program
that reads one JSON request on stdin and writes one JSON value on stdout), held in a Toolset.

A Python function becomes a tool with a JSON Schema derived from its signature and type hints
and a description taken from its docstring. keel validates the arguments against the schema
before the function runs, then calls it with keyword arguments on one of keel's threads; its
return value travels back as JSON, and an exception it raises becomes the tool's error.
"""

from __future__ import annotations

import asyncio
import collections.abc
import ctypes
import enum
import functools
import inspect
import itertools
import json
import os
import re
import threading
import types
import typing
from ctypes import POINTER, c_char_p, c_int, c_void_p
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar,
                    Union, overload)

from . import _native, llm
from ._native import ErrorPtr, lib
from .errors import KeelError
from .llm import ToolSpec

__all__ = ["Tool", "Toolset", "tool"]

PathLike = Union[str, "os.PathLike[str]"]
# What a Toolset accepts: a tools file (a dict, JSON text or a path), or tools one by one.
ToolsArg = Union[None, Mapping[str, Any], str, bytes, "os.PathLike[str]",
                 Iterable[Union["Tool", Callable[..., Any], Mapping[str, Any]]]]
F = TypeVar("F", bound=Callable[..., Any])


class _Toolset(ctypes.Structure):
    """keel_toolset (opaque)."""


_ToolsetPtr = POINTER(_Toolset)

# typedef int (*keel_tool_fn)(const char* arguments_json, const char* context_json,
#                             keel_reply* reply, void* user_data);
_ToolFn = ctypes.CFUNCTYPE(c_int, c_char_p, c_char_p, c_void_p, c_void_p)

# keel_status keel_toolset_new(const char* tools_json, keel_toolset** out, keel_error** err);
lib.keel_toolset_new.restype = c_int
lib.keel_toolset_new.argtypes = [c_char_p, POINTER(_ToolsetPtr), POINTER(ErrorPtr)]
# keel_status keel_toolset_load(const char* path, keel_toolset** out, keel_error** err);
lib.keel_toolset_load.restype = c_int
lib.keel_toolset_load.argtypes = [c_char_p, POINTER(_ToolsetPtr), POINTER(ErrorPtr)]
# void keel_toolset_free(keel_toolset* tools);
lib.keel_toolset_free.restype = None
lib.keel_toolset_free.argtypes = [_ToolsetPtr]
# keel_status keel_toolset_add(keel_toolset* tools, const char* spec_json, keel_tool_fn fn,
#                              void* user_data, keel_error** err);
lib.keel_toolset_add.restype = c_int
lib.keel_toolset_add.argtypes = [_ToolsetPtr, c_char_p, _ToolFn, c_void_p, POINTER(ErrorPtr)]
# keel_status keel_toolset_remove(keel_toolset* tools, const char* name, keel_error** err);
lib.keel_toolset_remove.restype = c_int
lib.keel_toolset_remove.argtypes = [_ToolsetPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_toolset_specs(const keel_toolset* tools, char** specs_json, keel_error** err);
lib.keel_toolset_specs.restype = c_int
lib.keel_toolset_specs.argtypes = [_ToolsetPtr, POINTER(c_void_p), POINTER(ErrorPtr)]
# keel_status keel_toolset_call(const keel_toolset* tools, const char* name,
#                               const char* arguments_json, const char* options_json,
#                               char** result_json, keel_error** err);
lib.keel_toolset_call.restype = c_int
lib.keel_toolset_call.argtypes = [_ToolsetPtr, c_char_p, c_char_p, c_char_p, POINTER(c_void_p),
                                  POINTER(ErrorPtr)]

_KEEL_CANCELLED = 6
_KEEL_TOOL = 9


# ---- Schemas from signatures --------------------------------------------------------------------

_NONE = type(None)
_UNION_TYPES = tuple(t for t in (typing.Union, getattr(types, "UnionType", None)) if t is not None)
_ARRAYS = (list, set, frozenset, collections.abc.Sequence, collections.abc.MutableSequence,
           collections.abc.Iterable, collections.abc.Collection, collections.abc.Set,
           collections.abc.MutableSet)
_OBJECTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SCALARS = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _literal_schema(values: Tuple[Any, ...]) -> Dict[str, Any]:
    schema: Dict[str, Any] = {"enum": list(values)}
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
        schema = {"type": _SCALARS[next(iter(kinds))], **schema}
    return schema


def _type_schema(hint: Any, where: str) -> Dict[str, Any]:
    """The JSON Schema of one type hint; TypeError naming ``where`` for a type JSON cannot
    carry."""
    if hint is inspect.Parameter.empty or hint is Any or hint is object:
        return {}  # any JSON value
    if hint is _NONE or hint is None:
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        schema = dict(_type_schema(args[0], where))
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    if origin is typing.Literal:
        return _literal_schema(args)
    if origin in _UNION_TYPES:
        members = [a for a in args if a is not _NONE]
        if len(members) == 1:  # Optional[X]: X's schema; the parameter is simply not required
            return _type_schema(members[0], where)
        return {"anyOf": [_type_schema(m, where) for m in members]}
    if hint in _ARRAYS or origin in _ARRAYS or hint is tuple or origin is tuple:
        schema = {"type": "array"}
        items: Any = None
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                items = args[0]
            elif args and all(a == args[0] for a in args):
                items = args[0]
                schema.update(minItems=len(args), maxItems=len(args))
        elif args:
            items = args[0]
        if items is not None and _type_schema(items, where):
            schema["items"] = _type_schema(items, where)
        if hint in (set, frozenset) or origin in (set, frozenset, collections.abc.Set,
                                                   collections.abc.MutableSet):
            schema["uniqueItems"] = True
        return schema
    if hint in _OBJECTS or origin in _OBJECTS:
        schema = {"type": "object"}
        if len(args) == 2 and _type_schema(args[1], where):
            schema["additionalProperties"] = _type_schema(args[1], where)
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        raise TypeError(f"{where}: an Enum cannot cross JSON; annotate it as typing.Literal"
                        f"[{', '.join(repr(m.value) for m in hint)}] or give its schema in "
                        "parameters=")
    raise TypeError(f"{where}: no JSON Schema for the type {hint!r}; use str, int, float, bool, "
                    "list[...], dict[str, ...], Optional[...] or Literal[...], or give its "
                    "schema in parameters=")


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:\s*$")
_ENTRY = re.compile(r"^(\s*)\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring_parts(fn: Callable[..., Any]) -> Tuple[str, Dict[str, str]]:
    """The first paragraph of a docstring (its lines joined) and the parameter descriptions of a
    Google-style "Args:" section."""
    doc = inspect.getdoc(fn) or ""
    lines = doc.splitlines()
    first: List[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line):
            break
        first.append(line.strip())
    described: Dict[str, str] = {}
    in_args, indent, current = False, None, None
    for line in lines:
        if _SECTION.match(line):
            in_args, indent, current = True, None, None
            continue
        if not in_args:
            continue
        if not line.strip():
            current = None
            continue
        depth = len(line) - len(line.lstrip())
        entry = _ENTRY.match(line)
        if entry and (indent is None or depth == indent):
            indent, current = depth, entry.group(2)
            described[current] = entry.group(3).strip()
        elif current is not None and indent is not None and depth > indent:
            described[current] = (described[current] + " " + line.strip()).strip()
        elif indent is not None and depth < indent or line.rstrip().endswith(":"):
            in_args = False  # the next section
    return " ".join(first), described


def _is_optional(hint: Any) -> bool:
    """True for Optional[X], X | None and their Annotated forms."""
    if typing.get_origin(hint) is typing.Annotated:
        return _is_optional(typing.get_args(hint)[0])
    return typing.get_origin(hint) in _UNION_TYPES and _NONE in typing.get_args(hint)


def _signature_schema(fn: Callable[..., Any], name: str,
                      overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """The parameters schema of a function's signature. ``overrides`` maps a parameter to its
    schema (a dict, which wins over the hint) or to its description (a str)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {name}: cannot read the function's signature: {exc}") from exc
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve
        raise TypeError(f"tool {name}: cannot resolve the type hints: {exc}") from exc
    _, described = _docstring_parts(fn)
    properties: Dict[str, Any] = {}
    required: List[str] = []
    extra = False
    for param in signature.parameters.values():
        where = f"tool {name}: parameter {param.name}"
        if param.kind is param.VAR_KEYWORD:
            extra = True  # **kwargs: the model may send other keys, and they are passed on
            continue
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
            raise TypeError(f"{where}: a tool receives keyword arguments, so its parameters "
                            "cannot be positional-only or *args")
        override = overrides.get(param.name)
        if isinstance(override, Mapping):
            schema = dict(override)
        else:
            schema = _type_schema(hints.get(param.name, param.annotation), where)
            if isinstance(override, str):
                schema["description"] = override
            elif param.name in described and "description" not in schema:
                schema["description"] = described[param.name]
        if param.default is param.empty and not _is_optional(hints.get(param.name)):
            required.append(param.name)
        elif param.default is not param.empty and param.default is not None:
            try:
                json.dumps(param.default)
                schema.setdefault("default", param.default)
            except (TypeError, ValueError):
                pass  # a default JSON cannot show is still applied by Python
        properties[param.name] = schema
    unknown = sorted(set(overrides) - set(properties))
    if unknown and not extra:
        raise TypeError(f"tool {name}: parameters= names {', '.join(unknown)}, which the "
                        "function does not take")
    schema: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = extra
    return schema


def _optional_without_default(fn: Callable[..., Any]) -> List[str]:
    hints = typing.get_type_hints(fn, include_extras=True)
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.default is p.empty and p.kind is not p.VAR_KEYWORD
            and _is_optional(hints.get(p.name))]


def _jsonable(value: Any) -> Any:
    """json.dumps's fallback for a tool's return value."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"the tool's return value of type {type(value).__name__} is not JSON "
                    "serialisable")


# ---- Tools --------------------------------------------------------------------------------------


class Tool:
    """A Python function as a tool: its name, description, JSON-Schema parameters and the
    function, which it can still be called as. Build it with ``@keel.tool``; a Toolset (or an
    Agent given it) makes it callable by a model.

    Thread safety: keel may call the function from several of its threads at once.
    """

    def __init__(self, function: Callable[..., Any], *, name: Optional[str] = None,
                 description: Optional[str] = None,
                 parameters: Optional[Mapping[str, Any]] = None,
                 schema: Optional[Mapping[str, Any]] = None,
                 idempotent: Optional[bool] = None) -> None:
        if not callable(function):
            raise TypeError(f"a tool needs a function, got {type(function).__name__}")
        self.function = function
        base = getattr(function, "func", function)  # functools.partial
        self.name: str = name or getattr(function, "__name__", None) or getattr(
            base, "__name__", type(function).__name__)
        summary, _ = _docstring_parts(function)
        self.description: str = summary if description is None else description
        if schema is not None:
            if parameters is not None:
                raise TypeError(f"tool {self.name}: give schema= (the whole schema) or "
                                "parameters= (some parameters), not both")
            self.parameters: Dict[str, Any] = dict(schema)
        else:
            self.parameters = _signature_schema(function, self.name, parameters or {})
        self.idempotent = idempotent
        # Optional[X] parameters without a default are not required: None when omitted.
        self._none_when_omitted = _optional_without_default(function) if schema is None else []
        self._is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None))
        functools.update_wrapper(self, function, updated=())

    @property
    def spec(self) -> ToolSpec:
        """What the model sees: name, description and parameters."""
        return ToolSpec(self.name, self.description, self.parameters)

    def to_dict(self) -> Dict[str, Any]:
        """The spec as keel takes it ({"name", "description", "parameters", "idempotent"?})."""
        out = self.spec.to_dict()
        if self.idempotent is not None:
            out["idempotent"] = bool(self.idempotent)
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Runs the function with ``arguments`` as keyword arguments, as keel does (a coroutine
        function runs to completion in an event loop of its own)."""
        missing = [p for p in self._none_when_omitted if p not in arguments]
        if missing:
            arguments = {**arguments, **dict.fromkeys(missing)}
        result = self.function(**arguments)
        if self._is_async or inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return result

    def __repr__(self) -> str:
        return f"<keel.Tool {self.name!r}>"

    def _repr_html_(self) -> str:
        import html

        return (f"<div><b>{html.escape(self.name)}</b> — {html.escape(self.description)}"
                f"<pre>{html.escape(json.dumps(self.parameters, indent=2))}</pre></div>")


async def _awaited(value: Any) -> Any:
    return await value


@overload
def tool(function: F) -> Tool: ...


@overload
def tool(function: None = None, *, name: Optional[str] = None,
         description: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None,
         schema: Optional[Mapping[str, Any]] = None,
         idempotent: Optional[bool] = None) -> Callable[[F], Tool]: ...


def tool(function: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
         description: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None,
         schema: Optional[Mapping[str, Any]] = None,
         idempotent: Optional[bool] = None) -> Union[Tool, Callable[[Callable[..., Any]], Tool]]:
    """Turns a function into a Tool, as ``@keel.tool`` or ``@keel.tool(name=..., ...)``.

    The parameters' JSON Schema comes from the signature: ``str`` is a string, ``int`` an
    integer, ``float`` a number, ``bool`` a boolean, ``list[X]`` an array of X, ``dict`` an
    object, ``Literal[...]`` an enum, ``Annotated[X, "text"]`` X described by the text; a
    parameter with a default or typed ``Optional[X]`` is not required; other keys are refused
    (``additionalProperties: false``) unless the function takes ``**kwargs``. ``parameters``
    maps a parameter to its own schema (a dict, which wins) or description (a str); ``schema``
    replaces the whole schema. The description is the docstring's first paragraph, and a
    Google-style "Args:" section describes the parameters. A type with no JSON form is a
    TypeError naming the parameter.

    The function receives the validated arguments as keyword arguments; its return value is
    sent back as JSON (a str as a JSON string); an exception it raises is the tool's error,
    "ExceptionType: message" (a KeelError keeps its code and message).
    """

    def wrap(fn: Callable[..., Any]) -> Tool:
        return Tool(fn, name=name, description=description, parameters=parameters,
                    schema=schema, idempotent=idempotent)

    if function is not None:
        return wrap(function)
    return wrap


# ---- Plumbing -----------------------------------------------------------------------------------

# As in llm.py, the C side only holds one module-level trampoline and an integer key. A key is
# registered once per tool added to a Toolset and counted: the Toolset holds one reference and
# each Agent made from it another (an agent copies the toolset in C, so its tools outlive the
# Toolset), and the function is dropped when the last holder lets go. A call arriving after
# that finds no entry and fails cleanly.
_keys = itertools.count(1)
_handlers: Dict[int, Tool] = {}
_holders: Dict[int, int] = {}
_table_lock = threading.Lock()


def _register(item: Tool) -> int:
    key = next(_keys)
    with _table_lock:
        _handlers[key] = item
        _holders[key] = 1
    return key


def _retain(keys: Iterable[int]) -> None:
    with _table_lock:
        for key in keys:
            if key in _holders:
                _holders[key] += 1


def _release(keys: Iterable[int]) -> None:
    with _table_lock:
        for key in keys:
            left = _holders.get(key, 0) - 1
            if left > 0:
                _holders[key] = left
            else:
                _holders.pop(key, None)
                _handlers.pop(key, None)


def _tool_error(exc: BaseException) -> Tuple[int, str]:
    if isinstance(exc, KeelError):
        return exc.code, exc.message
    text = str(exc)
    return _KEEL_TOOL, f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _on_tool(arguments: bytes, context: bytes, reply: int, user_data: int) -> int:
    try:
        handler = None if llm._exiting else _handlers.get(user_data or 0)
        if handler is None:
            why = "Python is exiting" if llm._exiting else "the tool's toolset and agents were closed"
            lib.keel_reply_error(reply, _KEEL_CANCELLED, why.encode())
            return 1
        with llm._lock:  # llm's exit drain waits for running host callbacks
            llm._hosts_running += 1
        nested = getattr(llm._local, "in_callback", False)
        llm._local.in_callback = True  # a keel call that would wait from here is refused
        try:
            value = handler.invoke(json.loads(arguments) if arguments else {})
            answer = json.dumps(value, default=_jsonable)
        finally:
            llm._local.in_callback = nested
            with llm._lock:
                llm._hosts_running -= 1
        lib.keel_reply_set(reply, answer.encode("utf-8", "surrogatepass"))
        return 0
    except BaseException as exc:  # nothing may unwind into C
        try:
            code, message = _tool_error(exc)
            lib.keel_reply_error(reply, code, message.encode("utf-8", "replace"))
        except BaseException:
            pass
        return 1


_tool_trampoline = _ToolFn(_on_tool)


def _options(timeout: Optional[float]) -> Optional[bytes]:
    if timeout is None:
        return None
    if timeout <= 0:
        raise _native.error_from_code(1, f"timeout must be positive, got {timeout!r}")
    return json.dumps({"timeout_ms": max(1, int(round(timeout * 1000)))}).encode()


def _json_arg(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(1, f"{what}: {exc}") from exc


def _is_tools_file(tools: Any) -> bool:
    return isinstance(tools, (Mapping, str, bytes, os.PathLike))


# ---- The toolset --------------------------------------------------------------------------------


class Toolset(_native.NativeHandle):
    """The tools an agent may call: Python functions and subprocess skills.

    ``tools`` is a tools file (``{"tools": [skill entries]}`` as a dict, JSON text, or the path
    of a JSON file; a mistake is an InvalidConfigError naming its JSON path), an iterable of
    tools (functions, ``@keel.tool`` Tools, skill entries), or None for an empty toolset.
    Functions are added with ``add`` or the ``@toolset.tool`` decorator.

    Safe to share between threads: add and remove may run alongside calls. An Agent copies the
    toolset when it is created and keeps its Python functions alive, so later changes do not
    reach it and closing the toolset does not break it. Use as a context manager or call
    close() to free it early.
    """

    def __init__(self, tools: ToolsArg = None) -> None:
        self._handle = None
        self._keys: Dict[str, int] = {}  # Python tools by name: their handler keys
        self._lock = threading.Lock()
        handle = _ToolsetPtr()
        if tools is not None and _is_tools_file(tools):
            if isinstance(tools, (str, os.PathLike)) and not str(tools).lstrip().startswith("{"):
                _native.call(lib.keel_toolset_load, _native.encode(os.fspath(tools)),
                             ctypes.byref(handle))
            else:
                _native.call(lib.keel_toolset_new, llm._config_text(tools), ctypes.byref(handle))
            self._handle = handle
            return
        _native.call(lib.keel_toolset_new, None, ctypes.byref(handle))
        self._handle = handle
        if tools is not None:
            try:
                for item in tools:
                    self.add(item)
            except BaseException:
                self.close()
                raise

    @classmethod
    def load(cls, path: PathLike) -> "Toolset":
        """A toolset from a tools file. Relative skill commands and working directories stay
        relative to the process's working directory. A file that cannot be read is a
        KeelIOError naming the path."""
        self = cls.__new__(cls)
        self._handle = None
        self._keys = {}
        self._lock = threading.Lock()
        handle = _ToolsetPtr()
        _native.call(lib.keel_toolset_load, _native.encode(os.fspath(path)), ctypes.byref(handle))
        self._handle = handle
        return self

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.keel_toolset_free(handle)
        keys, self._keys = list(getattr(self, "_keys", {}).values()), {}
        _release(keys)

    def _closed_message(self) -> str:
        return "the toolset is closed"

    # -- tools --

    def add(self, item: Union[Tool, Callable[..., Any], Mapping[str, Any]], *,
            name: Optional[str] = None, description: Optional[str] = None,
            parameters: Optional[Mapping[str, Any]] = None,
            schema: Optional[Mapping[str, Any]] = None,
            idempotent: Optional[bool] = None) -> Optional[Tool]:
        """Adds a tool: a Tool, a function (made a Tool as by ``keel.tool`` with these keyword
        arguments), or a skill's entry of the tools file (``{"name", "description",
        "parameters", "command": [argv], "timeout_ms", ...}``). Returns the Tool (None for a
        skill). A tool of a name already there is an InvalidArgumentError."""
        handle = self._live()
        if isinstance(item, Mapping):
            if any(v is not None for v in (name, description, parameters, schema, idempotent)):
                raise TypeError("a skill entry carries its own name, description and parameters")
            _native.call(lib.keel_toolset_add, handle, _json_arg(dict(item), "skill"),
                         _ToolFn(), None)
            return None
        if isinstance(item, Tool):
            if any(v is not None for v in (name, description, parameters, schema, idempotent)):
                raise TypeError(f"{item!r} is already a tool; give these options to keel.tool")
            made = item
        else:
            made = Tool(item, name=name, description=description, parameters=parameters,
                        schema=schema, idempotent=idempotent)
        key = _register(made)
        try:
            _native.call(lib.keel_toolset_add, handle, _json_arg(made.to_dict(), "tool"),
                         _tool_trampoline, key)
        except BaseException:
            _release([key])
            raise
        with self._lock:
            self._keys[made.name] = key
        return made

    @overload
    def tool(self, function: F) -> Tool: ...

    @overload
    def tool(self, function: None = None, *, name: Optional[str] = None,
             description: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None,
             schema: Optional[Mapping[str, Any]] = None,
             idempotent: Optional[bool] = None) -> Callable[[F], Tool]: ...

    def tool(self, function: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
             description: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None,
             schema: Optional[Mapping[str, Any]] = None,
             idempotent: Optional[bool] = None) -> Union[Tool, Callable[[Callable[..., Any]], Tool]]:
        """The decorator form of ``add``: ``@toolset.tool`` or ``@toolset.tool(name=...,
        description=...)``; the decorated name becomes the Tool (still callable)."""

        def wrap(fn: Callable[..., Any]) -> Tool:
            made = self.add(fn, name=name, description=description, parameters=parameters,
                            schema=schema, idempotent=idempotent)
            assert made is not None  # a function, not a skill entry
            return made

        if function is not None:
            return wrap(function)
        return wrap

    def remove(self, name: str) -> None:
        """Removes the tool called ``name`` (agents made earlier keep it). NotFoundError when
        there is none."""
        _native.call(lib.keel_toolset_remove, self._live(), _native.encode(name))
        with self._lock:
            key = self._keys.pop(name, None)
        if key is not None:
            _release([key])

    def specs(self) -> List[ToolSpec]:
        """What a model sees of each tool (name, description, parameters), in the order they
        were added."""
        out = c_void_p()
        _native.call(lib.keel_toolset_specs, self._live(), ctypes.byref(out))
        return [ToolSpec(s["name"], s.get("description", ""), s.get("parameters", {}))
                for s in json.loads(_native.take_string(out.value))]

    @property
    def names(self) -> List[str]:
        return [s.name for s in self.specs()]

    def __len__(self) -> int:
        return len(self.specs())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names

    def call(self, name: str, arguments: Optional[Mapping[str, Any]] = None, *,
             timeout: Optional[float] = None) -> Any:
        """Calls one tool and returns its JSON value (parsed). The arguments are checked against
        the tool's schema first: a violation is an InvalidArgumentError listing them. An unknown
        tool is a NotFoundError, a failure a ToolError (a Python exception's "Type: message", a
        skill's stderr tail), ``timeout`` (seconds) passing a KeelTimeoutError.

        Blocks this thread until the tool answers; it may be called from inside another tool
        (keel runs tool functions on threads of their own, apart from its event loop)."""
        handle = self._live()
        options = _options(timeout)
        out = c_void_p()
        _native.call(lib.keel_toolset_call, handle, _native.encode(name),
                     _json_arg(dict(arguments or {}), "arguments"), options, ctypes.byref(out))
        return json.loads(_native.take_string(out.value))

    def _python_keys(self) -> List[int]:
        """The handler keys of the Python tools, for an Agent to hold."""
        with self._lock:
            return list(self._keys.values())

    def __repr__(self) -> str:
        if not self._handle:
            return "<keel.Toolset (closed)>"
        return f"<keel.Toolset tools={self.names!r}>"

    def _repr_html_(self) -> str:
        import html

        if not self._handle:
            return "<div>keel.Toolset (closed)</div>"
        rows = "".join(
            f"<tr><td><b>{html.escape(s.name)}</b></td><td>{html.escape(s.description)}</td>"
            f"<td><code>{html.escape(json.dumps(s.parameters.get('properties', {})))}</code></td>"
            "</tr>" for s in self.specs())
        return ("<table><tr><th>tool</th><th>description</th><th>parameters</th></tr>"
                f"{rows}</table>")

"""keel: firewall, router, planner, agent loop and knowledge layer for AI-agent systems.

A thin ctypes binding over libkeel.so (the C ABI of keel.h). Errors are raised as KeelError
subclasses carrying the library's message.
"""

from __future__ import annotations

from . import _native
from ._version import __version__
from .agent import Agent, AgentResult, ToolCallRecord
from .firewall import Finding, Firewall, Redaction, Verdict
from .knowledge import (Chunk, Document, Edge, Entity, Hit, KnowledgeBase, Neighbour, SearchResult,
                        chunk_text)
from .llm import ChatModel, ChatResponse, Delta, Embedder, Message, ToolCall, ToolSpec, Usage
from .planner import Planner, PlanIssue, PlanRun, TaskOutcome
from .router import (ConfusedPair, Evaluation, FitReport, RouteCandidate, RouteMetrics, Router,
                     RouteResult)
from .tools import Tool, Toolset, tool
from .errors import (
    CancelledError,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    KeelError,
    KeelIOError,
    KeelTimeoutError,
    LimitExceededError,
    NotFoundError,
    ParseError,
    ProviderError,
    ToolError,
    UnavailableError,
)

__all__ = [
    "__version__",
    "version",
    "abi_version",
    "check_abi",
    "library_path",
    "Firewall",
    "Verdict",
    "Finding",
    "Redaction",
    "ChatModel",
    "ChatResponse",
    "Delta",
    "Embedder",
    "Message",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "Router",
    "RouteResult",
    "RouteCandidate",
    "FitReport",
    "Evaluation",
    "RouteMetrics",
    "ConfusedPair",
    "KnowledgeBase",
    "Document",
    "Entity",
    "Edge",
    "Neighbour",
    "Hit",
    "SearchResult",
    "Chunk",
    "chunk_text",
    "Tool",
    "Toolset",
    "tool",
    "Agent",
    "AgentResult",
    "ToolCallRecord",
    "Planner",
    "PlanRun",
    "TaskOutcome",
    "PlanIssue",
    "KeelError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "NotFoundError",
    "KeelIOError",
    "KeelTimeoutError",
    "CancelledError",
    "UnavailableError",
    "ProviderError",
    "ToolError",
    "ParseError",
    "LimitExceededError",
    "InternalError",
]


def version() -> str:
    """The version of the loaded libkeel ("0.1.0")."""
    return _native.lib.keel_version().decode()


def abi_version() -> int:
    """The ABI generation of the loaded libkeel."""
    return int(_native.lib.keel_abi_version())


def check_abi(expected: int = _native.ABI_VERSION) -> None:
    """Raises InvalidArgumentError when the loaded library does not serve `expected`."""
    _native.call(_native.lib.keel_check_abi, expected)


def library_path() -> str:
    """The file the library was loaded from."""
    return str(_native.lib._name)


check_abi()

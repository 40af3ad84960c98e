"""The knowledge base: documents, a graph of documents and named entities, and hybrid search —
keyword (SQLite FTS5 BM25), vector (HNSW) and graph expansion, fused by Reciprocal Rank Fusion
or weighted scores — with metadata filters applied inside the search, in one SQLite file (plus
its index file ``<path>.hnsw``) or in memory (``":memory:"``).

Every method may be called from many threads at once: searches run concurrently (the GIL is
released while keel works), writes are serialised by the library.
"""

from __future__ import annotations

import ctypes
import html
import json
import os
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence,
                    Union)

from . import _native, llm
from ._native import ErrorPtr, lib
from ._text import OffsetMap, Text, to_bytes
from .errors import NotFoundError
from .llm import Embedder

__all__ = [
    "KnowledgeBase",
    "Document",
    "Entity",
    "Edge",
    "Neighbour",
    "Hit",
    "SearchResult",
    "Chunk",
    "chunk_text",
]

PathLike = Union[str, "os.PathLike[str]"]
DocumentArg = Union["Document", Mapping[str, Any]]
EdgeArg = Union["Edge", Mapping[str, Any]]


class _KB(ctypes.Structure):
    """keel_kb (opaque)."""


_KBPtr = POINTER(_KB)
# typedef void (*keel_event_fn)(const char* event_json, void* user_data);
_EventFn = _native.EventFn
_Out = POINTER(c_void_p)  # char** out-parameters, read as addresses so keel_free gets them back

# keel_status keel_kb_open(const char* path, const char* options_json, keel_embedder* embedder,
#                          keel_kb** out, keel_error** err);
lib.keel_kb_open.restype = c_int
lib.keel_kb_open.argtypes = [c_char_p, c_char_p, llm._EmbedderPtr, POINTER(_KBPtr),
                             POINTER(ErrorPtr)]
# void keel_kb_free(keel_kb* kb);
lib.keel_kb_free.restype = None
lib.keel_kb_free.argtypes = [_KBPtr]
# keel_status keel_kb_close(keel_kb* kb, keel_error** err);
lib.keel_kb_close.restype = c_int
lib.keel_kb_close.argtypes = [_KBPtr, POINTER(ErrorPtr)]
# keel_status keel_kb_checkpoint(keel_kb* kb, keel_error** err);
lib.keel_kb_checkpoint.restype = c_int
lib.keel_kb_checkpoint.argtypes = [_KBPtr, POINTER(ErrorPtr)]
# keel_status keel_kb_compact(keel_kb* kb, keel_error** err);
lib.keel_kb_compact.restype = c_int
lib.keel_kb_compact.argtypes = [_KBPtr, POINTER(ErrorPtr)]
# keel_status keel_kb_stats(const keel_kb* kb, char** stats_json, keel_error** err);
lib.keel_kb_stats.restype = c_int
lib.keel_kb_stats.argtypes = [_KBPtr, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_upsert(keel_kb* kb, const char* documents_json, keel_error** err);
lib.keel_kb_upsert.restype = c_int
lib.keel_kb_upsert.argtypes = [_KBPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_get(const keel_kb* kb, const char* id, char** document_json,
#                         keel_error** err);
lib.keel_kb_get.restype = c_int
lib.keel_kb_get.argtypes = [_KBPtr, c_char_p, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_delete(keel_kb* kb, const char* id, keel_error** err);
lib.keel_kb_delete.restype = c_int
lib.keel_kb_delete.argtypes = [_KBPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_delete_many(keel_kb* kb, const char* ids_json, size_t* deleted,
#                                 keel_error** err);
lib.keel_kb_delete_many.restype = c_int
lib.keel_kb_delete_many.argtypes = [_KBPtr, c_char_p, POINTER(c_size_t), POINTER(ErrorPtr)]
# keel_status keel_kb_count(const keel_kb* kb, size_t* count, keel_error** err);
lib.keel_kb_count.restype = c_int
lib.keel_kb_count.argtypes = [_KBPtr, POINTER(c_size_t), POINTER(ErrorPtr)]
# keel_status keel_kb_upsert_entity(keel_kb* kb, const char* entity_json, keel_error** err);
lib.keel_kb_upsert_entity.restype = c_int
lib.keel_kb_upsert_entity.argtypes = [_KBPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_get_entity(const keel_kb* kb, const char* id, char** entity_json,
#                                keel_error** err);
lib.keel_kb_get_entity.restype = c_int
lib.keel_kb_get_entity.argtypes = [_KBPtr, c_char_p, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_delete_entity(keel_kb* kb, const char* id, keel_error** err);
lib.keel_kb_delete_entity.restype = c_int
lib.keel_kb_delete_entity.argtypes = [_KBPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_link(keel_kb* kb, const char* edges_json, keel_error** err);
lib.keel_kb_link.restype = c_int
lib.keel_kb_link.argtypes = [_KBPtr, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_unlink(keel_kb* kb, const char* from, const char* to, const char* type,
#                            keel_error** err);
lib.keel_kb_unlink.restype = c_int
lib.keel_kb_unlink.argtypes = [_KBPtr, c_char_p, c_char_p, c_char_p, POINTER(ErrorPtr)]
# keel_status keel_kb_edges(const keel_kb* kb, const char* id, const char* direction,
#                           char** edges_json, keel_error** err);
lib.keel_kb_edges.restype = c_int
lib.keel_kb_edges.argtypes = [_KBPtr, c_char_p, c_char_p, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_neighbours(const keel_kb* kb, const char* id, const char* query_json,
#                                char** neighbours_json, keel_error** err);
lib.keel_kb_neighbours.restype = c_int
lib.keel_kb_neighbours.argtypes = [_KBPtr, c_char_p, c_char_p, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_search(const keel_kb* kb, const char* query_json, char** result_json,
#                            keel_error** err);
lib.keel_kb_search.restype = c_int
lib.keel_kb_search.argtypes = [_KBPtr, c_char_p, _Out, POINTER(ErrorPtr)]
# keel_status keel_kb_search_text(const keel_kb* kb, const char* text, size_t len, size_t k,
#                                 char** result_json, keel_error** err);
lib.keel_kb_search_text.restype = c_int
lib.keel_kb_search_text.argtypes = [_KBPtr, c_char_p, c_size_t, c_size_t, _Out,
                                    POINTER(ErrorPtr)]
# keel_status keel_kb_set_event_callback(keel_kb* kb, keel_event_fn callback, void* user_data,
#                                        keel_error** err);
lib.keel_kb_set_event_callback.restype = c_int
lib.keel_kb_set_event_callback.argtypes = [_KBPtr, _EventFn, c_void_p, POINTER(ErrorPtr)]
# keel_status keel_chunk_text(const char* text, size_t len, const char* options_json,
#                             char** chunks_json, keel_error** err);
lib.keel_chunk_text.restype = c_int
lib.keel_chunk_text.argtypes = [c_char_p, c_size_t, c_char_p, _Out, POINTER(ErrorPtr)]

_MODES = ("hybrid", "keyword", "vector", "graph")


# ---- Records ------------------------------------------------------------------------------------


def _vector(value: Any, what: str) -> Optional[List[float]]:
    if value is None:
        return None
    if hasattr(value, "tolist"):  # numpy arrays
        value = value.tolist()
    try:
        return [float(x) for x in value]
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(1, f"{what}: expected a sequence of numbers ({exc})") from exc


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Document:
    """A document: the unit that is indexed and returned. Without a ``vector`` the text is
    embedded by the knowledge base's embedder."""

    id: str
    text: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    vector: Optional[Sequence[float]] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Document":
        return cls(id=raw["id"], text=raw.get("text", ""), metadata=dict(raw.get("metadata") or {}),
                   vector=raw.get("vector"))

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"id": self.id, "text": self.text, "metadata": self.metadata}
        vector = _vector(self.vector, f"documents[{self.id!r}].vector")
        if vector is not None:
            out["vector"] = vector
        return out

    def _repr_html_(self) -> str:
        metadata = html.escape(json.dumps(self.metadata, ensure_ascii=False))
        return (f"<div><b>{html.escape(self.id)}</b> <small>{metadata}</small>"
                f"<p>{html.escape(_short(self.text, 500))}</p></div>")


@dataclass
class Entity:
    """A named entity: a graph node that is not a document ("Paris", type "city")."""

    id: str
    type: str = ""
    properties: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Entity":
        return cls(raw["id"], raw.get("type", ""), dict(raw.get("properties") or {}))

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "type": self.type, "properties": self.properties}


@dataclass
class Edge:
    """A typed, weighted, directed edge from ``source`` to ``target`` (documents or entities);
    the JSON calls them "from" and "to"."""

    source: str
    target: str
    type: str
    weight: float = 1.0
    properties: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Edge":
        return cls(raw["from"], raw["to"], raw["type"], float(raw.get("weight", 1.0)),
                   dict(raw.get("properties") or {}))

    def to_dict(self) -> Dict[str, Any]:
        return {"from": self.source, "to": self.target, "type": self.type,
                "weight": self.weight, "properties": self.properties}


@dataclass(frozen=True)
class Neighbour:
    """A node reached from another one: ``hops`` away, ``weight`` the best product of edge
    weights over the shortest paths, reached from ``via`` by an edge of type ``edge_type``.
    ``kind`` is "document" or "entity"."""

    id: str
    kind: str
    hops: int
    weight: float
    via: str
    edge_type: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Neighbour":
        return cls(raw["id"], raw.get("kind", ""), int(raw.get("hops", 0)),
                   float(raw.get("weight", 0.0)), raw.get("via", ""), raw.get("edge_type", ""))


@dataclass
class Hit:
    """One search hit: the fused ``score``, a ``snippet`` (matched words highlighted when the
    keyword signal matched, else the start of the text), the document's ``metadata`` and
    ``text``, and ``signals``: for each signal that found it ("keyword", "vector", "graph"),
    ``{"rank": 1-based rank, "score": raw score}`` (graph adds "hops")."""

    id: str
    score: float
    snippet: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    text: str = ""
    signals: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Hit":
        return cls(id=raw["id"], score=float(raw.get("score", 0.0)),
                   snippet=raw.get("snippet", ""), metadata=dict(raw.get("metadata") or {}),
                   text=raw.get("text", ""), signals=dict(raw.get("signals") or {}))

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "score": self.score, "snippet": self.snippet,
                "metadata": self.metadata, "text": self.text, "signals": self.signals}

    def _signals_text(self) -> str:
        return ", ".join(f"{name} #{s.get('rank')}" for name, s in self.signals.items())

    def _row(self, rank: int) -> str:
        return (f"<tr><td>{rank}</td><td>{html.escape(self.id)}</td><td>{self.score:.4f}</td>"
                f"<td>{html.escape(_short(self.snippet))}</td>"
                f"<td>{html.escape(self._signals_text())}</td></tr>")

    def _repr_html_(self) -> str:
        return ("<table><tr><th>#</th><th>id</th><th>score</th><th>snippet</th><th>signals</th>"
                f"</tr>{self._row(1)}</table>")


@dataclass
class SearchResult:
    """The hits of a search, best first, with ``timings_us`` ("keyword", "vector", "graph",
    "total") and ``vector_strategy``: how the vector signal honoured a filter ("none", "index"
    or "exact"). Iterable and indexable like its list of hits."""

    hits: List[Hit] = field(default_factory=list)
    timings_us: Dict[str, int] = field(default_factory=dict)
    vector_strategy: str = "none"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "SearchResult":
        return cls(hits=[Hit.from_dict(h) for h in raw.get("hits", [])],
                   timings_us={k: int(v) for k, v in (raw.get("timings_us") or {}).items()},
                   vector_strategy=raw.get("vector_strategy", "none"))

    @property
    def ids(self) -> List[str]:
        return [h.id for h in self.hits]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]

    def _repr_html_(self) -> str:
        rows = "".join(hit._row(i + 1) for i, hit in enumerate(self.hits))
        total = self.timings_us.get("total", 0)
        return (f"<div><b>{len(self.hits)} hits</b> · {total} µs · vector strategy "
                f"{html.escape(self.vector_strategy)}"
                "<table><tr><th>#</th><th>id</th><th>score</th><th>snippet</th><th>signals</th>"
                f"</tr>{rows}</table></div>")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: ``text[start:end]`` (str indices for a str, byte offsets for bytes)."""

    text: str
    start: int
    end: int


# ---- Arguments ----------------------------------------------------------------------------------


def _json_arg(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, allow_nan=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise _native.error_from_code(1, f"{what}: {exc}") from exc


def _document_dict(document: DocumentArg, what: str) -> Dict[str, Any]:
    if isinstance(document, Document):
        return document.to_dict()
    if isinstance(document, Mapping):
        out = dict(document)
        if "vector" in out and out["vector"] is not None:
            out["vector"] = _vector(out["vector"], f"{what}.vector")
        elif "vector" in out:
            del out["vector"]
        return out
    raise _native.error_from_code(
        1, f"{what}: expected a Document or a dict, got {type(document).__name__}")


def _edge_dict(edge: EdgeArg, what: str) -> Dict[str, Any]:
    if isinstance(edge, Edge):
        return edge.to_dict()
    if isinstance(edge, Mapping):
        return dict(edge)
    raise _native.error_from_code(1, f"{what}: expected an Edge or a dict, got {type(edge).__name__}")


def _text_str(text: Text) -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, got {type(text).__name__}")
    return text


def _id(value: str, what: str = "id") -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected str, got {type(value).__name__}")
    return _native.encode(value)


# ---- The knowledge base -------------------------------------------------------------------------


class KnowledgeBase(_native.NativeHandle):
    """A knowledge base at ``path`` (a SQLite file, created when missing, with its index file
    ``<path>.hnsw`` beside it) or in memory (``":memory:"``, the default).

    ``dimension`` is the vector dimension (default: the stored one for an existing base, else
    the embedder's, else 384). ``embedder`` embeds texts given without a vector: an
    ``Embedder`` (a Python-function embedder stays alive as long as the base) or an embedder
    configuration dict (saved with the options); default: the built-in hashing embedder.
    Further ``options`` are the JSON options: ``metric`` ("cosine" or "inner_product"),
    ``hnsw`` ({"m", "ef_construction", "ef_search", "seed", "quantization": "int8" (the
    default: a quarter of float32's memory) or "none"}), ``synchronous`` ("normal" or
    "full"), ``compaction``, ``read_connections``, ``index_threads``. A bad option is an
    InvalidConfigError naming it; a path that cannot be opened a KeelIOError naming the path.

    Opening returns once SQLite is open: the vector index loads in the background, and
    vector and hybrid searches, stats() and writes wait for it (keyword searches, get and
    count do not). Safe to share between threads. Use as a context manager or call close(),
    which saves the index file so the next open does not rebuild it.
    """

    def __init__(self, path: PathLike = ":memory:", *, dimension: Optional[int] = None,
                 embedder: Union[None, Embedder, Mapping[str, Any]] = None,
                 **options: Any) -> None:
        self._handle = None
        self._owned: List[Any] = []
        self._event_callback: Optional[Any] = None
        self._path = os.fspath(path)
        config: Dict[str, Any] = dict(options)
        if dimension is not None:
            config["dimension"] = dimension
        embedder_ptr = None
        if isinstance(embedder, Mapping):
            config["embedder"] = dict(embedder)
        elif embedder is not None:
            if not isinstance(embedder, Embedder):
                raise TypeError("embedder: expected an Embedder or a configuration dict, got "
                                f"{type(embedder).__name__}")
            from .router import _private_embedder  # one rule for Python-function embedders

            embedder_ptr, own = _private_embedder(embedder)
            if own is not None:
                self._owned.append(own)
        handle = _KBPtr()
        try:
            _native.call(lib.keel_kb_open, _native.encode(self._path),
                         _json_arg(config, "options") if config else None, embedder_ptr,
                         ctypes.byref(handle))
        except BaseException:
            for item in self._owned:
                item.close()
            self._owned = []
            raise
        self._handle = handle

    @classmethod
    def open(cls, path: PathLike = ":memory:", **kwargs: Any) -> "KnowledgeBase":
        """The same as ``KnowledgeBase(path, **kwargs)``."""
        return cls(path, **kwargs)

    @property
    def path(self) -> str:
        return self._path

    def close(self) -> None:
        """Saves the index file, checkpoints and closes; later calls raise
        InvalidArgumentError. Calling it again does nothing."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            try:
                if getattr(self, "_event_callback", None) is not None:
                    _native.call(lib.keel_kb_set_event_callback, handle, _EventFn(), None)
                    self._event_callback = None
                _native.call(lib.keel_kb_close, handle)
            finally:
                lib.keel_kb_free(handle)
                for item in getattr(self, "_owned", []):
                    item.close()
                self._owned = []

    def _closed_message(self) -> str:
        return f"knowledge base {self._path}: closed"

    # -- documents --

    def upsert(self, documents: Union[DocumentArg, Iterable[DocumentArg]]) -> None:
        """Inserts or replaces one document or several (a list: in one transaction, all or
        none). A document is a ``Document`` or a dict ``{"id", "text", "metadata"?,
        "vector"?}``. A bad one is an InvalidArgumentError naming it ("documents[3].id: ...")."""
        handle = self._live()
        if isinstance(documents, (Document, Mapping)):
            payload: Any = _document_dict(documents, "document")
        else:
            payload = [_document_dict(d, f"documents[{i}]") for i, d in enumerate(documents)]
        _native.call(lib.keel_kb_upsert, handle, _json_arg(payload, "documents"))

    def add(self, id: str, text: str, metadata: Optional[Mapping[str, Any]] = None,
            vector: Optional[Sequence[float]] = None) -> None:
        """Inserts or replaces one document."""
        self.upsert(Document(id, text, dict(metadata or {}), vector))

    def get(self, id: str) -> Optional[Document]:
        """The document called ``id``, or None."""
        handle = self._live()
        out = c_void_p()
        try:
            _native.call(lib.keel_kb_get, handle, _id(id), ctypes.byref(out))
        except NotFoundError:
            return None
        return Document.from_dict(json.loads(_native.take_string(out.value)))

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and self.get(id) is not None

    def delete(self, id: str) -> None:
        """Deletes a document with its edges. NotFoundError when there is none."""
        _native.call(lib.keel_kb_delete, self._live(), _id(id))

    def delete_many(self, ids: Iterable[str]) -> int:
        """Deletes the documents that exist among ``ids`` in one transaction; returns how many."""
        handle = self._live()
        deleted = c_size_t(0)
        _native.call(lib.keel_kb_delete_many, handle, _json_arg(list(ids), "ids"),
                     ctypes.byref(deleted))
        return int(deleted.value)

    def count(self) -> int:
        """The number of documents."""
        handle = self._live()
        n = c_size_t(0)
        _native.call(lib.keel_kb_count, handle, ctypes.byref(n))
        return int(n.value)

    def __len__(self) -> int:
        return self.count()

    # -- graph --

    def add_entity(self, id: str, type: str = "",
                   properties: Optional[Mapping[str, Any]] = None) -> None:
        """Inserts or replaces an entity. InvalidArgumentError when a document has its id."""
        entity = {"id": id, "type": type, "properties": dict(properties or {})}
        _native.call(lib.keel_kb_upsert_entity, self._live(), _json_arg(entity, "entity"))

    def get_entity(self, id: str) -> Optional[Entity]:
        handle = self._live()
        out = c_void_p()
        try:
            _native.call(lib.keel_kb_get_entity, handle, _id(id), ctypes.byref(out))
        except NotFoundError:
            return None
        return Entity.from_dict(json.loads(_native.take_string(out.value)))

    def delete_entity(self, id: str) -> None:
        """Deletes an entity with its edges. NotFoundError when there is none."""
        _native.call(lib.keel_kb_delete_entity, self._live(), _id(id))

    def link(self, source: str, target: str, type: str, weight: float = 1.0,
             properties: Optional[Mapping[str, Any]] = None) -> None:
        """Inserts or replaces the edge (source, target, type). NotFoundError when an end is
        neither a document nor an entity."""
        edge = Edge(source, target, type, weight, dict(properties or {}))
        _native.call(lib.keel_kb_link, self._live(), _json_arg(edge.to_dict(), "edge"))

    def link_many(self, edges: Iterable[EdgeArg]) -> None:
        """Adds edges (``Edge`` or dicts ``{"from", "to", "type", "weight"?}``) in one
        transaction: all or none."""
        handle = self._live()
        payload = [_edge_dict(e, f"edges[{i}]") for i, e in enumerate(edges)]
        _native.call(lib.keel_kb_link, handle, _json_arg(payload, "edges"))

    def unlink(self, source: str, target: str, type: str) -> None:
        """Deletes the edge (source, target, type). NotFoundError when there is none."""
        _native.call(lib.keel_kb_unlink, self._live(), _id(source, "source"),
                     _id(target, "target"), _id(type, "type"))

    def edges(self, id: str, direction: str = "both") -> List[Edge]:
        """The edges of a node: "outgoing", "incoming" or "both"."""
        handle = self._live()
        out = c_void_p()
        _native.call(lib.keel_kb_edges, handle, _id(id), _native.encode(direction),
                     ctypes.byref(out))
        return [Edge.from_dict(e) for e in json.loads(_native.take_string(out.value))]

    def neighbours(self, id: str, hops: int = 1, edge_types: Optional[Iterable[str]] = None,
                   direction: str = "outgoing", limit: int = 0) -> List[Neighbour]:
        """The nodes reachable within ``hops`` (1..8) over edges of ``edge_types`` (None: every
        type) in ``direction`` ("outgoing", "incoming", "both"), nearest first; ``limit`` 0
        means no limit. NotFoundError for an unknown node."""
        handle = self._live()
        query = {"hops": hops, "edge_types": list(edge_types or []), "direction": direction,
                 "limit": limit}
        out = c_void_p()
        _native.call(lib.keel_kb_neighbours, handle, _id(id), _json_arg(query, "query"),
                     ctypes.byref(out))
        return [Neighbour.from_dict(n) for n in json.loads(_native.take_string(out.value))]

    # -- search --

    def search(self, text: Text = "", k: int = 10, *, mode: str = "hybrid",
               filter: Optional[Mapping[str, Any]] = None,
               seeds: Optional[Iterable[str]] = None, vector: Optional[Sequence[float]] = None,
               fusion: Union[None, str, Mapping[str, Any]] = None,
               **extra: Any) -> SearchResult:
        """Searches. ``mode``: "hybrid" (keyword and vector fused, plus graph expansion from
        ``seeds`` when given), "keyword" (BM25), "vector" (nearest vectors; the text is embedded
        unless ``vector`` is given) or "graph" (expansion from ``seeds``, required).
        ``filter`` holds metadata predicates every hit satisfies, applied inside the search so
        a selective filter still yields ``k`` hits: ``{"lang": {"eq": "fr"}, "year": {"gte":
        2023}}`` ("eq", "in", "exists", "gte", "lte", "gt", "lt"; dotted paths for nested
        fields). ``fusion`` is "rrf" or "weighted", or the fusion object (``{"method", "rrf_k",
        "candidates", "weights"}``). Other keyword arguments are query fields as they are in
        the JSON: ``keyword={"mode": "all"}``, ``graph={"hops": 2}``, ``ef_search``,
        ``snippet``. A bad query is an InvalidArgumentError naming the field ("query.k"); a
        bad filter an InvalidConfigError naming "filter.<field>"."""
        handle = self._live()
        if mode not in _MODES:
            raise _native.error_from_code(
                1, f"mode: expected one of {', '.join(_MODES)}, got {mode!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise _native.error_from_code(1, f"k must be an integer of at least 1, got {k!r}")
        seed_list = list(seeds) if seeds is not None else []
        if mode == "graph" and not seed_list and not (extra.get("graph") or {}).get("seeds"):
            raise _native.error_from_code(1, "mode 'graph' needs seeds (the nodes to expand from)")
        if (mode == "hybrid" and filter is None and not seed_list and vector is None
                and fusion is None and not extra):
            encoded = to_bytes(text)  # the fast path: no JSON query
            out = c_void_p()
            _native.call(lib.keel_kb_search_text, handle, encoded, len(encoded), k,
                         ctypes.byref(out))
            return SearchResult.from_dict(json.loads(_native.take_string(out.value)))

        query: Dict[str, Any] = dict(extra)
        query["text"] = _text_str(text)
        query["k"] = k
        query["signals"] = {"keyword": mode in ("hybrid", "keyword"),
                            "vector": mode in ("hybrid", "vector"),
                            "graph": mode == "graph" or bool(seed_list)}
        if filter is not None:
            query["filter"] = filter
        if vector is not None:
            query["vector"] = _vector(vector, "vector")
        if seed_list:
            graph = dict(query.get("graph") or {})
            graph["seeds"] = seed_list
            query["graph"] = graph
        if isinstance(fusion, str):
            query["fusion"] = {"method": fusion}
        elif fusion is not None:
            query["fusion"] = dict(fusion)
        out = c_void_p()
        _native.call(lib.keel_kb_search, handle, _json_arg(query, "query"), ctypes.byref(out))
        return SearchResult.from_dict(json.loads(_native.take_string(out.value)))

    # -- maintenance --

    def stats(self) -> Dict[str, Any]:
        """{"path", "documents", "entities", "edges", "dimension", "metric", "db_bytes",
        "index_elements", "deleted_in_index", "index", "index_reason", "generation",
        "compactions"}."""
        handle = self._live()
        out = c_void_p()
        _native.call(lib.keel_kb_stats, handle, ctypes.byref(out))
        return json.loads(_native.take_string(out.value))

    def checkpoint(self) -> None:
        """Saves the index file (when it changed) and checkpoints the WAL into the database."""
        _native.call(lib.keel_kb_checkpoint, self._live())

    def compact(self) -> None:
        """Rebuilds the vector index from SQLite now (it also happens by itself after heavy
        deletion), and merges the keyword index into one segment. Both rewrite what they
        rebuild: seconds for 100,000 documents; after a bulk load, say."""
        _native.call(lib.keel_kb_compact, self._live())

    def on_event(self, callback: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Calls ``callback(event_dict)`` with "kb.index" (the vector index loaded after
        opening), "kb.upsert", "kb.delete", "kb.search" and "kb.compact" events (from whichever
        thread did the work); None removes it. An exception in the callback is ignored."""
        self._set_event_callback(lib.keel_kb_set_event_callback, callback)

    def __repr__(self) -> str:
        if not self._handle:
            return f"<keel.KnowledgeBase {self._path!r} (closed)>"
        return f"<keel.KnowledgeBase {self._path!r} documents={self.count()}>"


def chunk_text(text: Text, max_bytes: int = 1000, overlap_bytes: int = 150) -> List[Chunk]:
    """Cuts a long text into pieces of at most ``max_bytes`` bytes of UTF-8 (>= 16) that repeat
    up to ``overlap_bytes`` (< max_bytes / 2) of the previous piece, cutting on paragraphs, then
    sentences, then words, never inside a character. ``start``/``end`` are str indices for a
    str, byte offsets for bytes. Blank text gives []."""
    encoded = to_bytes(text)
    options = _json_arg({"max_bytes": max_bytes, "overlap_bytes": overlap_bytes}, "options")
    out = c_void_p()
    _native.call(lib.keel_chunk_text, encoded, len(encoded), options, ctypes.byref(out))
    offsets = OffsetMap(text, encoded)
    return [Chunk(c["text"], offsets.index(c["start"]), offsets.index(c["end"]))
            for c in json.loads(_native.take_string(out.value))]

"""keel.KnowledgeBase from Python: documents (one, a batch, dataclasses and dicts), get, delete
and count, entities and the graph, search in each mode with a filter selective enough that a
post-filter would come up short, persistence across a reopen, the notebook rendering (escaped),
errors with their types and paths, events, chunking and concurrent searches from threads."""

import threading

import pytest

import keel
from keel import (Chunk, Document, Edge, Embedder, Entity, Hit, KnowledgeBase, Neighbour,
                  SearchResult, chunk_text)

DOCUMENTS = [
    {"id": "rust", "text": "Rust is a systems programming language focused on memory safety",
     "metadata": {"lang": "en", "year": 2015, "topic": "code"}},
    {"id": "python", "text": "Python is a programming language loved by data scientists",
     "metadata": {"lang": "en", "year": 1991, "topic": "code"}},
    Document("seine", "La Seine traverse Paris avant de rejoindre la Manche",
             {"lang": "fr", "year": 2023, "topic": "geo"}),
    Document("paris", "Paris is the capital of France, on the river Seine",
             {"lang": "en", "year": 2024, "topic": "geo"}),
    {"id": "louvre", "text": "The Louvre museum in Paris holds the Mona Lisa",
     "metadata": {"lang": "en", "year": 2020, "topic": "art"}},
]


def rivers():
    """40 English documents about rivers rank above the 4 French ones for "river", so a filter
    applied after the top k would find no French document at all."""
    docs = [{"id": f"en{i}", "text": f"river river water river bank {i}",
             "metadata": {"lang": "en", "n": i}} for i in range(40)]
    docs += [{"id": f"fr{i}", "text": f"le fleuve et la river du pays {i} avec beaucoup d autres "
              "mots pour diluer", "metadata": {"lang": "fr", "n": i}} for i in range(4)]
    return docs


@pytest.fixture
def kb():
    with KnowledgeBase(dimension=64) as base:
        base.upsert(DOCUMENTS)
        base.add_entity("France", "country", {"iso": "FR"})
        base.link("paris", "seine", "mentions")
        base.link_many([Edge("seine", "France", "in", 0.5),
                        {"from": "louvre", "to": "paris", "type": "in"}])
        yield base


# ---- Documents -----------------------------------------------------------------------------------


def test_upsert_get_delete_and_count(kb):
    assert len(kb) == 5 and kb.count() == 5
    doc = kb.get("seine")
    assert isinstance(doc, Document)
    assert doc.text.startswith("La Seine traverse Paris")
    assert doc.metadata == {"lang": "fr", "year": 2023, "topic": "geo"}
    assert kb.get("nobody") is None
    assert "seine" in kb and "nobody" not in kb

    kb.add("tmp", "to be replaced", {"draft": True}, vector=[1.0] + [0.0] * 63)
    assert len(kb) == 6
    kb.add("tmp", "replaced text")
    assert len(kb) == 6
    assert kb.get("tmp").text == "replaced text"
    assert kb.get("tmp").metadata == {}
    kb.delete("tmp")
    assert len(kb) == 5 and kb.get("tmp") is None
    with pytest.raises(keel.NotFoundError, match="tmp"):
        kb.delete("tmp")


def test_a_batch_is_one_transaction(kb):
    kb.upsert([{"id": "x1", "text": "one"}, Document("x2", "two")])
    assert len(kb) == 7
    with pytest.raises(keel.InvalidArgumentError, match=r"documents\[1\]\.id"):
        kb.upsert([{"id": "x3", "text": "three"}, {"text": "no id"}])
    assert kb.get("x3") is None and len(kb) == 7
    with pytest.raises(keel.InvalidArgumentError, match="vector"):
        kb.upsert([{"id": "x4", "text": "four"}, {"id": "x5", "vector": [1.0, 2.0]}])
    assert kb.get("x4") is None
    assert kb.delete_many(["x1", "x2", "never"]) == 2
    assert len(kb) == 5


def test_vectors_may_be_any_sequence_of_numbers(kb):
    kb.add("tuple", "given as a tuple", vector=tuple([0.0] * 63 + [1.0]))
    hits = kb.search(k=1, mode="vector", vector=array_like([0.0] * 63 + [1.0]))
    assert hits.ids == ["tuple"]


class array_like:
    """Something with tolist(), like a numpy array."""

    def __init__(self, values):
        self._values = values

    def tolist(self):
        return list(self._values)


# ---- Graph ---------------------------------------------------------------------------------------


def test_entities(kb):
    entity = kb.get_entity("France")
    assert entity == Entity("France", "country", {"iso": "FR"})
    assert kb.get_entity("Spain") is None
    with pytest.raises(keel.InvalidArgumentError, match="rust"):
        kb.add_entity("rust", "language")
    kb.delete_entity("France")
    assert kb.get_entity("France") is None
    with pytest.raises(keel.NotFoundError):
        kb.delete_entity("France")


def test_neighbours_follow_hops_types_and_direction(kb):
    assert [n.id for n in kb.neighbours("paris")] == ["seine"]
    two = kb.neighbours("paris", hops=2)
    assert [n.id for n in two] == ["seine", "France"]
    france = two[1]
    assert france == Neighbour("France", "entity", 2, 0.5, "seine", "in")
    assert [n.id for n in kb.neighbours("paris", edge_types=["in"], direction="both")] == ["louvre"]
    assert [n.id for n in kb.neighbours("paris", direction="incoming")] == ["louvre"]
    with pytest.raises(keel.NotFoundError, match="atlantis"):
        kb.neighbours("atlantis")
    with pytest.raises(keel.InvalidArgumentError, match=r"query\.hops"):
        kb.neighbours("paris", hops=9)


def test_link_unlink_and_edges(kb):
    assert {(e.source, e.type) for e in kb.edges("paris", "incoming")} == {("louvre", "in")}
    kb.unlink("paris", "seine", "mentions")
    assert kb.neighbours("paris") == []
    with pytest.raises(keel.NotFoundError):
        kb.unlink("paris", "seine", "mentions")
    with pytest.raises(keel.NotFoundError, match="atlantis"):
        kb.link("paris", "atlantis", "near")
    with pytest.raises(keel.InvalidArgumentError, match=r"edges\[1\]\.type"):
        kb.link_many([Edge("rust", "python", "rival"), {"from": "rust", "to": "python"}])
    assert kb.edges("rust") == []  # all or none


# ---- Search --------------------------------------------------------------------------------------


def test_keyword_mode(kb):
    result = kb.search("programming language", mode="keyword")
    assert isinstance(result, SearchResult)
    assert set(result.ids) == {"rust", "python"}
    hit = result[0]
    assert isinstance(hit, Hit)
    assert set(hit.signals) == {"keyword"}
    assert hit.signals["keyword"]["rank"] == 1
    assert "[programming]" in hit.snippet
    assert hit.metadata["topic"] == "code"
    assert hit.text.endswith(("safety", "scientists"))
    assert kb.search("python safety", mode="keyword", keyword={"mode": "all"}).hits == []


def test_vector_mode(kb):
    result = kb.search("systems programming memory safety", k=2, mode="vector")
    assert len(result) == 2
    assert result.ids[0] == "rust"
    assert all(set(h.signals) == {"vector"} for h in result)


def test_graph_mode(kb):
    result = kb.search(mode="graph", seeds=["louvre"], graph={"hops": 2, "direction": "outgoing"})
    assert {"paris", "seine"} <= set(result.ids)
    assert "rust" not in result.ids
    assert all(set(h.signals) == {"graph"} for h in result)
    assert result.hits[result.ids.index("seine")].signals["graph"]["hops"] == 2
    with pytest.raises(keel.InvalidArgumentError, match="seeds"):
        kb.search("Paris", mode="graph")


def test_hybrid_mode_fuses_keyword_and_vector(kb):
    result = kb.search("Paris museum")
    assert result.ids[0] == "louvre"
    assert set(result[0].signals) == {"keyword", "vector"}
    assert result.timings_us["total"] >= 0
    # The same through the JSON query (a fusion choice forces it), and with graph seeds.
    weighted = kb.search("Paris museum", fusion="weighted")
    assert weighted.ids[0] == "louvre"
    seeded = kb.search("Paris museum", seeds=["seine"])
    assert any("graph" in h.signals for h in seeded)


def test_filters_apply_inside_the_search(kb):
    assert kb.search("Paris Seine", filter={"lang": {"eq": "fr"}}).ids == ["seine"]
    recent = kb.search("Paris", filter={"year": {"gte": 2021}}).ids
    assert set(recent) == {"paris", "seine"}


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_a_selective_filter_still_yields_k_hits(mode):
    with KnowledgeBase(dimension=64) as base:
        base.upsert(rivers())
        unfiltered = base.search("river", k=4, mode=mode)
        assert [h.metadata["lang"] for h in unfiltered] == ["en"] * 4  # a post-filter: nothing
        result = base.search("river", k=4, mode=mode, filter={"lang": {"eq": "fr"}})
        assert sorted(result.ids) == ["fr0", "fr1", "fr2", "fr3"]
        if mode == "vector":
            assert result.vector_strategy in ("index", "exact")
        two = base.search("river", k=4, mode=mode, filter={"lang": {"eq": "fr"}, "n": {"lte": 1}})
        assert sorted(two.ids) == ["fr0", "fr1"]


def test_search_errors_name_the_field(kb):
    with pytest.raises(keel.InvalidArgumentError, match="k must"):
        kb.search("x", k=0)
    with pytest.raises(keel.InvalidArgumentError, match=r"query\.vector"):
        kb.search("x", vector=[1.0, 2.0])
    with pytest.raises(keel.InvalidConfigError, match=r"filter\.lang"):
        kb.search("x", filter={"lang": {"like": "f"}})
    with pytest.raises(keel.InvalidArgumentError, match="txt"):
        kb.search("x", txt="typo")
    with pytest.raises(keel.InvalidArgumentError, match="mode"):
        kb.search("x", mode="fuzzy")


# ---- Rendering -----------------------------------------------------------------------------------


def test_results_render_as_escaped_html(kb):
    kb.add("<script>alert(1)</script>", "Paris <script>alert('x')</script> museum",
           {"note": "<b>bold</b>"})
    result = kb.search("Paris museum")
    page = result._repr_html_()
    assert "<table>" in page and "louvre" in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    hit_page = result.hits[result.ids.index("<script>alert(1)</script>")]._repr_html_()
    assert "<script>" not in hit_page and "&lt;script&gt;" in hit_page
    doc_page = kb.get("<script>alert(1)</script>")._repr_html_()
    assert "<script>" not in doc_page and "<b>bold</b>" not in doc_page


# ---- Persistence ---------------------------------------------------------------------------------


def test_a_file_base_keeps_its_documents_across_a_reopen(tmp_path):
    path = tmp_path / "kb.db"
    with KnowledgeBase(path, dimension=64) as base:
        base.upsert(rivers())
        base.link("en0", "fr0", "translates")
        base.checkpoint()
        base.delete("en39")
    assert (tmp_path / "kb.db.hnsw").exists()
    with KnowledgeBase.open(str(path)) as base:
        assert len(base) == 43
        assert base.get("fr3").metadata == {"lang": "fr", "n": 3}
        assert base.get("en39") is None
        assert [n.id for n in base.neighbours("en0")] == ["fr0"]
        stats = base.stats()
        assert stats["dimension"] == 64 and stats["documents"] == 43
        assert stats["index"] == "loaded" and stats["quantization"] == "int8"
        assert sorted(base.search("river", k=4, filter={"lang": {"eq": "fr"}}).ids) == [
            "fr0", "fr1", "fr2", "fr3"]
    # Opened with the other quantization: the index is rebuilt from the stored vectors.
    with KnowledgeBase.open(str(path), hnsw={"quantization": "none"}) as base:
        stats = base.stats()
        assert stats["quantization"] == "none" and stats["index"] == "rebuilt"
        assert stats["index_reason"] == "quantization int8, expected none"
        assert base.search("river", k=1).ids
    with pytest.raises(keel.InvalidConfigError, match="dimension"):
        KnowledgeBase(path, dimension=32)


# ---- Errors and lifecycle ------------------------------------------------------------------------


def test_open_errors_carry_the_path_and_the_option(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "kb.db"
    with pytest.raises(keel.KeelIOError, match=str(missing)):
        KnowledgeBase(missing)
    with pytest.raises(keel.InvalidConfigError, match="dimensions"):
        KnowledgeBase(dimensions=8)
    with pytest.raises(keel.InvalidConfigError, match=r"hnsw\.m"):
        KnowledgeBase(hnsw={"m": "many"})
    with pytest.raises(keel.InvalidConfigError, match=r"hnsw\.quantization"):
        KnowledgeBase(hnsw={"quantization": "int4"})
    with pytest.raises(keel.InvalidConfigError, match="metric"):
        KnowledgeBase(metric="euclid")
    with pytest.raises(keel.InvalidArgumentError, match="path"):
        KnowledgeBase("")


def test_a_closed_base_raises(kb):
    kb.close()
    kb.close()  # again: nothing
    with pytest.raises(keel.InvalidArgumentError, match="closed"):
        kb.search("Paris")
    with pytest.raises(keel.InvalidArgumentError, match="closed"):
        len(kb)
    assert "closed" in repr(kb)


def test_an_embedder_is_borrowed_and_may_be_a_python_function():
    with Embedder({"provider": "hashing", "dimension": 32}) as embedder:
        base = KnowledgeBase(embedder=embedder)
    with base:  # the embedder was closed: the base kept its own reference
        base.add("a", "alpha beta")
        assert base.stats()["dimension"] == 32
        assert base.search("alpha").ids == ["a"]

    calls = []

    def embed(texts):
        calls.append(list(texts))
        return [[1.0, float(len(t))] for t in texts]

    fn_embedder = Embedder.from_function(2, embed)
    with KnowledgeBase(embedder=fn_embedder) as base:
        fn_embedder.close()  # the base keeps the function alive
        base.add("a", "abc")
        assert calls == [["abc"]]
        assert base.search("abc", mode="vector").ids == ["a"]

    with KnowledgeBase(embedder={"provider": "hashing", "dimension": 16}) as base:
        assert base.stats()["dimension"] == 16


def test_events_report_searches(kb):
    events = []
    kb.on_event(events.append)
    kb.search("Paris")
    kb.on_event(None)
    kb.search("Paris")
    assert [e["type"] for e in events if e["type"] == "kb.search"] == ["kb.search"]


# ---- Chunking ------------------------------------------------------------------------------------


def test_chunk_text_uses_str_indices():
    text = "Première phrase ici. Deuxième phrase là.\n\nÉté à Noël, encore une phrase longue."
    chunks = chunk_text(text, max_bytes=40, overlap_bytes=0)
    assert len(chunks) >= 3
    assert all(isinstance(c, Chunk) for c in chunks)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(c.text.encode()) <= 40
    raw = text.encode()
    for c in chunk_text(raw, max_bytes=40, overlap_bytes=0):
        assert raw[c.start:c.end].decode() == c.text
    assert chunk_text("   ") == []
    with pytest.raises(keel.InvalidConfigError, match="overlap_bytes"):
        chunk_text(text, max_bytes=100, overlap_bytes=60)


# ---- Threads -------------------------------------------------------------------------------------


def test_concurrent_searches_from_threads(tmp_path):
    with KnowledgeBase(tmp_path / "kb.db", dimension=64) as base:
        base.upsert(rivers())
        errors = []
        expected = sorted(base.search("river", k=4, filter={"lang": {"eq": "fr"}}).ids)

        def work():
            try:
                for i in range(30):
                    if i % 2:
                        assert len(base.search("river water", k=5)) == 5
                    else:
                        got = base.search("river", k=4, filter={"lang": {"eq": "fr"}}).ids
                        assert sorted(got) == expected
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        writer = threading.Thread(target=lambda: [base.add(f"w{i}", f"written {i}")
                                                  for i in range(20)])
        for t in threads + [writer]:
            t.start()
        for t in threads + [writer]:
            t.join()
        assert errors == []
        assert len(base) == 64

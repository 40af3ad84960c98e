"""keel kb: adding in batches, get/delete/link, the search modes and filters, the error
conventions, and a base that survives `keel kb add` being killed."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

DOCS = [
    {"id": "paris", "text": "Paris is the capital of France, on the river Seine.",
     "metadata": {"lang": "en", "year": 2021, "topic": "geography"}},
    {"id": "louvre", "text": "The Louvre museum in Paris holds the Mona Lisa painting.",
     "metadata": {"lang": "en", "year": 2023, "topic": "art"}},
    {"id": "tokyo", "text": "Tokyo is the capital of Japan and its largest city.",
     "metadata": {"lang": "en", "year": 2024, "topic": "geography"}},
    {"id": "sushi", "text": "Sushi combines vinegared rice with raw fish and seaweed.",
     "metadata": {"lang": "en", "year": 2022, "topic": "food"}},
    {"id": "fromage", "text": "Le fromage de France est celebre: camembert, brie et comte.",
     "metadata": {"lang": "fr", "year": 2023, "topic": "food"}},
]


def write_lines(path, values):
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return str(path)


def kb(cli, db, *args, **kwargs):
    return cli.run("kb", "--db", str(db), *args, **kwargs)


def kb_json(cli, db, *args, **kwargs):
    return cli.json("kb", "--db", str(db), *args, **kwargs)


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("keel: ")
    return lines[0]


@pytest.fixture
def db(cli, tmp_path):
    path = tmp_path / "kb.db"
    out = kb_json(cli, path, "add", write_lines(tmp_path / "docs.jsonl", DOCS))
    assert out["added"] == len(DOCS)
    return path


def hit_ids(out):
    return [h["id"] for h in out["hits"]]


# ---- add, get, delete, stats ----

def test_add_from_a_file_prints_the_summary_and_stores_every_document(cli, db):
    stats = kb_json(cli, db, "stats")
    assert stats["documents"] == len(DOCS)
    assert stats["dimension"] == 384
    doc = kb_json(cli, db, "get", "louvre")
    assert doc == {"id": "louvre", "text": DOCS[1]["text"], "metadata": DOCS[1]["metadata"]}


def test_add_summary_has_the_documented_shape(cli, tmp_path):
    out = kb_json(cli, tmp_path / "kb.db", "add", write_lines(tmp_path / "d.jsonl", DOCS),
                  "--batch", "2")
    assert out["added"] == 5 and out["lines"] == 5 and out["documents"] == 5
    assert out["batches"] == 3
    assert isinstance(out["seconds"], float) and out["seconds"] >= 0


@pytest.mark.parametrize("args", [[], ["-"]])
def test_add_reads_stdin_without_a_file_or_with_dash(cli, tmp_path, args):
    path = tmp_path / "kb.db"
    text = "".join(json.dumps(d) + "\n" for d in DOCS[:3]) + "\n   \n"
    out = kb_json(cli, path, "add", *args, input=text)
    assert (out["added"], out["lines"], out["documents"]) == (3, 3, 3)
    assert kb_json(cli, path, "get", "tokyo")["text"] == DOCS[2]["text"]


def test_adding_again_replaces_documents_and_keeps_the_count(cli, db, tmp_path):
    changed = [dict(d) for d in DOCS]
    changed[0] = {"id": "paris", "text": "Paris hosts the Olympic Games.", "metadata": {"lang": "en"}}
    out = kb_json(cli, db, "add", write_lines(tmp_path / "again.jsonl", changed))
    assert (out["added"], out["documents"]) == (5, 5)
    assert kb_json(cli, db, "stats")["documents"] == 5
    assert kb_json(cli, db, "get", "paris") == changed[0]
    # The old text is gone from the keyword index, the new one is in it.
    assert "paris" not in hit_ids(kb_json(cli, db, "search", "Seine", "--mode", "keyword"))
    assert hit_ids(kb_json(cli, db, "search", "Olympic", "--mode", "keyword")) == ["paris"]


def test_get_with_vector_includes_it(cli, db):
    doc = kb_json(cli, db, "get", "sushi", "--vector")
    assert len(doc["vector"]) == 384


def test_a_document_with_its_own_vector_is_stored_as_given(cli, tmp_path):
    path = tmp_path / "kb.db"
    def unit(i, scale=1.0):
        return [scale if j == i else 0.0 for j in range(16)]
    docs = [{"id": "a", "text": "alpha", "vector": unit(0)},
            {"id": "b", "text": "beta", "vector": unit(1, 3.0)}]
    kb_json(cli, path, "add", "--dimension", "16", input="".join(json.dumps(d) + "\n" for d in docs))
    assert kb_json(cli, path, "stats")["dimension"] == 16
    assert kb_json(cli, path, "get", "b", "--vector")["vector"] == unit(1)  # unit-normalised


def test_get_of_a_missing_document_is_exit_1_with_one_line(cli, db):
    result = kb(cli, db, "get", "berlin")
    assert result.returncode == 1
    assert result.stdout == ""
    assert '"berlin" not found' in one_error_line(result)


def test_delete_removes_a_document(cli, db):
    out = kb_json(cli, db, "delete", "sushi")
    assert out == {"deleted": "sushi", "documents": 4}
    assert kb_json(cli, db, "stats")["documents"] == 4
    assert kb(cli, db, "get", "sushi").returncode == 1
    assert "sushi" not in hit_ids(kb_json(cli, db, "search", "raw fish rice"))
    again = kb(cli, db, "delete", "sushi")
    assert again.returncode == 1
    assert "not found" in one_error_line(again)


# ---- graph ----

def test_link_and_graph_search_from_seeds(cli, db):
    assert kb_json(cli, db, "link", "paris", "louvre", "--type", "has_museum", "--weight", "0.8") == {
        "linked": {"from": "paris", "to": "louvre", "type": "has_museum", "weight": 0.8,
                   "properties": {}}}
    kb_json(cli, db, "link", "louvre", "sushi", "--type", "near")
    assert kb_json(cli, db, "stats")["edges"] == 2
    out = kb_json(cli, db, "search", "--mode", "graph", "--seeds", "paris")
    ids = hit_ids(out)
    assert "louvre" in ids and "sushi" not in ids  # one hop
    louvre = out["hits"][ids.index("louvre")]
    assert set(louvre["signals"]) == {"graph"}
    assert louvre["signals"]["graph"]["hops"] == 1
    two = hit_ids(kb_json(cli, db, "search", "--mode", "graph", "--seeds", "paris", "--hops", "2"))
    assert "sushi" in two
    typed = hit_ids(kb_json(cli, db, "search", "--mode", "graph", "--seeds", "paris,tokyo",
                            "--hops", "2", "--type", "has_museum"))
    assert "louvre" in typed and "sushi" not in typed


def test_hybrid_search_with_seeds_adds_the_graph_signal(cli, db):
    kb_json(cli, db, "link", "tokyo", "sushi", "--type", "dish")
    out = kb_json(cli, db, "search", "capital of Japan", "--seeds", "tokyo")
    sushi = [h for h in out["hits"] if h["id"] == "sushi"]
    assert sushi and "graph" in sushi[0]["signals"]


def test_neighbours_follow_edges_by_type_and_hops(cli, db):
    kb_json(cli, db, "link", "paris", "louvre", "--type", "has_museum")
    kb_json(cli, db, "link", "louvre", "fromage", "--type", "cafe")
    out = kb_json(cli, db, "neighbours", "paris", "--hops", "2")
    assert [(n["id"], n["hops"]) for n in out["neighbours"]] == [("louvre", 1), ("fromage", 2)]
    typed = kb_json(cli, db, "neighbours", "paris", "--hops", "2", "--type", "has_museum")
    assert [n["id"] for n in typed["neighbours"]] == ["louvre"]
    incoming = kb_json(cli, db, "neighbours", "louvre", "--direction", "incoming")
    assert [n["id"] for n in incoming["neighbours"]] == ["paris"]


def test_linking_to_a_missing_node_is_exit_1(cli, db):
    result = kb(cli, db, "link", "paris", "berlin", "--type", "near")
    assert result.returncode == 1
    assert "berlin" in one_error_line(result)
    assert kb(cli, db, "link", "paris", "louvre").returncode == 2  # --type is required


# ---- search ----

def test_keyword_search_finds_the_document_with_ranks_and_a_snippet(cli, db):
    out = kb_json(cli, db, "search", "Mona Lisa", "--mode", "keyword")
    assert hit_ids(out) == ["louvre"]
    hit = out["hits"][0]
    assert set(hit) >= {"id", "score", "snippet", "metadata", "signals"}
    assert set(hit["signals"]) == {"keyword"}
    assert hit["signals"]["keyword"]["rank"] == 1 and hit["signals"]["keyword"]["score"] > 0
    assert "[Mona]" in hit["snippet"] and "[Lisa]" in hit["snippet"]
    assert hit["metadata"] == DOCS[1]["metadata"]


def test_vector_search_finds_the_nearest_document(cli, db):
    out = kb_json(cli, db, "search", "Japan's capital city Tokyo", "--mode", "vector", "--k", "2")
    assert hit_ids(out)[0] == "tokyo"
    assert len(out["hits"]) == 2
    assert all(set(h["signals"]) == {"vector"} for h in out["hits"])


def test_hybrid_search_fuses_keyword_and_vector(cli, db):
    out = kb_json(cli, db, "search", "raw fish with rice")
    assert hit_ids(out)[0] == "sushi"
    assert set(out["hits"][0]["signals"]) == {"keyword", "vector"}
    assert len(out["hits"]) == len(DOCS)  # the vector signal ranks every document


def test_k_limits_the_hits(cli, db):
    assert len(kb_json(cli, db, "search", "capital", "--k", "1")["hits"]) == 1


def test_a_selective_filter_still_returns_hits(cli, tmp_path):
    path = tmp_path / "kb.db"
    docs = [{"id": f"d{i}", "text": f"report number {i} about the weather",
             "metadata": {"lang": "fr" if i % 100 == 7 else "en", "year": 2000 + i % 30}}
            for i in range(400)]
    kb_json(cli, path, "add", write_lines(tmp_path / "many.jsonl", docs))
    want = {d["id"] for d in docs if d["metadata"]["lang"] == "fr"}
    for mode in ("hybrid", "keyword", "vector"):
        out = kb_json(cli, path, "search", "weather report", "--mode", mode,
                      "--filter", '{"lang": {"eq": "fr"}}')
        assert set(hit_ids(out)) == want, mode
    both = kb_json(cli, path, "search", "weather", "--k", "50",
                   "--filter", '{"lang": {"eq": "en"}, "year": {"gte": 2028}}')
    assert len(both["hits"]) == 26
    assert all(h["metadata"]["year"] >= 2028 and h["metadata"]["lang"] == "en" for h in both["hits"])


def test_a_filter_can_be_read_from_a_file(cli, db, tmp_path):
    path = tmp_path / "filter.json"
    path.write_text(json.dumps({"topic": {"in": ["food"]}}))
    out = kb_json(cli, db, "search", "France", "--filter", str(path))
    assert set(hit_ids(out)) == {"sushi", "fromage"}


# ---- errors ----

def test_db_is_required(cli):
    result = cli.run("kb", "stats")
    assert result.returncode == 2
    assert "--db" in one_error_line(result)
    assert cli.run("kb", "add", input=json.dumps(DOCS[0]) + "\n").returncode == 2


def test_db_may_follow_the_command(cli, db):
    assert cli.json("kb", "stats", "--db", str(db))["documents"] == len(DOCS)


def test_commands_other_than_add_do_not_create_a_base(cli, tmp_path):
    path = tmp_path / "typo.db"
    for args in (["stats"], ["get", "x"], ["search", "x"]):
        result = kb(cli, path, *args)
        assert result.returncode == 1
        assert "no knowledge base at" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_memory_base_works_for_one_command(cli):
    out = cli.json("kb", "--db", ":memory:", "add", input=json.dumps(DOCS[0]) + "\n")
    assert out["documents"] == 1
    assert cli.json("kb", "--db", ":memory:", "stats")["documents"] == 0


@pytest.mark.parametrize("filter_, problem", [
    ('{"year": {"gte": "recent"}}', "filter.year"),
    ('{"year": {"near": 3}}', "filter.year"),
    ('{"year": ', "--filter"),
])
def test_a_bad_filter_is_exit_2_naming_the_problem(cli, db, filter_, problem):
    result = kb(cli, db, "search", "capital", "--filter", filter_)
    assert result.returncode == 2
    assert result.stdout == ""
    assert problem in one_error_line(result)


def test_bad_search_usage_is_exit_2(cli, db):
    assert kb(cli, db, "search", "x", "--mode", "fuzzy").returncode == 2
    assert kb(cli, db, "search", "x", "--k", "0").returncode == 2
    graph = kb(cli, db, "search", "--mode", "graph")
    assert graph.returncode == 2 and "--seeds" in one_error_line(graph)
    assert kb(cli, db, "search", "--mode", "keyword").returncode == 2  # no QUERY


@pytest.mark.parametrize("line, problem", [
    ("not json", "parse error"),
    (json.dumps({"text": "no id"}), "id: required"),
    (json.dumps({"id": "x", "text": 3}), "text"),
    (json.dumps({"id": "x", "text": "t", "metadata": "fr"}), "metadata"),
    (json.dumps({"id": "x", "text": "t", "vector": [1, 2]}), "vector"),
    (json.dumps({"id": "x", "text": "t", "colour": "red"}), "colour: unknown key"),
    (json.dumps(["x", "t"]), "expected {"),
])
def test_a_bad_line_is_exit_2_naming_the_line_and_adds_nothing_from_its_batch(
        cli, tmp_path, line, problem):
    path = tmp_path / "kb.db"
    text = json.dumps(DOCS[0]) + "\n\n" + line + "\n" + json.dumps(DOCS[1]) + "\n"
    result = kb(cli, path, "add", input=text)
    assert result.returncode == 2
    assert result.stdout == ""
    message = one_error_line(result)
    assert message.startswith("keel: line 3: ") and problem in message, message
    assert "nothing was added" in message
    assert kb_json(cli, path, "stats")["documents"] == 0


def test_a_bad_line_keeps_the_batches_committed_before_it(cli, tmp_path):
    path = tmp_path / "kb.db"
    lines = [json.dumps(d) for d in DOCS[:4]] + ["{oops"] + [json.dumps(DOCS[4])]
    result = kb(cli, path, "add", "--batch", "3", input="\n".join(lines) + "\n")
    assert result.returncode == 2
    message = one_error_line(result)
    assert message.startswith("keel: line 5: ")
    assert "added 3 documents from lines 1-3; nothing from line 4 on" in message
    assert kb_json(cli, path, "stats")["documents"] == 3
    assert kb(cli, path, "get", DOCS[3]["id"]).returncode == 1


def test_a_missing_input_file_is_exit_1(cli, tmp_path):
    result = kb(cli, tmp_path / "kb.db", "add", str(tmp_path / "absent.jsonl"))
    assert result.returncode == 1
    assert "cannot open" in one_error_line(result)


def test_a_dimension_that_contradicts_the_base_is_exit_2(cli, db):
    result = kb(cli, db, "add", "--dimension", "8", input=json.dumps(DOCS[0]) + "\n")
    assert result.returncode == 2
    assert "dimension" in one_error_line(result)


def test_a_file_that_is_not_a_base_is_an_error(cli, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, I am not SQLite at all" * 100)
    result = kb(cli, path, "stats")
    assert result.returncode in (1, 2)
    assert str(path) in one_error_line(result)


# ---- options ----

def test_options_given_at_creation_are_kept_for_later_commands(cli, tmp_path):
    path = tmp_path / "kb.db"
    options = {"embedder": {"provider": "hashing", "dimension": 64, "char_ngrams": [0, 0]},
               "hnsw": {"m": 8}}
    kb_json(cli, path, "--options", json.dumps(options), "add",
            write_lines(tmp_path / "d.jsonl", DOCS))
    assert kb_json(cli, path, "stats")["dimension"] == 64
    assert json.loads((tmp_path / "kb.db.options.json").read_text()) == options
    # The query is embedded with the saved embedder: the exact text is a perfect match.
    out = kb_json(cli, path, "search", DOCS[3]["text"], "--mode", "vector", "--k", "1")
    assert hit_ids(out) == ["sushi"]
    assert out["hits"][0]["signals"]["vector"]["score"] == pytest.approx(1.0, abs=1e-4)


def test_bad_options_are_exit_2_naming_the_key(cli, tmp_path):
    path = tmp_path / "kb.db"
    result = kb(cli, path, "--options", '{"hnsw": {"m": 1000}}', "add", input="")
    assert result.returncode == 2
    assert "hnsw.m" in one_error_line(result)
    result = kb(cli, path, "--options", '{"colour": 1}', "add", input="")
    assert result.returncode == 2 and "colour" in one_error_line(result)
    assert not path.exists() and not (tmp_path / "kb.db.options.json").exists()


# ---- chunking ----

def test_chunk_cuts_long_texts_and_drops_chunks_a_shorter_text_no_longer_has(cli, tmp_path):
    path = tmp_path / "kb.db"
    sentences = [f"Sentence number {i} talks about topic{i} in some detail." for i in range(40)]
    long_doc = {"id": "essay", "text": " ".join(sentences), "metadata": {"kind": "essay"}}
    out = kb_json(cli, path, "add", "--chunk", "--chunk-bytes", "200", "--chunk-overlap", "50",
                  input=json.dumps(long_doc) + "\n")
    chunks = out["added"]
    assert chunks > 5 and out["documents"] == chunks
    first = kb_json(cli, path, "get", "essay#0")
    assert first["metadata"]["parent"] == "essay" and first["metadata"]["kind"] == "essay"
    assert len(first["text"].encode()) <= 200
    hit = kb_json(cli, path, "search", "topic33", "--mode", "keyword")["hits"][0]
    assert hit["metadata"]["parent"] == "essay"
    short = {"id": "essay", "text": " ".join(sentences[:5])}
    out = kb_json(cli, path, "add", "--chunk", "--chunk-bytes", "200", input=json.dumps(short) + "\n")
    assert out["documents"] == out["added"] < chunks
    assert kb(cli, path, "get", f"essay#{chunks - 1}").returncode == 1


# ---- help and progress ----

def test_help_documents_the_commands(cli):
    result = cli.run("kb", "--help")
    assert result.returncode == 0
    for word in ["--db", "--options", "add", "get", "delete", "link", "search", "stats",
                 "neighbours", ":memory:"]:
        assert word in result.stdout
    add = cli.run("kb", "add", "--help").stdout
    for word in ["--batch", "--dimension", "--chunk", "bad line", "nothing from", "upsert"]:
        assert word in add
    search = cli.run("kb", "search", "--help").stdout
    for word in ["--mode", "--filter", "--seeds", "--k", "hybrid", "graph"]:
        assert word in search
    assert "kb" in cli.run("--help").stdout


def test_progress_is_drawn_only_on_a_terminal(cli, tmp_path):
    docs = write_lines(tmp_path / "d.jsonl", DOCS)
    piped = kb(cli, tmp_path / "a.db", "add", docs)
    assert piped.returncode == 0 and piped.stderr == ""
    master, slave = os.openpty()
    try:
        proc = subprocess.run([cli.path, "kb", "--db", str(tmp_path / "b.db"), "add", docs],
                              stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["added"] == len(DOCS)
    assert b"5 documents" in drawn


# ---- crashes ----

TOTAL, BATCH = 3000, 250


def generated_docs(n):
    return [{"id": f"doc{i:05d}",
             "text": f"generated document marker{i:05d} about subject {i % 17} and {i % 29}",
             "metadata": {"n": i}}
            for i in range(n)]


def test_a_killed_add_leaves_a_base_that_opens_with_every_committed_batch(cli, tmp_path):
    source = write_lines(tmp_path / "gen.jsonl", generated_docs(TOTAL))
    rng = random.Random(20240611)
    # Time one full run so the kills land before, during and after the batches.
    start = time.monotonic()
    kb_json(cli, tmp_path / "timing.db", "add", source, "--batch", str(BATCH))
    full = time.monotonic() - start
    partial = 0
    for trial in range(5):
        path = tmp_path / f"killed{trial}.db"
        proc = subprocess.Popen([cli.path, "kb", "--db", str(path), "add", source,
                                 "--batch", str(BATCH)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.9) * full)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if not path.exists():
            continue  # killed before the base was created
        stats = kb_json(cli, path, "stats")
        count = stats["documents"]
        assert count % BATCH == 0 or count == TOTAL, count
        partial += 0 < count < TOTAL
        if count:
            # Batches commit in input order: the first `count` documents are there.
            last = f"doc{count - 1:05d}"
            assert kb_json(cli, path, "get", last)["metadata"] == {"n": count - 1}
            out = kb_json(cli, path, "search", f"marker{count - 1:05d}", "--mode", "keyword")
            assert hit_ids(out) == [last]
            # The vector index caught up with SQLite: the exact text is the nearest.
            vector = kb_json(cli, path, "search", generated_docs(count)[-1]["text"],
                             "--mode", "vector", "--k", "20")
            assert hit_ids(vector)[0] == last
            assert vector["hits"][0]["signals"]["vector"]["score"] == pytest.approx(1.0, abs=1e-4)
        if count < TOTAL:
            assert kb(cli, path, "get", f"doc{count:05d}").returncode == 1
        # Running the same input again completes the base.
        assert kb_json(cli, path, "add", source, "--batch", str(BATCH))["documents"] == TOTAL
    print(f"kills that interrupted a run part-way: {partial} of 5 (a full run took {full:.2f}s)")

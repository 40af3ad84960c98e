"""keel.Router from Python: each tier deciding, the llm tier with scripted and function models
(garbage answers included), top_k, fit and evaluate, adding and removing routes, save and load,
configuration errors, Python embedders, events, cancellation and threads."""

import _thread
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import keel
from keel import (ChatModel, ConfusedPair, Embedder, Evaluation, FitReport, RouteCandidate,
                  RouteMetrics, Router, RouteResult)

ROUTES = {
    "exit_threshold": 0.8,
    "routes": [
        {"name": "billing", "description": "Invoices, charges, refunds",
         "conditions": [{"keywords": ["invoice", "refund"], "match": "any", "confidence": 0.9},
                        {"metadata": {"channel": {"eq": "stripe"}}, "confidence": 1.0}],
         "utterances": ["I was billed the wrong amount", "my card was charged twice",
                        "why is my bill so high this month"]},
        {"name": "tech", "description": "Technical problems with the app",
         "conditions": [{"regex": "(?i)\\berror code [0-9]+", "confidence": 0.95}],
         "utterances": ["the app crashes when I open it", "I cannot log in to my account",
                        "the page does not load"]},
        {"name": "sales", "description": "Plans, pricing and upgrades",
         "utterances": ["how much does the premium plan cost",
                        "I want to upgrade my subscription"]},
    ],
}

EXAMPLES = [
    {"text": "I was charged too much", "route": "billing"},
    {"text": "please send me the invoice", "route": "billing"},
    ("the app will not start", "tech"),
    ("login fails every time", "tech"),
    ("what does the premium plan cost", "sales"),
    {"text": "can I upgrade to a bigger plan", "route": "sales"},
    ("what is the capital of France", None),
    {"text": "recommend a good pasta recipe", "route": None},
]

NONSENSE = "zebra quantum lighthouse"


@pytest.fixture(scope="module")
def router():
    with Router(ROUTES) as r:
        yield r


def scripted(*contents, **extra):
    responses = [{"content": c} for c in contents]
    return ChatModel.from_config({"provider": "scripted", "responses": responses, **extra})


def choice(route, confidence=0.9):
    return json.dumps({"route": route, "confidence": confidence})


# ---- The tiers ---------------------------------------------------------------------------------


def test_a_keyword_condition_decides(router):
    result = router.route("Where is my invoice?")
    assert isinstance(result, RouteResult)
    assert (result.route, result.tier) == ("billing", "condition")
    assert result.confidence == pytest.approx(0.9)
    assert result.decided
    assert set(result.timings_us) >= {"condition", "semantic", "llm", "total"}


def test_a_regex_condition_decides(router):
    result = router.route("I got error code 42 again")
    assert (result.route, result.tier) == ("tech", "condition")


def test_a_metadata_condition_decides(router):
    result = router.route("hello", {"channel": "stripe"})
    assert (result.route, result.tier, result.confidence) == ("billing", "condition", 1.0)
    assert router.route("hello", {"channel": "email"}).route is None


def test_the_semantic_tier_decides(router):
    result = router.route("the app crashes when I open it")
    assert (result.route, result.tier) == ("tech", "semantic")
    assert result.confidence >= 0.8
    assert result.candidates[0] == RouteCandidate("tech", result.candidates[0].score)
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)


def test_nothing_confident_without_a_model_is_no_route_with_a_reason(router):
    result = router.route(NONSENSE)
    assert result.route is None
    assert result.tier == "none"
    assert not result.decided
    assert result.reason


def test_the_fallback_route_takes_what_no_tier_decided():
    with Router({**ROUTES, "fallback": "sales"}) as r:
        result = r.route(NONSENSE)
    assert (result.route, result.tier) == ("sales", "fallback")
    assert result.reason


def test_route_many_keeps_the_order(router):
    results = router.route_many(["Where is my invoice?", "error code 7", NONSENSE])
    assert [r.route for r in results] == ["billing", "tech", None]


def test_bytes_and_unicode_text_route_alike(router):
    assert router.route("Où est mon invoice ?").route == "billing"
    assert router.route("Où est mon invoice ?".encode()).route == "billing"


def test_route_result_renders_in_a_notebook(router):
    page = router.route("Where is my invoice?")._repr_html_()
    assert "billing" in page and "condition" in page
    assert "no route" in router.route(NONSENSE)._repr_html_()


# ---- The llm tier ------------------------------------------------------------------------------


def test_a_scripted_model_decides_the_llm_tier():
    with scripted(choice("tech")) as model, Router(ROUTES, model=model) as r:
        result = r.route(NONSENSE)
    assert (result.route, result.tier) == ("tech", "llm")
    assert result.confidence == pytest.approx(0.9)


def test_a_garbage_model_answer_is_no_route_with_a_reason():
    with Router(ROUTES, model=scripted("I think it is billing, maybe")) as r:
        result = r.route(NONSENSE)
    assert result.route is None
    assert result.tier == "none"
    assert result.reason


def test_a_garbage_model_answer_with_a_fallback_is_the_fallback():
    with Router({**ROUTES, "fallback": "sales"}, model=scripted("not json at all")) as r:
        result = r.route(NONSENSE)
    assert (result.route, result.tier) == ("sales", "fallback")
    assert result.reason


def test_a_model_naming_an_unknown_route_is_refused():
    with Router(ROUTES, model=scripted(choice("astrology"))) as r:
        result = r.route(NONSENSE)
    assert result.route is None and result.tier == "none"
    assert result.reason


def test_a_failing_model_is_a_reason_not_an_exception():
    def fn(request):
        raise RuntimeError("backend down")

    with Router(ROUTES, model=fn) as r:
        result = r.route(NONSENSE)
    assert result.route is None
    assert "backend down" in result.reason


def test_use_llm_false_does_not_call_the_model():
    model = scripted(choice("sales"))
    with Router(ROUTES, model=model) as r:
        assert r.route(NONSENSE, use_llm=False).tier == "none"
        assert r.evaluate(EXAMPLES).examples == len(EXAMPLES)  # without the llm tier
        assert r.route(NONSENSE).route == "sales"  # the one scripted answer is still there


def test_the_first_tiers_still_decide_without_asking_the_model():
    with Router(ROUTES, model=scripted(choice("sales"))) as r:
        assert r.route("Where is my invoice?").tier == "condition"
        assert r.route("the app crashes when I open it").tier == "semantic"
        assert r.route(NONSENSE).route == "sales"


def test_a_python_function_model_sees_the_routes_and_decides():
    seen = []

    def fn(request):
        seen.append(request)
        return choice("sales", 0.95)

    with Router(ROUTES, model=fn) as r:
        result = r.route(NONSENSE, {"channel": "chat"})
    assert (result.route, result.tier) == ("sales", "llm")
    prompt = json.dumps(seen[0]["messages"])
    assert "billing" in prompt and "Plans, pricing and upgrades" in prompt and NONSENSE in prompt


def test_a_function_model_outlives_its_closed_chat_model():
    with ChatModel.from_function(lambda request: choice("tech")) as model:
        r = Router(ROUTES, model=model)
    # The ChatModel is closed; the router keeps the function alive.
    assert r.route(NONSENSE).route == "tech"
    r.close()


def test_a_closed_model_cannot_build_a_router():
    model = scripted(choice("tech"))
    model.close()
    with pytest.raises(keel.InvalidArgumentError, match="closed"):
        Router(ROUTES, model=model)


def test_timeout_bounds_a_slow_model():
    with Router(ROUTES, model=scripted(choice("tech"), delay_ms=5000)) as r:
        start = time.monotonic()
        result = r.route(NONSENSE, timeout=0.2)
        assert time.monotonic() - start < 2.0
    assert result.route is None
    assert result.tier == "none"
    assert "time" in result.reason.lower()


def test_ctrl_c_cancels_a_request_waiting_on_the_model():
    r = Router(ROUTES, model=scripted(choice("tech"), choice("sales"), delay_ms=5000))
    threading.Timer(0.2, _thread.interrupt_main).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        r.route(NONSENSE)
    assert time.monotonic() - start < 2.0
    deadline = time.monotonic() + 2.0
    while keel.llm._calls and time.monotonic() < deadline:  # the cancelled request reports back
        time.sleep(0.01)
    assert not keel.llm._calls
    r.close()


def test_python_exits_cleanly_while_a_request_waits_on_a_function_model():
    script = (
        "import threading, time, keel\n"
        f"r = keel.Router({ROUTES!r}, model=lambda q: (time.sleep(0.5), {choice('tech')!r})[1])\n"
        "r.on_event(lambda event: None)\n"
        f"threading.Thread(target=lambda: r.route({NONSENSE!r}), daemon=True).start()\n"
        "time.sleep(0.1)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(keel.__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr


# ---- top_k -------------------------------------------------------------------------------------


def test_top_k_lists_the_best_routes_first(router):
    candidates = router.top_k("my card was charged twice", 2)
    assert 1 <= len(candidates) <= 2
    assert candidates[0].route == "billing"
    assert all(isinstance(c, RouteCandidate) for c in candidates)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    assert len(router.top_k("my card was charged twice", 3)) == 3


def test_top_k_uses_metadata_conditions(router):
    best = router.top_k("how much does the premium plan cost", 1, {"channel": "stripe"})
    assert best == [RouteCandidate("billing", 1.0)]


def test_top_k_needs_a_positive_k(router):
    with pytest.raises(keel.InvalidArgumentError, match="k"):
        router.top_k("x", 0)


# ---- fit and evaluate --------------------------------------------------------------------------


def test_evaluate_measures_a_labelled_set(router):
    ev = router.evaluate(EXAMPLES)
    assert isinstance(ev, Evaluation)
    assert ev.examples == 8
    assert (ev.in_scope_examples, ev.out_of_scope_examples) == (6, 2)
    assert 0.0 <= ev.accuracy <= 1.0 and 0.0 <= ev.out_of_scope_recall <= 1.0
    assert sum(ev.tiers.values()) == 8
    assert set(ev.routes) <= {"billing", "tech", "sales"}
    assert ev.routes["billing"].support == 2
    assert all(isinstance(m, RouteMetrics) for m in ev.routes.values())
    assert all(isinstance(c, ConfusedPair) for c in ev.confused)
    wrong = round(ev.examples * (1 - ev.accuracy))
    assert sum(c.count for c in ev.confused) == wrong
    page = ev._repr_html_()
    assert "accuracy" in page and "billing" in page


def test_evaluate_counts_an_out_of_scope_rejection_as_right(router):
    ev = router.evaluate([(NONSENSE, None)])
    assert (ev.accuracy, ev.out_of_scope_recall) == (1.0, 1.0)
    ev = router.evaluate([("Where is my invoice?", None)])
    assert ev.accuracy == 0.0
    assert ev.confused == [ConfusedPair("(out of scope)", "billing", 1)]


def test_fit_tunes_the_thresholds_to_the_labelled_set():
    with Router(ROUTES) as r:
        before = r.evaluate(EXAMPLES)
        report = r.fit(EXAMPLES, seed=7)
        after = r.evaluate(EXAMPLES)
        assert isinstance(report, FitReport)
        assert 0.0 <= report.threshold <= 1.0
        assert report.routes_tuned >= 0 and report.seconds >= 0
        assert "fitted" in r.config()
        assert "threshold" in report._repr_html_()
    # The untuned threshold leaves most in-scope paraphrases unrouted; the tuned ones take them
    # and still reject the out-of-scope examples.
    assert before.in_scope_accuracy < 0.5
    assert after.in_scope_accuracy > before.in_scope_accuracy
    assert after.out_of_scope_recall == 1.0
    assert after.tiers.get("semantic", 0) > before.tiers.get("semantic", 0)


def test_fit_rejects_bad_examples_and_options():
    router = Router(ROUTES)  # its own: a fit that wrongly succeeded would change a shared one
    with pytest.raises(keel.InvalidArgumentError):
        router.fit([])
    with pytest.raises(keel.InvalidArgumentError, match="nowhere"):
        router.fit([("x", "nowhere")])
    with pytest.raises(keel.InvalidArgumentError, match=r"examples\[1\]\.route"):
        router.fit([("x", "tech"), {"text": "y"}])
    with pytest.raises(keel.InvalidArgumentError, match=r"examples\[0\]"):
        router.fit(["just a string"])
    with pytest.raises(keel.InvalidConfigError, match="layer"):
        router.fit(EXAMPLES, layer="sometimes")
    assert "fitted" not in router.config()
    router.close()


# ---- Changing routes ---------------------------------------------------------------------------


def test_add_and_remove_a_route():
    with Router(ROUTES) as r:
        assert r.route("my parcel is late").route is None
        r.add_route({"name": "shipping", "description": "Deliveries",
                     "conditions": [{"keywords": ["parcel"], "confidence": 1.0}],
                     "utterances": ["where is my parcel"]})
        assert r.route_names == ["billing", "tech", "sales", "shipping"]
        assert r.route("my parcel is late").route == "shipping"
        assert r.remove_route("shipping") is True
        assert r.remove_route("shipping") is False
        assert "shipping" not in r.route_names
        assert r.route("my parcel is late").route is None


def test_a_bad_route_names_its_path():
    with Router(ROUTES) as r:
        with pytest.raises(keel.InvalidConfigError, match=r"route\.conditions\[0\]"):
            r.add_route({"name": "x", "conditions": [{}]})
        assert r.route_names == ["billing", "tech", "sales"]


def test_config_is_a_routes_file_a_router_accepts(router):
    config = router.config()
    assert [r["name"] for r in config["routes"]] == ["billing", "tech", "sales"]
    with Router(config) as again:
        assert again.route("Where is my invoice?").route == "billing"


# ---- Persistence -------------------------------------------------------------------------------


def comparable(result):
    return (result.route, result.tier, round(result.confidence, 9),
            [(c.route, round(c.score, 9)) for c in result.candidates])


def test_save_then_load_answers_identically(tmp_path):
    path = tmp_path / "router.keelr"
    probes = ["why is my bill so high", "Where is my invoice?", "the page will not load",
              "upgrade my plan please", NONSENSE]
    with Router(ROUTES) as r:
        r.fit(EXAMPLES, seed=3)
        r.save(path)
        expected = [comparable(r.route(p)) for p in probes]
        expected_config = r.config()
    assert Router.is_saved(path)
    assert Router.is_saved(str(path))
    with Router.load(path) as loaded:
        assert [comparable(loaded.route(p)) for p in probes] == expected
        assert loaded.config() == expected_config


def test_a_loaded_router_takes_a_model(tmp_path):
    path = tmp_path / "router.keelr"
    with Router(ROUTES) as r:
        r.save(str(path))
    with Router.load(path, model=scripted(choice("sales"))) as loaded:
        assert loaded.route(NONSENSE).tier == "llm"


def test_a_file_that_is_not_a_saved_router_is_refused(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(ROUTES))
    assert not Router.is_saved(path)
    assert not Router.is_saved(tmp_path / "missing.keelr")
    with pytest.raises(keel.KeelError) as info:
        Router.load(path)
    assert isinstance(info.value, (keel.KeelIOError, keel.ParseError))
    with pytest.raises(keel.KeelIOError):
        Router.load(tmp_path / "missing.keelr")


# ---- Configuration -----------------------------------------------------------------------------


def test_an_invalid_config_raises_invalid_config_naming_the_path():
    with pytest.raises(keel.InvalidConfigError, match=r"routes\[0\]\.threshold") as info:
        Router({"routes": [{"name": "a", "threshold": "high"}]})
    assert info.value.code_name == "invalid_config"
    with pytest.raises(keel.InvalidConfigError, match="fallback"):
        Router({"routes": [], "fallback": "nowhere"})
    with pytest.raises(keel.InvalidConfigError, match=r"routes\[1\]\.conditions\[0\]\.regex"):
        Router({"routes": [{"name": "a"}, {"name": "b", "conditions": [{"regex": "(unclosed"}]}]})
    with pytest.raises(keel.InvalidConfigError, match="surprise"):
        Router({"routes": [], "surprise": 1})


def test_malformed_json_is_a_parse_error():
    with pytest.raises(keel.ParseError):
        Router('{"routes": [')


def test_config_from_json_text_and_from_a_file(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(ROUTES))
    for config in (json.dumps(ROUTES), path, str(path)):
        with Router(config) as r:
            assert r.route("Where is my invoice?").route == "billing"
    with pytest.raises(keel.KeelIOError, match="missing.json"):
        Router(tmp_path / "missing.json")


def test_a_closed_router_raises():
    r = Router(ROUTES)
    r.close()
    r.close()
    with pytest.raises(keel.InvalidArgumentError, match="closed"):
        r.route("x")
    assert "closed" in repr(r)


# ---- Embedders ---------------------------------------------------------------------------------

VOCABULARY = ["bill", "charged", "money", "crash", "login", "broken", "plan", "upgrade", "price"]


def bag_of_words(texts):
    vectors = []
    for text in texts:
        words = text.lower().split()
        vector = [float(sum(w.startswith(v) for w in words)) for v in VOCABULARY]
        vectors.append(vector if any(vector) else [0.0] * (len(VOCABULARY) - 1) + [0.01])
    return vectors


SEMANTIC_ONLY = {
    "routes": [
        {"name": "billing", "utterances": ["bill charged money", "charged money twice"]},
        {"name": "tech", "utterances": ["crash login broken", "login broken again"]},
        {"name": "sales", "utterances": ["plan upgrade price", "upgrade plan"]},
    ]
}


def test_a_python_embedder_function_drives_the_semantic_tier():
    calls = []

    def fn(texts):
        calls.append(list(texts))
        return bag_of_words(texts)

    with Embedder.from_function(len(VOCABULARY), fn) as embedder:
        r = Router(SEMANTIC_ONLY, embedder=embedder)
    # The utterances were embedded through the function, and the router keeps it alive after
    # its Embedder was closed.
    assert any("bill charged money" in batch for batch in calls)
    result = r.route("my login is broken")
    assert (result.route, result.tier) == ("tech", "semantic")
    assert ["my login is broken"] in calls
    assert r.top_k("upgrade the plan", 1)[0].route == "sales"
    r.close()


def test_an_embedder_config_is_accepted():
    with Router(ROUTES, embedder={"provider": "hashing", "dimension": 256}) as r:
        assert r.route("the app crashes when I open it").route == "tech"


def test_a_failing_embedder_fails_the_construction():
    def fn(texts):
        raise RuntimeError("no GPU today")

    with pytest.raises(keel.ProviderError, match="no GPU today"):
        Router(SEMANTIC_ONLY, embedder=Embedder.from_function(4, fn))


# ---- Events and threads ------------------------------------------------------------------------


def test_events_report_each_routed_request():
    events = []
    with Router(ROUTES) as r:
        r.on_event(events.append)
        r.route("Where is my invoice?")
        r.route(NONSENSE, {"channel": "x"})
        r.on_event(None)
        r.route("Where is my invoice?")
    assert [e["type"] for e in events] == ["router.route", "router.route"]
    assert "ts" in events[0]
    assert NONSENSE not in json.dumps(events)  # the text is not in the events


def test_many_threads_share_one_router(router):
    probes = {"Where is my invoice?": "billing", "the app crashes when I open it": "tech",
              "error code 12": "tech", NONSENSE: None}
    errors = []

    def worker():
        try:
            for _ in range(25):
                for text, expected in probes.items():
                    assert router.route(text).route == expected
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_many_threads_share_one_router_with_a_model():
    with Router(ROUTES, model=lambda request: choice("sales")) as r:
        results = []

        def worker():
            for _ in range(10):
                results.append(r.route(NONSENSE).route)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == ["sales"] * 40

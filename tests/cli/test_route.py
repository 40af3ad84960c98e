"""keel route: the three tiers, --jsonl, fit, eval, saved routers and the error conventions."""

import json
import os
import select
import subprocess

import pytest

ROUTES = {
    "exit_threshold": 0.8,
    "fallback": "general",
    "routes": [
        {"name": "billing", "description": "Invoices, charges, refunds",
         "conditions": [{"keywords": ["invoice", "refund"], "match": "any", "confidence": 0.9},
                        {"regex": "(?i)\\bcharged twice\\b", "confidence": 0.95}],
         "utterances": ["I was billed the wrong amount", "why is my bill so high this month",
                        "I want my money back", "there is an unknown charge on my card",
                        "how do I pay my bill", "update my payment method"]},
        {"name": "shipping", "description": "Deliveries, parcels, tracking",
         "conditions": [{"metadata": {"channel": {"eq": "courier"}}, "confidence": 1.0}],
         "utterances": ["where is my parcel", "my package has not arrived yet",
                        "track my delivery", "when will my order be shipped",
                        "the courier lost my package", "change my delivery address"]},
        {"name": "account", "description": "Passwords, logins, profile settings",
         "utterances": ["I forgot my password", "reset my password please",
                        "I cannot log in to my account", "change the email on my profile",
                        "delete my account", "enable two factor authentication"]},
        {"name": "general", "description": "Anything else"},
    ],
}

# Labelled examples: mostly paraphrases, which the untuned 0.8 threshold rejects, and
# out-of-scope requests.
EXAMPLES = [
    {"text": "my bill is wrong", "route": "billing"},
    {"text": "there is a strange charge on my statement", "route": "billing"},
    {"text": "can I get my money back", "route": "billing"},
    {"text": "I need a copy of my invoice", "route": "billing"},
    {"text": "where is my package", "route": "shipping"},
    {"text": "my parcel is late", "route": "shipping"},
    {"text": "hello", "metadata": {"channel": "courier"}, "route": "shipping"},
    {"text": "has my order shipped yet", "route": "shipping"},
    {"text": "I cannot sign in", "route": "account"},
    {"text": "forgot my password again", "route": "account"},
    {"text": "how do I change my profile email", "route": "account"},
    {"text": "I am locked out of my account", "route": "account"},
    {"text": "what is the weather like today", "route": None},
    {"text": "tell me a joke", "route": None},
    {"text": "who won the football game", "route": None},
    {"text": "recommend a good book", "route": None},
]

# No word in common with any utterance, keyword or pattern: no tier before the LLM is confident.
UNRELATED = "zebra quantum xylophone"


def write_json(path, value):
    path.write_text(json.dumps(value))
    return str(path)


def write_lines(path, values):
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return str(path)


@pytest.fixture
def routes(tmp_path):
    return write_json(tmp_path / "routes.json", ROUTES)


@pytest.fixture
def examples(tmp_path):
    return write_lines(tmp_path / "examples.jsonl", EXAMPLES)


def scripted_model(tmp_path, *answers):
    """A model file whose replies are the given route answers, in order."""
    responses = [{"content": json.dumps(a)} for a in answers]
    return write_json(tmp_path / "model.json", {"provider": "scripted", "responses": responses})


def jsonl(cli, *args, lines):
    result = cli.run("route", *args, "--jsonl", input="".join(l + "\n" for l in lines))
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def without_timings(result):
    return {k: v for k, v in result.items() if k != "timings_us"}


# ---- routing: the tiers ----

def test_route_result_has_the_documented_shape(cli, routes):
    out = cli.json("route", "--routes", routes, "please send me the invoice")
    assert set(out) >= {"route", "confidence", "tier", "candidates", "timings_us"}
    assert set(out["timings_us"]) == {"condition", "semantic", "llm", "total"}
    assert all(set(c) == {"route", "score"} for c in out["candidates"])


def test_keyword_condition_routes_with_its_confidence(cli, routes):
    out = cli.json("route", "--routes", routes, "Please send me the INVOICE for March")
    assert (out["route"], out["tier"], out["confidence"]) == ("billing", "condition", 0.9)


def test_regex_condition_routes_with_its_confidence(cli, routes):
    out = cli.json("route", "--routes", routes, "I was Charged Twice last week")
    assert (out["route"], out["tier"], out["confidence"]) == ("billing", "condition", 0.95)


def test_metadata_condition_routes_a_jsonl_request(cli, routes):
    result, out = jsonl(cli, "--routes", routes,
                        lines=[json.dumps({"text": "hello", "metadata": {"channel": "courier"}}),
                               json.dumps({"text": "hello", "metadata": {"channel": "web"}})])
    assert result.returncode == 0, result.stderr
    assert (out[0]["route"], out[0]["tier"], out[0]["confidence"]) == ("shipping", "condition", 1.0)
    assert out[1]["tier"] != "condition"


def test_semantic_tier_routes_by_utterances(cli, routes):
    out = cli.json("route", "--routes", routes, "where is my parcel")
    assert (out["route"], out["tier"]) == ("shipping", "semantic")
    assert out["confidence"] >= 0.8
    assert out["candidates"][0]["route"] == "shipping"
    out = cli.json("route", "--routes", routes, "reset my password")
    assert (out["route"], out["tier"]) == ("account", "semantic")


def test_unconfident_request_goes_to_the_fallback_route(cli, routes):
    out = cli.json("route", "--routes", routes, UNRELATED)
    assert (out["route"], out["tier"]) == ("general", "fallback")
    assert out["confidence"] < 0.8
    assert "reason" in out


def test_without_a_fallback_an_unconfident_request_has_no_route(cli, tmp_path):
    config = dict(ROUTES)
    config.pop("fallback")
    routes = write_json(tmp_path / "nofallback.json", config)
    out = cli.json("route", "--routes", routes, UNRELATED)
    assert (out["route"], out["tier"]) == (None, "none")


def test_route_reads_stdin_as_one_text(cli, routes):
    out = cli.json("route", "--routes", routes, input="hello there\nI was charged twice\n")
    assert (out["route"], out["tier"]) == ("billing", "condition")


def test_llm_tier_decides_what_the_first_tiers_cannot(cli, routes, tmp_path):
    model = scripted_model(tmp_path, {"route": "account", "confidence": 0.92})
    out = cli.json("route", "--routes", routes, "--model", model, UNRELATED)
    assert (out["route"], out["tier"], out["confidence"]) == ("account", "llm", 0.92)
    assert out["timings_us"]["llm"] > 0


def test_llm_tier_is_not_consulted_when_a_condition_decides(cli, routes, tmp_path):
    model = scripted_model(tmp_path, {"route": "account", "confidence": 0.92})
    out = cli.json("route", "--routes", routes, "--model", model, "refund please")
    assert (out["route"], out["tier"]) == ("billing", "condition")


def test_no_llm_skips_the_llm_tier(cli, routes, tmp_path):
    model = scripted_model(tmp_path, {"route": "account", "confidence": 0.92})
    out = cli.json("route", "--routes", routes, "--model", model, "--no-llm", UNRELATED)
    assert (out["route"], out["tier"]) == ("general", "fallback")
    assert out["timings_us"]["llm"] == 0


def test_a_model_answer_naming_no_route_falls_back_with_a_reason(cli, routes, tmp_path):
    model = scripted_model(tmp_path, {"route": "astrology", "confidence": 0.99})
    out = cli.json("route", "--routes", routes, "--model", model, UNRELATED)
    assert (out["route"], out["tier"]) == ("general", "fallback")
    assert "astrology" in out["reason"]


def test_llm_tier_routes_each_jsonl_line(cli, routes, tmp_path):
    model = scripted_model(tmp_path, {"route": "account", "confidence": 0.9},
                           {"route": "shipping", "confidence": 0.85})
    result, out = jsonl(cli, "--routes", routes, "--model", model,
                        lines=[json.dumps(UNRELATED), json.dumps("invoice"),
                               json.dumps({"text": UNRELATED + " again"})])
    assert result.returncode == 0, result.stderr
    assert [(o["route"], o["tier"]) for o in out] == [
        ("account", "llm"), ("billing", "condition"), ("shipping", "llm")]


# ---- --jsonl ----

def test_jsonl_gives_one_result_per_line(cli, routes):
    lines = [json.dumps("where is my parcel"),
             json.dumps({"text": "I forgot my password"}),
             "",
             json.dumps({"text": "anything", "metadata": {"channel": "courier"}}),
             json.dumps({"text": "charged twice!", "metadata": {"channel": "web", "tier": 3}})]
    result, out = jsonl(cli, "--routes", routes, lines=lines)
    assert result.returncode == 0, result.stderr
    assert [(o["route"], o["tier"]) for o in out] == [
        ("shipping", "semantic"), ("account", "semantic"), ("shipping", "condition"),
        ("billing", "condition")]


def test_jsonl_bad_lines_keep_alignment_and_exit_2(cli, routes):
    lines = [json.dumps({"text": "refund please"}),
             "not json",
             json.dumps({"text": "x", "metadata": "courier"}),
             json.dumps({"txt": "x"}),
             "42",
             json.dumps({"text": "hi", "metadata": {"channel": "courier"}})]
    result, out = jsonl(cli, "--routes", routes, lines=lines)
    assert result.returncode == 2
    assert len(out) == 6
    assert out[0]["route"] == "billing"
    assert out[1]["error"]["code"] == "parse"
    assert out[1]["error"]["message"].startswith("line 2: ")
    assert out[2]["error"]["message"].startswith("line 3: metadata")
    assert out[3]["error"]["message"].startswith("line 4: text")
    assert out[4]["error"]["message"].startswith("line 5: ")
    assert out[5]["route"] == "shipping"
    errors = result.stderr.strip().splitlines()
    assert [e.split(":")[1].strip() for e in errors] == ["line 2", "line 3", "line 4", "line 5"]


def test_jsonl_results_stream_out_before_stdin_ends(cli, routes):
    proc = subprocess.Popen([cli.path, "route", "--routes", routes, "--jsonl"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for text, route in [("refund please", "billing"), ("track my delivery", "shipping")]:
            proc.stdin.write((json.dumps({"text": text}) + "\n").encode())
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "no result line while stdin is still open"
            assert json.loads(proc.stdout.readline())["route"] == route
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0


def test_jsonl_with_text_is_a_usage_error(cli, routes):
    result = cli.run("route", "--routes", routes, "--jsonl", "hello", input="")
    assert result.returncode == 2
    assert "--jsonl" in result.stderr


# ---- errors ----

def test_invalid_routes_file_is_exit_2_naming_the_json_path(cli, tmp_path):
    config = json.loads(json.dumps(ROUTES))
    config["routes"][2]["threshold"] = "high"
    routes = write_json(tmp_path / "bad.json", config)
    result = cli.run("route", "--routes", routes, "hello")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "keel: routes[2].threshold: expected number, got string"


def test_routes_file_with_a_bad_regex_is_exit_2(cli, tmp_path):
    config = json.loads(json.dumps(ROUTES))
    config["routes"][0]["conditions"][1]["regex"] = "(unclosed"
    routes = write_json(tmp_path / "bad.json", config)
    result = cli.run("route", "--routes", routes, "hello")
    assert result.returncode == 2
    assert result.stderr.startswith("keel: routes[0].conditions[1].regex: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_routes_file_that_is_not_json_is_exit_2_naming_the_file(cli, tmp_path):
    routes = tmp_path / "broken.json"
    routes.write_text('{"routes": [')
    result = cli.run("route", "--routes", str(routes), "hello")
    assert result.returncode == 2
    assert str(routes) in result.stderr


def test_missing_routes_file_is_an_error(cli):
    result = cli.run("route", "--routes", "/nonexistent/routes.json", "hello")
    assert result.returncode == 1
    assert "cannot open /nonexistent/routes.json" in result.stderr


def test_routes_option_is_required(cli):
    result = cli.run("route", "hello")
    assert result.returncode == 2
    assert "--routes" in result.stderr


def test_bad_model_file_is_exit_2(cli, routes, tmp_path):
    model = write_json(tmp_path / "m.json", {"provider": "scripted"})
    result = cli.run("route", "--routes", routes, "--model", model, "hello")
    assert result.returncode == 2
    assert result.stderr.strip() == "keel: responses: required"


def test_help_documents_the_commands(cli):
    result = cli.run("route", "--help")
    assert result.returncode == 0
    for word in ["--routes", "--jsonl", "--model", "--no-llm", "fit", "eval", "fallback"]:
        assert word in result.stdout
    fit = cli.run("route", "fit", "--help")
    assert fit.returncode == 0
    for word in ["--examples", "--out", "--layer", "--save-vectors", "out of scope"]:
        assert word in fit.stdout
    evaluation = cli.run("route", "eval", "--help")
    assert evaluation.returncode == 0
    assert "--llm" in evaluation.stdout
    assert "route" in cli.run("--help").stdout


# ---- eval ----

def test_eval_prints_accuracy_out_of_scope_and_per_route_figures(cli, routes, examples):
    out = cli.json("route", "eval", "--routes", routes, "--examples", examples)
    assert set(out) >= {"examples", "accuracy", "in_scope", "out_of_scope", "tiers", "routes",
                        "confused"}
    assert out["examples"] == len(EXAMPLES)
    assert out["in_scope"]["examples"] == 12
    assert set(out["out_of_scope"]) >= {"examples", "recall", "precision"}
    assert out["out_of_scope"]["examples"] == 4
    assert set(out["routes"]) == {"billing", "shipping", "account"}
    assert set(out["routes"]["billing"]) >= {"precision", "recall", "support"}
    assert out["routes"]["billing"]["support"] == 4
    assert 0 <= out["accuracy"] <= 1
    # Conditions decide two examples (the invoice keyword and the courier channel).
    assert out["tiers"]["condition"] == 2
    assert all(set(c) == {"expected", "predicted", "count"} for c in out["confused"])


def test_eval_with_the_llm_tier(cli, routes, tmp_path):
    examples = write_lines(tmp_path / "ex.jsonl", [{"text": UNRELATED, "route": "account"}])
    model = scripted_model(tmp_path, {"route": "account", "confidence": 0.9})
    without = cli.json("route", "eval", "--routes", routes, "--examples", examples,
                       "--model", model)
    assert without["accuracy"] == 0 and "llm" not in without["tiers"]
    out = cli.json("route", "eval", "--routes", routes, "--examples", examples, "--model", model,
                   "--llm")
    assert out["accuracy"] == 1.0
    assert out["tiers"] == {"llm": 1}


def test_eval_llm_without_a_model_is_a_usage_error(cli, routes, examples):
    result = cli.run("route", "eval", "--routes", routes, "--examples", examples, "--llm")
    assert result.returncode == 2
    assert "--model" in result.stderr


@pytest.mark.parametrize("line, problem", [
    ("not json", "parse error"),
    (json.dumps({"text": "x"}), "route: required"),
    (json.dumps({"text": "x", "route": "sales"}), 'route "sales" is not in the routes file'),
    (json.dumps({"text": "x", "route": None, "label": 1}), "label: unknown key"),
    (json.dumps(["x", "billing"]), "expected {"),
])
def test_a_bad_examples_line_is_exit_2_naming_the_line(cli, routes, tmp_path, line, problem):
    path = tmp_path / "ex.jsonl"
    path.write_text(json.dumps(EXAMPLES[0]) + "\n\n" + line + "\n")
    for command in ("eval", "fit"):
        args = ["route", command, "--routes", routes, "--examples", str(path)]
        if command == "fit":
            args += ["--out", str(tmp_path / "out.json")]
        result = cli.run(*args)
        assert result.returncode == 2, (command, result.stderr)
        assert "line 3" in result.stderr and problem in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


def test_an_examples_file_without_examples_is_exit_2(cli, routes, tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text("\n  \n")
    result = cli.run("route", "eval", "--routes", routes, "--examples", str(path))
    assert result.returncode == 2
    assert "no examples" in result.stderr


# ---- fit and saved routers ----

def test_fit_writes_a_tuned_routes_file_that_scores_at_least_as_well(cli, routes, examples,
                                                                     tmp_path):
    before = cli.json("route", "eval", "--routes", routes, "--examples", examples)
    tuned = tmp_path / "tuned.json"
    report = cli.json("route", "fit", "--routes", routes, "--examples", examples,
                      "--out", str(tuned))
    assert set(report) >= {"layer", "threshold", "objective", "in_scope_accuracy",
                           "out_of_scope_recall", "routes_tuned", "seconds"}
    # Written through a temporary file and a rename: nothing else is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.jsonl", "routes.json",
                                                         "tuned.json"]
    config = json.loads(tuned.read_text())
    assert [r["name"] for r in config["routes"]] == [r["name"] for r in ROUTES["routes"]]
    assert config["fallback"] == "general"
    assert "fitted" in config
    after = cli.json("route", "eval", "--routes", str(tuned), "--examples", examples)
    assert after["accuracy"] >= before["accuracy"]
    # The untuned 0.8 threshold rejects most paraphrases; the tuned one takes them.
    assert after["in_scope"]["accuracy"] > before["in_scope"]["accuracy"]
    out = cli.json("route", "--routes", str(tuned), "I am locked out of my account")
    assert out["route"] == "account"


def test_fit_layer_option_is_checked_and_passed_on(cli, routes, examples, tmp_path):
    bad = cli.run("route", "fit", "--routes", routes, "--examples", examples,
                  "--out", str(tmp_path / "o.json"), "--layer", "sometimes")
    assert bad.returncode == 2
    never = cli.json("route", "fit", "--routes", routes, "--examples", examples,
                     "--out", str(tmp_path / "o.json"), "--layer", "never")
    assert never["layer"] is False
    always = cli.json("route", "fit", "--routes", routes, "--examples", examples,
                      "--out", str(tmp_path / "o.json"), "--layer", "always")
    assert always["layer"] is True


def test_fit_requires_its_options(cli, routes, examples):
    result = cli.run("route", "fit", "--routes", routes, "--examples", examples)
    assert result.returncode == 2
    assert "--out" in result.stderr


def test_a_saved_router_routes_like_its_routes_file(cli, routes, examples, tmp_path):
    tuned, saved = tmp_path / "tuned.json", tmp_path / "tuned.keel"
    cli.json("route", "fit", "--routes", routes, "--examples", examples, "--out", str(tuned),
             "--save-vectors", str(saved))
    assert saved.read_bytes()[:8] == b"KEELRTR1"
    lines = [json.dumps({"text": e["text"], "metadata": e.get("metadata")}) for e in EXAMPLES]
    lines += [json.dumps(UNRELATED), json.dumps("I was charged twice")]
    from_json, a = jsonl(cli, "--routes", str(tuned), lines=lines)
    from_saved, b = jsonl(cli, "--routes", str(saved), lines=lines)
    assert from_json.returncode == 0 and from_saved.returncode == 0, from_saved.stderr
    assert len(a) == len(b) == len(lines)
    for x, y in zip(a, b):
        assert (x["route"], x["tier"]) == (y["route"], y["tier"])
        assert x["confidence"] == pytest.approx(y["confidence"], abs=1e-9)
        assert [c["route"] for c in x["candidates"]] == [c["route"] for c in y["candidates"]]
    same = cli.json("route", "eval", "--routes", str(saved), "--examples", examples)
    assert without_timings(same) == without_timings(
        cli.json("route", "eval", "--routes", str(tuned), "--examples", examples))


def test_a_saved_router_takes_the_llm_tier_too(cli, routes, examples, tmp_path):
    saved = tmp_path / "r.keel"
    cli.json("route", "fit", "--routes", routes, "--examples", examples,
             "--out", str(tmp_path / "t.json"), "--save-vectors", str(saved))
    model = scripted_model(tmp_path, {"route": "billing", "confidence": 0.97})
    out = cli.json("route", "--routes", str(saved), "--model", model, UNRELATED)
    assert (out["route"], out["tier"]) == ("billing", "llm")


def test_a_corrupt_saved_router_is_exit_2(cli, routes, examples, tmp_path):
    saved = tmp_path / "r.keel"
    cli.json("route", "fit", "--routes", routes, "--examples", examples,
             "--out", str(tmp_path / "t.json"), "--save-vectors", str(saved))
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    result = cli.run("route", "--routes", str(saved), "hello")
    assert result.returncode == 2
    assert str(saved) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_metadata_option_feeds_the_condition_tier(cli, tmp_path):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"routes": [
        {"name": "vip", "conditions": [{"metadata": {"tier": {"in": ["gold"]}}, "confidence": 1.0}]},
        {"name": "other", "utterances": ["hello there"]}]}))
    result = cli.json("route", "--routes", str(routes), "--metadata", '{"tier": "gold"}', "anything")
    assert result["route"] == "vip"
    assert result["tier"] == "condition"
    bad = cli.run("route", "--routes", str(routes), "--metadata", "[1]", "anything")
    assert bad.returncode == 2
    assert "--metadata" in bad.stderr

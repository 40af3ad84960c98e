"""keel version, keel demo, and the error conventions every subcommand shares."""


def test_version_prints_json(cli):
    out = cli.json("version")
    assert out["version"].count(".") == 2
    assert isinstance(out["abi"], int)


def test_unknown_subcommand_is_one_line_and_exit_2(cli):
    result = cli.run("frobnicate")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown subcommand 'frobnicate'" in lines[0]


def test_bad_flag_is_one_line_and_exit_2(cli):
    result = cli.run("version", "--no-such-flag")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_subcommand_is_usage_error(cli):
    result = cli.run()
    assert result.returncode == 2


def test_help_exits_0(cli):
    result = cli.run("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


# No model in the environment: the demo's agent uses its scripted test double.
OFFLINE = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "ANTHROPIC_API_KEY": ""}


def test_demo_runs_offline_and_reports_timings(cli):
    report = cli.json("demo", "--json", env=OFFLINE)
    assert report["core"]["threads"] >= 1
    assert report["core"]["timer_10ms_fired_after_us"] >= 10000
    firewall = report["firewall"]
    assert firewall["attack_decision"] == "block"
    assert "ann@example.com" not in firewall["redacted"]
    assert "ann@example.com" in firewall["restored"]
    # The router tour shows a request decided at each tier, and the fallback.
    tiers = [r["tier"] for r in report["router"]["results"]]
    assert tiers == ["condition", "condition", "semantic", "llm", "fallback"]
    # The knowledge tour searches each way over the sample documents.
    searches = {s["mode"]: [h["id"] for h in s["hits"]] for s in report["knowledge"]["searches"]}
    assert report["knowledge"]["documents"] == 12
    assert searches["keyword"][0] == "double-charge"
    assert searches["vector"][0] == "late-delivery"
    assert searches["graph"][:2] == ["lost-parcel", "refund-policy"]
    assert searches["hybrid"][0] in ("late-delivery", "lost-parcel")
    # The planner tour runs three tools at once, then their total.
    planner = report["planner"]
    assert planner["status"] == "succeeded" and planner["total"] == 49
    starts = {t["id"]: t["started_us"] for t in planner["tasks"]}
    assert max(starts["lyon"], starts["porto"], starts["gdansk"]) < 60000 < starts["sum"]
    # The agent tour runs two tools at once; the firewall withholds the injected page.
    agent = report["agent"]
    assert agent["stop_reason"] == "final" and agent["turns"] == 2
    assert [(c["name"], c["status"]) for c in agent["tool_calls"]] == [
        ("lookup_order", "ok"), ("fetch_page", "blocked")]
    text = cli.run("demo", env=OFFLINE)
    assert text.returncode == 0
    assert "keel" in text.stdout
    assert "scripted test double" in text.stdout.split("agent (")[1]


def test_demo_agent_uses_a_real_endpoint_when_the_environment_names_one(cli, endpoint):
    base = endpoint([
        {"openai_tool_calls": [{"id": "call_1", "name": "lookup_order",
                                "arguments": "{\"order_id\": \"A-1001\"}"}]},
        {"openai_text": "Your kettle shipped with DHL."}])
    report = cli.json("demo", "--json", env={"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test",
                                             "ANTHROPIC_API_KEY": "", "KEEL_MODEL": "m"})
    agent = report["agent"]
    assert agent["model"] == f"openai m at {base}"
    assert agent["stop_reason"] == "final" and agent["output"] == "Your kettle shipped with DHL."
    assert [(c["name"], c["status"]) for c in agent["tool_calls"]] == [("lookup_order", "ok")]
    text = cli.run("demo", env={"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test", "KEEL_MODEL": "m"})
    assert "model: openai m at" in text.stdout

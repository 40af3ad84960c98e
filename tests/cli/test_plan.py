"""keel plan: host plans of skills, goals planned by a (scripted or endpoint) model, validation
errors, and durable runs killed with SIGKILL at random points and resumed."""

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

SKILL = Path(__file__).resolve().parents[2] / "examples" / "skills" / "lookup_order.py"


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return str(path)


def lookup_tools(tmp_path):
    return write(tmp_path, "tools.json", {"tools": [{
        "name": "lookup_order", "description": "Status of an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                       "required": ["order_id"]},
        "command": [sys.executable, str(SKILL)], "timeout_ms": 20000, "idempotent": True}]})


def test_plan_runs_a_given_plan_with_references(cli, tmp_path):
    tools = lookup_tools(tmp_path)
    plan = write(tmp_path, "plan.json", {"tasks": [
        {"id": "a", "tool": "lookup_order", "args": {"order_id": "A-1001"}},
        {"id": "b", "tool": "lookup_order", "args": {"order_id": "A-1002"}},
        {"id": "c", "tool": "lookup_order", "args": {"order_id": "${a.order_id}"}, "deps": ["b"]}]})
    out = cli.json("plan", "--tools", tools, "--plan", plan)
    assert out["status"] == "succeeded"
    tasks = {t["id"]: t for t in out["tasks"]}
    assert [t["id"] for t in out["tasks"]] == ["a", "b", "c"]
    assert tasks["c"]["output"]["order_id"] == "A-1001"
    assert tasks["c"]["started_us"] >= max(tasks["a"]["finished_us"], tasks["b"]["finished_us"])
    for t in out["tasks"]:
        assert t["status"] == "done" and t["duration_us"] > 0


def test_an_invalid_plan_exits_2_naming_the_problems(cli, tmp_path):
    tools = lookup_tools(tmp_path)
    cycle = write(tmp_path, "cycle.json", {"tasks": [
        {"id": "a", "tool": "lookup_order", "args": {"order_id": "$c"}},
        {"id": "b", "tool": "lookup_order", "args": {"order_id": "$a"}},
        {"id": "c", "tool": "lookup_order", "args": {"order_id": "$b"}}]})
    result = cli.run("plan", "--tools", tools, "--plan", cycle)
    assert result.returncode == 2
    assert "cycle" in result.stderr and all(t in result.stderr for t in ("a ->", "b ->", "c ->"))
    unknown = write(tmp_path, "unknown.json", {"tasks": [{"id": "t1", "tool": "serch"}]})
    result = cli.run("plan", "--tools", tools, "--plan", unknown)
    assert result.returncode == 2 and 't1: unknown tool "serch"' in result.stderr
    shapeless = write(tmp_path, "shapeless.json", {"tasks": [{"tool": "x"}]})
    result = cli.run("plan", "--tools", tools, "--plan", shapeless)
    assert result.returncode == 2 and "tasks[0].id" in result.stderr
    result = cli.run("plan", "--tools", tools)
    assert result.returncode == 2


def test_plan_a_goal_with_a_scripted_model(cli, tmp_path):
    tools = lookup_tools(tmp_path)
    model = write(tmp_path, "m.json", {"provider": "scripted", "responses": [
        {"content": json.dumps({"tasks": [
            {"id": "t1", "tool": "lookup_order", "args": {"order_id": "A-1003"}},
            {"id": "t2", "tool": "llm", "args": {"prompt": "Say: ${t1.status}"}}]})},
        {"content": "refunded"},
        {"content": json.dumps({"answer": "Order A-1003 was refunded."})}]})
    out = cli.json("plan", "--tools", tools, "--model", model, "What happened to A-1003?")
    assert out["status"] == "succeeded"
    assert out["answer"] == "Order A-1003 was refunded."
    assert out["tasks"][1]["output"] == "refunded"


def test_plan_a_goal_through_an_openai_endpoint(cli, tmp_path, endpoint):
    tools = lookup_tools(tmp_path)
    plan = {"tasks": [{"id": "t1", "tool": "lookup_order", "args": {"order_id": "A-1001"}}]}
    base = endpoint([{"openai_text": "not a plan"}, {"openai_text": json.dumps(plan)},
                     {"openai_text": json.dumps({"answer": "It shipped."})}])
    model = write(tmp_path, "m.json", {"provider": "openai", "base_url": base, "model": "m", "api_key": "k"})
    out = cli.json("plan", "--tools", tools, "--model", model, "Where is A-1001?")
    assert out["answer"] == "It shipped."
    assert out["tasks"][0]["output"]["carrier"] == "DHL"


def crash_tools(tmp_path, log):
    """Twelve shell-free skills (sh is the program, not a shell the runner adds): each logs
    its start and end. Odd ones are idempotent."""
    tools = []
    for i in range(12):
        script = (f"echo start t{i} >> {log}; sleep 0.0{4 + i % 5}; echo end t{i} >> {log}; "
                  f"echo '{{\"task\": \"t{i}\"}}'")
        tools.append({"name": f"work{i}", "parameters": {"type": "object"},
                      "command": ["sh", "-c", script], "timeout_ms": 10000,
                      "idempotent": i % 2 == 1})
    return write(tmp_path, "crash_tools.json", {"tools": tools})


def crash_plan(tmp_path):
    # Width 3, depth 4: t0..t2, then each level needs the one above.
    tasks = []
    for i in range(12):
        deps = [f"t{i - 3}"] if i >= 3 else []
        tasks.append({"id": f"t{i}", "tool": f"work{i}", "deps": deps})
    return write(tmp_path, "crash_plan.json", {"tasks": tasks})


def journal_states(path, run_id):
    if not Path(path).exists():
        return {}
    with sqlite3.connect(path) as db:
        try:
            return dict(db.execute("SELECT task_id, status FROM plan_tasks WHERE run_id = ?", (run_id,)))
        except sqlite3.OperationalError:  # killed before the journal had its tables
            return {}


def starts(log):
    if not Path(log).exists():
        return []
    return [line.split()[1] for line in Path(log).read_text().splitlines() if line.startswith("start")]


def test_a_run_killed_at_random_points_resumes_without_repeating_work(cli, tmp_path):
    rng = random.Random(20261202)
    tools, plan = None, crash_plan(tmp_path)
    killed_midway = 0  # trials whose kill left some tasks done and some not
    for trial in range(20):
        log = str(tmp_path / f"log{trial}")
        journal = str(tmp_path / f"journal{trial}.sqlite")
        tools = crash_tools(tmp_path, log)
        run_id = f"trial-{trial}"
        args = ["plan", "--tools", tools, "--plan", plan, "--journal", journal, "--run-id", run_id]
        proc = subprocess.Popen([cli.path, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Kill at a random point of the run itself (start-up time varies with the machine's load).
        waited = time.monotonic() + 20
        while not starts(log) and proc.poll() is None and time.monotonic() < waited:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.35))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)

        before = journal_states(journal, run_id)
        done_before = {t for t, s in before.items() if s == "done"}
        running_before = {t for t, s in before.items() if s == "running"}
        started_before = starts(log)
        result = cli.run(*args)
        out = json.loads(result.stdout)
        started_after = starts(log)[len(started_before):]
        statuses = {t["id"]: t["status"] for t in out["tasks"]}

        # No completed task ran again; every reloaded task is one the journal had as done.
        assert not done_before & set(started_after), (trial, done_before, started_after)
        assert {t["id"] for t in out["tasks"] if t.get("reloaded")} == done_before
        # A task that is not idempotent never started twice.
        for task in set(started_before + started_after):
            if int(task[1:]) % 2 == 0:
                assert (started_before + started_after).count(task) <= 1, (trial, task)
        # No task is lost: each is done, or interrupted (and what needs it skipped).
        for task, status in statuses.items():
            assert status in ("done", "interrupted", "skipped"), (trial, task, status, out)
            if status == "interrupted":
                # Recorded as started when the kill came (its program may or may not have run).
                assert task in running_before and int(task[1:]) % 2 == 0, (trial, task)
        assert (out["status"] == "succeeded") == all(s == "done" for s in statuses.values()), out
        assert result.returncode == (0 if out["status"] == "succeeded" else 1)
        killed_midway += 0 < len(done_before) < 12
    # The kills must land inside runs, or the test proves nothing.
    assert killed_midway >= 8, killed_midway

"""keel.Planner from Python: host plans of Python tools (references keeping their JSON types,
parallelism, failure policies), validation, planning and solving with scripted models, durable
runs resumed from a journal, events, timeouts, cancellation, lifetimes and closed handles."""

import _thread
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import keel
from keel import ChatModel, Planner, PlanIssue, PlanRun, TaskOutcome, Toolset


def scripted(*responses, **extra):
    return ChatModel({"provider": "scripted", "responses": list(responses), **extra})


def says(value):
    """A scripted response whose content is `value` (JSON text unless it is a str)."""
    return {"content": value if isinstance(value, str) else json.dumps(value)}


def task(task_id, tool, args=None, deps=None):
    out = {"id": task_id, "tool": tool, "args": args or {}}
    if deps is not None:
        out["deps"] = deps
    return out


def plan_of(*tasks):
    return {"tasks": list(tasks)}


def _no_core_file():
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def fresh_python(tmp_path, script, *args):
    """Runs `script` in a new interpreter (in tmp_path, without a core file if it crashes)."""
    env = dict(os.environ, PYTHONPATH=str(Path(keel.__file__).resolve().parent.parent))
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, preexec_fn=_no_core_file)


def wait_for(predicate, seconds=2.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


# ---- Host plans ---------------------------------------------------------------------------------


def test_references_pass_outputs_on_keeping_their_json_types():
    received = {}

    @keel.tool
    def weather(city: str) -> dict:
        return {"city": city, "temps": [3, 5], "windy": True}

    @keel.tool
    def keep(report: dict) -> str:
        received["report"] = report
        return "kept"

    @keel.tool
    def double(n: int) -> int:
        received["n"] = n
        return n * 2

    @keel.tool
    def flag(value: bool) -> bool:
        received["value"] = value
        return not value

    @keel.tool
    def shout(text: str) -> str:
        received["text"] = text
        return text.upper()

    plan = plan_of(task("t1", "weather", {"city": "Oslo"}),
                   task("t2", "keep", {"report": "$t1"}),
                   task("t3", "double", {"n": "${t1.temps.1}"}),
                   task("t4", "flag", {"value": "${t1.windy}"}),
                   task("t5", "shout", {"text": "max ${t1.temps.1} in ${t1.city}, doubled $t3"}))
    with Planner(tools=[weather, keep, double, flag, shout]) as planner:
        run = planner.run(plan)
    assert isinstance(run, PlanRun)
    assert run.status == "succeeded" and run.ok, run.error
    assert received["report"] == {"city": "Oslo", "temps": [3, 5], "windy": True}
    assert received["n"] == 5 and type(received["n"]) is int
    assert received["value"] is True
    assert received["text"] == "max 5 in Oslo, doubled 10"
    assert [t.id for t in run.tasks] == ["t1", "t2", "t3", "t4", "t5"]
    assert all(isinstance(t, TaskOutcome) and t.status == "done" and t.ok for t in run.tasks)
    assert run.task("t3").output == 10
    assert run.task("t5").output == "MAX 5 IN OSLO, DOUBLED 10"
    assert run.task("t1").attempts == 1 and not run.task("t1").reloaded
    # A reference makes its task a dependency even though "deps" did not say so.
    assert run.task("t3").started_us >= run.task("t1").finished_us
    assert run.plans == [json.loads(json.dumps(run.raw["plans"][0]))] and run.replans == 0
    assert run.run_id.startswith("run-") and run.duration_us > 0
    assert run.to_dict() is run.raw and run.raw["status"] == "succeeded"


PARALLEL_SCRIPT = """
import json, sys, threading, time, keel

def nap(label: str) -> int:
    time.sleep(0.3)
    return threading.get_ident()

planner = keel.Planner(tools=[nap])
if sys.argv[1] == "warm":
    keel.Toolset([nap]).call("nap", {"label": "warm"})
    time.sleep(0.1)  # its pool thread is idle again
start = time.monotonic()
run = planner.run({"tasks": [{"id": "a", "tool": "nap", "args": {"label": "a"}},
                             {"id": "b", "tool": "nap", "args": {"label": "b"}}]})
print(json.dumps({"elapsed": time.monotonic() - start, "status": run.status,
                  "spans": [[t.started_us, t.finished_us] for t in run.tasks]}))
"""


def run_two_naps(tmp_path, pool):
    """Two independent 0.3 s tasks in a fresh interpreter, so that the state of keel's
    blocking pool (threads left idle by earlier tests) is known."""
    done = fresh_python(tmp_path, PARALLEL_SCRIPT, pool)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_independent_tasks_run_at_the_same_time(tmp_path):
    out = run_two_naps(tmp_path, "cold")
    assert out["status"] == "succeeded"
    assert out["elapsed"] < 0.55, f"two 0.3 s tools took {out['elapsed']:.2f} s"
    (a_start, a_end), (b_start, b_end) = out["spans"]
    assert a_start < b_end and b_start < a_end, "the tasks did not overlap"


def test_independent_tasks_overlap_when_the_pool_has_an_idle_thread(tmp_path):
    # A pool thread idle from an earlier call must not take both tasks one after the other.
    out = run_two_naps(tmp_path, "warm")
    assert out["elapsed"] < 0.55, f"two 0.3 s tools took {out['elapsed']:.2f} s"


def test_a_dependent_waits_and_max_parallel_limits_what_runs_at_once():
    @keel.tool
    def nap(label: str) -> str:
        time.sleep(0.2)
        return label

    plan = plan_of(task("a", "nap", {"label": "a"}), task("b", "nap", {"label": "b"}),
                   task("c", "nap", {"label": "$a"}, deps=["b"]))
    run = Planner(tools=[nap]).run(plan)
    assert run.ok and run.task("c").output == "a"
    assert run.task("c").started_us >= max(run.task("a").finished_us, run.task("b").finished_us)
    serial = Planner(tools=[nap], max_parallel=1).run(
        plan_of(task("a", "nap", {"label": "a"}), task("b", "nap", {"label": "b"})))
    a, b = serial.tasks
    assert serial.ok and (b.started_us >= a.finished_us or a.started_us >= b.finished_us)


def test_a_failed_task_skips_its_dependents_and_the_others_go_on():
    ran = []

    @keel.tool
    def explode(reason: str) -> str:
        raise ValueError(reason)

    @keel.tool
    def note(text: str) -> str:
        ran.append(text)
        return text

    plan = plan_of(task("a", "explode", {"reason": "boom"}),
                   task("b", "note", {"text": "$a"}),
                   task("c", "note", {"text": "independent"}, deps=[]),
                   task("d", "note", {"text": "after b"}, deps=["b"]))
    planner = Planner(tools=[explode, note], failure_policy="skip_dependents")
    run = planner.run(plan)
    assert run.status == "failed" and not run.ok
    assert run.error["code"] == "tool" and "ValueError: boom" in run.error["message"]
    assert run.task("a").status == "failed" and "ValueError: boom" in run.task("a").error
    assert run.task("b").status == "skipped" and "a" in run.task("b").error
    assert run.task("d").status == "skipped"
    assert run.task("b").attempts == 0 and run.task("b").started_us == 0
    assert run.task("c").status == "done"
    assert ran == ["independent"]


def test_fail_fast_starts_nothing_after_a_failure():
    ran = []

    @keel.tool
    def explode() -> str:
        raise RuntimeError("down")

    @keel.tool
    def note(text: str) -> str:
        ran.append(text)
        return text

    run = Planner(tools=[explode, note], failure_policy="fail_fast").run(
        plan_of(task("a", "explode"), task("b", "note", {"text": "after"}, deps=["a"])))
    assert run.status == "failed"
    assert run.task("b").status == "cancelled"
    assert ran == []


def test_a_python_tool_retried_only_when_idempotent():
    attempts = {"flaky": 0, "once": 0}

    def flaky() -> str:
        attempts["flaky"] += 1
        if attempts["flaky"] < 2:
            raise ConnectionError("try again")
        return "ok"

    def once() -> str:
        attempts["once"] += 1
        raise ConnectionError("no")

    planner = Planner(tools=[keel.tool(flaky, idempotent=True), keel.tool(once)],
                      retry={"max_attempts": 3, "base_delay_ms": 1, "max_delay_ms": 5})
    run = planner.run(plan_of(task("f", "flaky"), task("o", "once")))
    assert run.task("f").status == "done" and run.task("f").attempts == 2
    assert run.task("o").status == "failed" and attempts["once"] == 1


# ---- Validation ---------------------------------------------------------------------------------


def test_validate_reports_unknown_tools_and_a_cycle_naming_its_tasks():
    planner = Planner(tools=[keel.tool(lambda q: q, name="search")])
    assert planner.validate(plan_of(task("t1", "search", {"q": "x"}))) == []
    issues = planner.validate(plan_of(
        task("t1", "search", {"q": "x"}),
        task("t3", "serch", {"q": "x"}),
        task("a", "search", {"q": "$b"}),
        task("b", "search", {"q": "x"}, deps=["a"])))
    assert all(isinstance(i, PlanIssue) for i in issues)
    unknown = [i for i in issues if i.task == "t3"]
    assert len(unknown) == 1 and 'unknown tool "serch"' in unknown[0].problem
    assert str(unknown[0]).startswith('t3: unknown tool "serch"')
    [cycle] = [i for i in issues if "cycle" in i.problem]
    assert "a -> b" in cycle.problem or "b -> a" in cycle.problem
    assert "t1" not in cycle.problem


def test_validate_reports_bad_references_arguments_and_duplicates():
    @keel.tool
    def add(a: int, b: int) -> int:
        return a + b

    planner = Planner(tools=[add])
    issues = planner.validate(json.dumps(plan_of(   # JSON text works as well as a dict
        task("t1", "add", {"a": 1, "b": 2}),
        task("t1", "add", {"a": 1, "b": 2}),
        task("t2", "add", {"a": "${nowhere.x}", "b": 2}, deps=["ghost"]),
        task("t3", "add", {"a": "one", "b": 2}),
        task("t4", "llm", {"prompt": "hi"}))))
    text = "\n".join(str(i) for i in issues)
    assert "t1" in text and "nowhere" in text and "ghost" in text and "t3: args" in text
    assert any(i.task == "t4" and "model" in i.problem for i in issues)  # no model here


def test_a_plan_not_shaped_like_one_names_the_place():
    planner = Planner()
    with pytest.raises(keel.InvalidArgumentError, match=r"tasks\[0\]\.id"):
        planner.validate({"tasks": [{"tool": "x"}]})
    with pytest.raises(keel.InvalidArgumentError, match=r"tasks\[1\]\.id"):
        planner.run({"tasks": [task("a", "x"), {"id": 3, "tool": "x"}]})
    with pytest.raises(keel.ParseError):
        planner.validate("{not json")
    with pytest.raises(TypeError):
        planner.validate(42)


def test_an_invalid_plan_is_a_run_with_status_invalid_and_no_tool_runs():
    calls = []

    @keel.tool
    def search(q: str) -> str:
        calls.append(q)
        return q

    run = Planner(tools=[search]).run(plan_of(task("t1", "search", {"q": "x"}),
                                              task("t2", "serch", {"q": "$t1"})))
    assert run.status == "invalid" and not run.ok
    assert run.error["code"] == "invalid_argument"
    assert 't2: unknown tool "serch"' in run.error["message"]
    assert [(t.id, t.status) for t in run.tasks] == [("t1", "pending"), ("t2", "pending")]
    assert calls == []


def test_a_plan_comes_from_a_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_of(task("t1", "echo", {"text": "from a file"}))))
    planner = Planner(tools=[keel.tool(lambda text: text, name="echo")])
    assert planner.validate(path) == []
    assert planner.run(path).task("t1").output == "from a file"


# ---- The model: planning and solving ------------------------------------------------------------


def test_solve_plans_runs_and_answers_from_the_results():
    cities = []

    @keel.tool
    def weather(city: str) -> dict:
        cities.append(city)
        return {"city": city, "temp": 21}

    plan = plan_of(task("t1", "weather", {"city": "Oslo"}),
                   task("t2", "llm", {"prompt": "Describe ${t1.temp} degrees"}))
    model = scripted(says(plan), says("mild"), says({"answer": "Oslo is mild at 21 degrees"}))
    with Planner(model=model, tools=[weather]) as planner:
        run = planner.solve("What is the weather in Oslo?")
    assert run.status == "succeeded", run.error
    assert run.answer == "Oslo is mild at 21 degrees"
    assert cities == ["Oslo"]
    assert run.task("t1").output == {"city": "Oslo", "temp": 21}
    assert (run.task("t2").tool, run.task("t2").output) == ("llm", "mild")
    assert len(run.plans) == 1 and run.plans[0]["tasks"][0]["tool"] == "weather"
    assert run.replans == 0
    html = run._repr_html_()
    assert "Oslo is mild" in html and "weather" in html and "t2" in html and "succeeded" in html


def test_solve_replans_when_the_joiner_asks():
    first = plan_of(task("t1", "echo", {"text": "wrong"}))
    second = plan_of(task("t1", "echo", {"text": "right"}))
    model = scripted(says(first), says({"replan": "that was the wrong text"}), says(second),
                     says({"answer": "right"}))
    run = Planner(model=model, tools=[keel.tool(lambda text: text, name="echo")]).solve("echo")
    assert run.status == "succeeded" and run.answer == "right"
    assert run.replans == 1 and len(run.plans) == 2
    assert run.task("t1").output == "right"


def test_plan_asks_again_after_an_invalid_plan():
    valid = plan_of(task("t1", "search", {"q": "keel"}))
    model = scripted(says(plan_of(task("t1", "serch", {"q": "keel"}))), says(valid))
    planner = Planner(model=model, tools=[keel.tool(lambda q: q, name="search")])
    assert planner.plan("find keel") == {"tasks": [{"id": "t1", "tool": "search",
                                                    "args": {"q": "keel"}, "deps": []}]}

    never = scripted(says("no plan today"), says(plan_of(task("t1", "nope"))))
    stubborn = Planner(model=never, tools=[keel.tool(lambda q: q, name="search")],
                       max_plan_attempts=2)
    with pytest.raises(keel.ParseError, match="nope"):  # the last problems
        stubborn.plan("find keel")


def test_planning_needs_a_model():
    planner = Planner(tools=[keel.tool(lambda q: q, name="search")])
    with pytest.raises(keel.InvalidArgumentError, match="model"):
        planner.plan("x")
    with pytest.raises(keel.InvalidArgumentError, match="model"):
        planner.solve("x")


def test_a_python_function_is_a_model_and_sees_the_substituted_prompt():
    prompts = []

    def model(request):
        text = request["messages"][-1]["content"]
        prompts.append(text)
        return "it is " + text.split()[-1]

    planner = Planner(model=model, tools=[keel.tool(lambda: {"temp": 7}, name="weather")])
    run = planner.run(plan_of(task("t1", "weather"),
                              task("t2", "llm", {"prompt": "Describe ${t1.temp}"})))
    assert run.task("t2").output == "it is 7"
    assert prompts == ["Describe 7"]


# ---- Durable runs -------------------------------------------------------------------------------


def test_a_journalled_run_resumed_by_its_id_reloads_done_tasks(tmp_path):
    calls = []

    @keel.tool
    def count(n: int) -> int:
        calls.append(n)
        return n + 1

    journal = tmp_path / "runs.sqlite"
    plan = plan_of(task("t1", "count", {"n": 1}), task("t2", "count", {"n": "$t1"}))
    with Planner(tools=[count], journal=str(journal)) as planner:
        first = planner.run(plan, run_id="r1")
        assert first.run_id == "r1" and first.ok
        assert [t.reloaded for t in first.tasks] == [False, False]
        assert calls == [1, 2]
        again = planner.run(None, run_id="r1")  # the journal has the plan
    assert again.run_id == "r1" and again.ok
    assert [(t.id, t.output, t.reloaded) for t in again.tasks] == [("t1", 2, True),
                                                                    ("t2", 3, True)]
    assert calls == [1, 2], "a finished task ran again"

    # A new planner on the same journal (a restarted process) resumes it too; another plan
    # under the same id is refused.
    with Planner(tools=[count], journal=str(journal)) as planner:
        assert all(t.reloaded for t in planner.run(None, run_id="r1").tasks)
        with pytest.raises(keel.InvalidArgumentError, match="another plan"):
            planner.run(plan_of(task("x", "count", {"n": 9})), run_id="r1")
    assert calls == [1, 2]


def test_a_stopped_run_resumes_where_it_stopped(tmp_path):
    calls = []
    slow = threading.Event()
    slow.set()

    def first(n: int) -> int:
        calls.append("first")
        return n + 1

    def second(n: int) -> int:
        calls.append("second")
        if slow.is_set():
            time.sleep(1.0)
        return n * 10

    planner = Planner(tools=[first, keel.tool(second, idempotent=True)],
                      journal=str(tmp_path / "runs.sqlite"))
    plan = plan_of(task("t1", "first", {"n": 1}), task("t2", "second", {"n": "$t1"}))
    stopped = planner.run(plan, run_id="r2", timeout=0.3)
    assert stopped.status == "failed" and stopped.task("t1").status == "done"
    assert stopped.error["code"] == "timeout"
    assert stopped.task("t2").status in ("failed", "cancelled")  # whichever deadline fired first
    slow.clear()
    resumed = planner.run(None, run_id="r2")
    assert resumed.ok, resumed.error
    assert resumed.task("t1").reloaded and resumed.task("t1").output == 2
    assert not resumed.task("t2").reloaded and resumed.task("t2").output == 20
    assert calls.count("first") == 1


# ---- Events, timeouts, cancellation -------------------------------------------------------------


def test_events_report_each_task_and_the_run():
    events = []

    @keel.tool
    def explode() -> str:
        raise ValueError("no")

    planner = Planner(tools=[explode, keel.tool(lambda: "ok", name="fine")])
    planner.on_event(events.append)
    run = planner.run(plan_of(task("a", "fine"), task("b", "explode"),
                              task("c", "fine", deps=["b"])))
    assert wait_for(lambda: any(e["type"] == "plan.run" for e in events))
    states = {}
    for e in events:
        if e["type"] == "plan.task":
            states.setdefault(e["id"], []).append(e["state"])
    assert states["a"][-2:] == ["started", "finished"]
    assert states["b"][-1] == "failed"
    assert states["c"][-1] == "skipped"
    [finished] = [e for e in events if e["type"] == "plan.run"]
    assert finished["status"] == "failed" and finished["run_id"] == run.run_id
    assert all("ts" in e for e in events)

    planner.on_event(None)
    events.clear()
    planner.run(plan_of(task("a", "fine")))
    time.sleep(0.1)
    assert events == []


def test_solve_events_report_the_model_calls_without_their_text():
    events = []
    secret = "the goal nobody may log"
    plan = plan_of(task("t1", "echo", {"text": "hi"}))
    planner = Planner(model=scripted(says(plan), says({"answer": "the private answer"})),
                      tools=[keel.tool(lambda text: text, name="echo")])
    planner.on_event(events.append)
    run = planner.solve(secret)
    assert run.ok
    assert wait_for(lambda: any(e["type"] == "plan.run" for e in events))
    calls = [e for e in events if e["type"] == "plan.model_call"]
    assert [e["stage"] for e in calls] == ["plan", "join"]
    assert all(e["duration_us"] >= 0 and "input_tokens" in e for e in calls)
    text = json.dumps(events)
    assert secret not in text and "the private answer" not in text


def test_a_run_timeout_stops_a_slow_tool():
    release = threading.Event()

    @keel.tool
    def slow() -> str:
        release.wait(10)
        return "late"

    planner = Planner(tools=[slow])
    start = time.monotonic()
    try:
        run = planner.run(plan_of(task("s", "slow")), timeout=0.3)
    finally:
        release.set()
    assert time.monotonic() - start < 2.0
    assert run.status == "failed"
    assert run.error == {"code": "timeout", "message": "the run's deadline passed"}
    # The run's timer and the task attempt's own deadline fire together: either stops it.
    assert run.task("s").status in ("failed", "cancelled")
    with pytest.raises(keel.InvalidArgumentError, match="positive"):
        planner.run(plan_of(task("s", "slow")), timeout=0)
    with pytest.raises(keel.InvalidArgumentError, match="run_id"):
        planner.run(plan_of(task("s", "slow")), run_id="")


def test_plan_and_solve_timeouts_bound_a_slow_model():
    planner = Planner(model=scripted(says(plan_of(task("t1", "llm", {"prompt": "x"}))),
                                     delay_ms=3000))
    start = time.monotonic()
    with pytest.raises(keel.KeelTimeoutError):
        planner.plan("x", timeout=0.2)
    assert time.monotonic() - start < 2.0
    start = time.monotonic()
    run = Planner(model=scripted(says("{}"), delay_ms=3000)).solve("x", timeout=0.2)
    assert time.monotonic() - start < 2.0
    assert run.status != "succeeded" and run.error["code"] == "timeout"


def test_ctrl_c_cancels_a_run_and_carries_its_result():
    release = threading.Event()
    started = []

    @keel.tool
    def slow() -> str:
        started.append(1)
        release.wait(10)
        return "late"

    planner = Planner(tools=[slow, keel.tool(lambda: "x", name="after")])
    threading.Timer(0.3, _thread.interrupt_main).start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            planner.run(plan_of(task("s", "slow"), task("t", "after", deps=["s"])))
    finally:
        release.set()
    assert time.monotonic() - start < 3.0
    partial = info.value.plan_run
    assert partial.status == "cancelled"
    assert partial.task("s").status == "cancelled"
    assert partial.task("t").status in ("cancelled", "pending", "skipped")
    assert started == [1]


def test_ctrl_c_cancels_planning_without_waiting_for_the_model():
    planner = Planner(model=scripted(says(plan_of(task("t1", "llm", {"prompt": "x"}))),
                                     delay_ms=30000))
    threading.Timer(0.3, _thread.interrupt_main).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        planner.plan("x")
    assert time.monotonic() - start < 3.0
    planner.close()


# ---- Configuration, lifetimes and closed handles ------------------------------------------------


def test_configuration_comes_from_a_file_and_errors_name_the_key(tmp_path):
    path = tmp_path / "planner.json"
    path.write_text(json.dumps({"failure_policy": "fail_fast"}))
    planner = Planner(path, tools=[keel.tool(lambda: 1 / 0, name="div"),
                                   keel.tool(lambda: 1, name="one")])
    run = planner.run(plan_of(task("a", "div"), task("b", "one", deps=["a"])))
    assert run.task("b").status == "cancelled"  # fail_fast, from the file
    with pytest.raises(keel.InvalidConfigError, match="failure_policy"):
        Planner(failure_policy="maybe")
    with pytest.raises(keel.InvalidConfigError, match="max_parallel"):
        Planner({"max_parallel": "eight"})
    with pytest.raises(keel.InvalidConfigError, match="mystery"):
        Planner(mystery=1)
    with pytest.raises(keel.InvalidConfigError, match="llm"):
        Planner(tools=[keel.tool(lambda prompt: prompt, name="llm")])


def test_the_planner_keeps_its_python_tools_after_the_toolset_is_closed():
    calls = []
    tools = Toolset()

    @tools.tool
    def note(text: str) -> str:
        calls.append(text)
        return "noted"

    planner = Planner(tools=tools)
    tools.remove("note")  # the planner copied the toolset: later changes do not reach it
    tools.close()
    del tools, note
    gc.collect()
    run = planner.run(plan_of(task("t1", "note", {"text": "x"})))
    assert run.ok and calls == ["x"]
    assert planner.tool_names == ["note"]
    assert "note" in repr(planner)


def test_closing_the_planner_lets_a_run_in_flight_finish_with_its_python_tools():
    entered, release = threading.Event(), threading.Event()

    @keel.tool
    def slow() -> str:
        entered.set()
        release.wait(10)
        return "slow done"

    planner = Planner(tools=[slow, keel.tool(lambda x: x + "!", name="bang")])
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault(
        "run", planner.run(plan_of(task("a", "slow"), task("b", "bang", {"x": "$a"})))))
    worker.start()
    assert entered.wait(5)
    planner.close()
    release.set()
    worker.join(10)
    run = out["run"]
    assert run.ok, run.error
    assert run.task("b").output == "slow done!"


def test_a_closed_planner_and_closed_inputs_raise():
    planner = Planner(tools=[keel.tool(lambda: 1, name="one")])
    planner.close()
    planner.close()  # twice is fine
    assert "closed" in repr(planner)
    for action in (lambda: planner.run(plan_of(task("a", "one"))),
                   lambda: planner.solve("x"), lambda: planner.plan("x"),
                   lambda: planner.validate(plan_of(task("a", "one"))),
                   lambda: planner.on_event(print)):
        with pytest.raises(keel.InvalidArgumentError, match="planner is closed"):
            action()
    model = scripted(says("x"))
    model.close()
    with pytest.raises(keel.InvalidArgumentError, match="model is closed"):
        Planner(model=model)
    tools = Toolset()
    tools.close()
    with pytest.raises(keel.InvalidArgumentError, match="toolset is closed"):
        Planner(tools=tools)


def test_a_run_result_looks_up_tasks_by_id():
    run = Planner(tools=[keel.tool(lambda: 1, name="one")]).run(plan_of(task("a", "one")))
    assert run.task("a").output == 1
    with pytest.raises(KeyError, match="'zz'.*a"):
        run.task("zz")


def test_many_threads_share_one_planner():
    @keel.tool
    def square(x: int) -> int:
        return x * x

    planner = Planner(tools=[square])
    outputs = {}

    def worker(n):
        outputs[n] = planner.run(plan_of(task("t1", "square", {"x": n}))).task("t1").output

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outputs == {n: n * n for n in range(8)}


def test_python_exits_cleanly_while_a_run_is_in_flight(tmp_path):
    script = (
        "import threading, time, keel\n"
        "slow = keel.tool(lambda: (time.sleep(0.5), 'slow')[1], name='slow')\n"
        "p = keel.Planner(tools=[slow])\n"
        "p.on_event(lambda event: None)\n"
        "plan = {'tasks': [{'id': 't1', 'tool': 'slow', 'args': {}}]}\n"
        "threading.Thread(target=lambda: p.run(plan), daemon=True).start()\n"
        "time.sleep(0.2)\n"
    )
    done = fresh_python(tmp_path, script)
    assert done.returncode == 0, done.stderr


def test_closing_the_planner_lets_a_solve_in_flight_finish(tmp_path):
    # keel_planner_free while the model writes the plan: the solve goes on (keel.h). In a
    # subprocess, because a solve using the freed planner crashes the interpreter.
    script = (
        "import json, threading, time, keel\n"
        "plan = {'tasks': [{'id': 't1', 'tool': 'echo', 'args': {'text': 'hi'}}]}\n"
        "m = keel.ChatModel({'provider': 'scripted', 'delay_ms': 300, 'responses': [\n"
        "    {'content': json.dumps(plan)}, {'content': json.dumps({'answer': 'ok'})}]})\n"
        "echo = keel.tool(lambda text: text, name='echo')\n"
        "p = keel.Planner(model=m, tools=[echo])\n"
        "out = {}\n"
        "t = threading.Thread(target=lambda: out.setdefault('run', p.solve('g')))\n"
        "t.start()\n"
        "time.sleep(0.1)\n"
        "p.close()\n"
        # Planners without tools take the freed memory: a solve still using the freed
        # Planner then validates its plan against their (empty) tools, or crashes.
        "others = [keel.Planner() for _ in range(200)]\n"
        "t.join(10)\n"
        "print(out['run'].status, out['run'].answer)\n"
    )
    done = fresh_python(tmp_path, script)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.split() == ["succeeded", "ok"]

package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestPlanner(t *testing.T, config string, model *Model, tools *Toolset) *Planner {
	t.Helper()
	p, err := NewPlanner(config, model, tools)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// addGoTool adds fn as a tool taking any object.
func addGoTool(t *testing.T, ts *Toolset, name string, fn ToolFunc) {
	t.Helper()
	if err := ts.Add(ToolSpec{Name: name, Description: name, Parameters: json.RawMessage(`{"type": "object"}`)}, fn); err != nil {
		t.Fatal(err)
	}
}

func runPlan(t *testing.T, p *Planner, plan string, opts *RunOptions) *PlanRun {
	t.Helper()
	r, err := p.Run(context.Background(), json.RawMessage(plan), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustTask is the outcome of task id, failing the test when the run has none.
func mustTask(t *testing.T, r *PlanRun, id string) *TaskOutcome {
	t.Helper()
	task := r.Task(id)
	if task == nil {
		t.Fatalf("no task %s in %s", id, r)
	}
	return task
}

// jsonEqual says whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// sleeper is a tool that waits d (or until its context ends) and answers its arguments.
func sleeper(d time.Duration) ToolFunc {
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return args, nil
	}
}

func TestAHostPlanPassesOutputsOnKeepingTheirJSONTypes(t *testing.T) {
	ts := newTestToolset(t, "")
	addGoTool(t, ts, "lookup", func(context.Context, json.RawMessage) (any, error) {
		return json.RawMessage(`{"user": {"name": "ada", "age": 36}, "tags": ["x", "y"]}`), nil
	})
	var mu sync.Mutex
	var echoed ToolCallInfo
	addGoTool(t, ts, "echo", func(ctx context.Context, args json.RawMessage) (any, error) {
		info, _ := ToolCallFromContext(ctx)
		mu.Lock()
		echoed = info
		mu.Unlock()
		return args, nil
	})
	p := newTestPlanner(t, "", nil, ts)
	r := runPlan(t, p, `{"tasks": [
		{"id": "t1", "tool": "lookup", "args": {}},
		{"id": "t2", "tool": "echo", "args": {"whole": "$t1", "age": "${t1.user.age}", "tag": "${t1.tags.1}",
		                                      "text": "name=${t1.user.name}, age ${t1.user.age}"}}]}`, nil)

	if r.Status != PlanSucceeded || r.Err() != nil || len(r.Tasks) != 2 {
		t.Fatalf("run = %s", r)
	}
	t2 := mustTask(t, r, "t2")
	want := `{"whole": {"user": {"name": "ada", "age": 36}, "tags": ["x", "y"]}, "age": 36, "tag": "y",
	          "text": "name=ada, age 36"}`
	if t2.Status != TaskDone || !jsonEqual(t, t2.Output, want) {
		t.Fatalf("t2 = %+v, output %s", t2, t2.Output)
	}
	// The reference alone made t1 a dependency: t2 started after t1 finished.
	if t1 := mustTask(t, r, "t1"); t1.Status != TaskDone || t2.StartedUS < t1.FinishedUS || t1.Attempts != 1 {
		t.Fatalf("t1 = %+v, t2 = %+v", t1, t2)
	}
	mu.Lock()
	defer mu.Unlock()
	if echoed != (ToolCallInfo{CallID: "t2", Tool: "echo"}) {
		t.Fatalf("the tool's call = %+v", echoed)
	}
	if r.RunID == "" || len(r.Plans) != 1 || r.DurationUS <= 0 || r.Task("nope") != nil {
		t.Fatalf("run = %s", r)
	}
	var raw map[string]any
	if json.Unmarshal(r.Raw, &raw) != nil || raw["status"] != PlanSucceeded {
		t.Fatalf("raw = %s", r.Raw)
	}
}

func TestIndependentTasksRunInParallelUpToMaxParallel(t *testing.T) {
	ts := newTestToolset(t, "")
	addGoTool(t, ts, "sleep", sleeper(300*time.Millisecond))
	const plan = `{"tasks": [{"id": "a", "tool": "sleep", "args": {"n": 1}},
		{"id": "b", "tool": "sleep", "args": {"n": 2}}]}`

	start := time.Now()
	r := runPlan(t, newTestPlanner(t, "", nil, ts), plan, nil)
	if took := time.Since(start); took >= 550*time.Millisecond {
		t.Fatalf("two 300 ms tasks took %v: they did not run at once: %s", took, r)
	}
	a, b := mustTask(t, r, "a"), mustTask(t, r, "b")
	if r.Status != PlanSucceeded || a.Status != TaskDone || b.Status != TaskDone || !jsonEqual(t, b.Output, `{"n": 2}`) {
		t.Fatalf("run = %s", r)
	}
	if a.StartedUS >= b.FinishedUS || b.StartedUS >= a.FinishedUS || a.DurationUS < 290000 {
		t.Fatalf("the tasks did not overlap: a = %+v, b = %+v", a, b)
	}

	start = time.Now()
	r = runPlan(t, newTestPlanner(t, `{"max_parallel": 1}`, nil, ts), plan, nil)
	if took := time.Since(start); took < 600*time.Millisecond || r.Status != PlanSucceeded {
		t.Fatalf("with max_parallel 1 the run took %v: %s", took, r)
	}
}

func TestValidateNamesAnUnknownToolAndTheTasksOfACycle(t *testing.T) {
	ts, _ := addToolset(t)
	p := newTestPlanner(t, "", nil, ts)
	issues, err := p.Validate(json.RawMessage(`{"tasks": [
		{"id": "t1", "tool": "serch", "args": {}},
		{"id": "a", "tool": "add", "args": {"a": 1, "b": "$b"}},
		{"id": "b", "tool": "add", "args": {"a": 1, "b": 2}, "deps": ["a"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var unknown, cycle *PlanIssue
	for i, issue := range issues {
		switch {
		case issue.Task == "t1" && strings.Contains(issue.Problem, `"serch"`):
			unknown = &issues[i]
		case strings.Contains(issue.Problem, "cycle"):
			cycle = &issues[i]
		}
	}
	if unknown == nil || cycle == nil || len(issues) != 2 {
		t.Fatalf("issues = %+v", issues)
	}
	if !strings.HasPrefix(unknown.String(), `t1: `) || !strings.Contains(unknown.String(), `unknown tool "serch"`) {
		t.Fatalf("issue text = %q", unknown.String())
	}
	if text := cycle.String(); !strings.Contains(text, "a -> b") && !strings.Contains(text, "b -> a") {
		t.Fatalf("the cycle's issue does not name its tasks: %q", text)
	}

	issues, err = p.Validate(json.RawMessage(`{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}}]}`))
	if err != nil || issues == nil || len(issues) != 0 {
		t.Fatalf("a valid plan: %+v, %v", issues, err)
	}
	issues, err = p.Validate(json.RawMessage(`{"tasks": [{"id": "t1", "tool": "add", "args": {"a": "one", "b": 2}}]}`))
	if err != nil || len(issues) != 1 || issues[0].Task != "t1" {
		t.Fatalf("arguments breaking the schema: %+v, %v", issues, err)
	}
	// A plan not shaped like one is an error naming the place.
	_, err = p.Validate(json.RawMessage(`{"tasks": [{"id": "t1", "tool": "add"}, {"tool": "add"}]}`))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "tasks[1].id") {
		t.Fatalf("a shapeless plan: %v", err)
	}
	if _, err := p.Validate(json.RawMessage(`not json`)); err == nil {
		t.Fatal("text that is not JSON was accepted")
	}
}

func TestAnInvalidPlanRunsNothingAndSaysWhy(t *testing.T) {
	ts, tool := addToolset(t)
	p := newTestPlanner(t, "", nil, ts)
	r := runPlan(t, p, `{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}},
		{"id": "t2", "tool": "serch", "args": {}}, {"id": "t3", "tool": "llm", "args": {"prompt": "hi"}}]}`, nil)
	if r.Status != PlanInvalid || r.Error == nil || r.Error.Code != "invalid_argument" {
		t.Fatalf("run = %s", r)
	}
	if !strings.Contains(r.Error.Message, `t2: unknown tool "serch"`) || !strings.Contains(r.Error.Message, "t3: ") {
		t.Fatalf("the error does not list every problem: %q", r.Error.Message)
	}
	if !errors.Is(r.Err(), ErrInvalidArgument) {
		t.Fatalf("Err() = %v", r.Err())
	}
	for _, task := range r.Tasks {
		if task.Status != TaskPending || task.StartedUS != 0 {
			t.Fatalf("task %+v of an invalid plan", task)
		}
	}
	if len(r.Tasks) != 3 || tool.calls.Load() != 0 {
		t.Fatalf("tasks %+v, the tool ran %d times", r.Tasks, tool.calls.Load())
	}
	// A plan not even shaped like one is an error, not a run.
	if r, err := p.Run(context.Background(), json.RawMessage(`{"tasks": {}}`), nil); r != nil || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a shapeless plan: %v, %v", r, err)
	}
}

func TestAFailedTaskSkipsItsDependentsAndTheOthersGoOn(t *testing.T) {
	ts := newTestToolset(t, "")
	addGoTool(t, ts, "fail", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New("the disk is on fire")
	})
	var okCalls atomic.Int32
	addGoTool(t, ts, "ok", func(context.Context, json.RawMessage) (any, error) {
		okCalls.Add(1)
		return "fine", nil
	})
	p := newTestPlanner(t, `{"failure_policy": "skip_dependents"}`, nil, ts)
	r := runPlan(t, p, `{"tasks": [{"id": "t1", "tool": "fail", "args": {}},
		{"id": "t2", "tool": "ok", "args": {"in": "$t1"}},
		{"id": "t3", "tool": "ok", "args": {}, "deps": ["t2"]},
		{"id": "t4", "tool": "ok", "args": {}}]}`, nil)

	if r.Status != PlanFailed || r.Error == nil || !strings.Contains(r.Error.Message, "t1") {
		t.Fatalf("run = %s", r)
	}
	if t1 := mustTask(t, r, "t1"); t1.Status != TaskFailed || !strings.Contains(t1.Error, "the disk is on fire") ||
		t1.Attempts != 1 {
		t.Fatalf("t1 = %+v", t1)
	}
	for _, id := range []string{"t2", "t3"} {
		if task := mustTask(t, r, id); task.Status != TaskSkipped || task.Error == "" || task.StartedUS != 0 {
			t.Fatalf("%s = %+v", id, task)
		}
	}
	if t4 := mustTask(t, r, "t4"); t4.Status != TaskDone || string(t4.Output) != `"fine"` {
		t.Fatalf("t4 = %+v", t4)
	}
	if okCalls.Load() != 1 {
		t.Fatalf("the ok tool ran %d times", okCalls.Load())
	}
}

func TestSolveAnswersAGoalWithAScriptedModel(t *testing.T) {
	ts, tool := addToolset(t)
	plan, _ := json.Marshal(`{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 2, "b": 3}},
		{"id": "t2", "tool": "llm", "args": {"prompt": "Say ${t1.sum} in words"}}]}`)
	model := scriptedModel(t, `{"provider": "scripted", "responses": [
		{"content": `+string(plan)+`, "usage": {"input_tokens": 100, "output_tokens": 40}},
		{"content": "five", "usage": {"input_tokens": 10, "output_tokens": 1}},
		{"content": "{\"answer\": \"2 + 3 is five\"}", "usage": {"input_tokens": 50, "output_tokens": 8}}]}`)
	p := newTestPlanner(t, "", model, ts)
	r, err := p.Solve(context.Background(), "What is 2 + 3, in words?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != PlanSucceeded || r.Answer != "2 + 3 is five" || r.Err() != nil || r.Replans != 0 {
		t.Fatalf("run = %s", r)
	}
	if t1 := mustTask(t, r, "t1"); t1.Status != TaskDone || !jsonEqual(t, t1.Output, `{"sum": 5}`) {
		t.Fatalf("t1 = %+v", t1)
	}
	if t2 := mustTask(t, r, "t2"); t2.Status != TaskDone || t2.Tool != "llm" || string(t2.Output) != `"five"` {
		t.Fatalf("t2 = %+v", t2)
	}
	if len(r.Plans) != 1 || !strings.Contains(string(r.Plans[0]), `"add"`) {
		t.Fatalf("plans = %s", r.Plans)
	}
	if r.Usage != (Usage{InputTokens: 160, OutputTokens: 49}) || tool.calls.Load() != 1 {
		t.Fatalf("usage %+v, the tool ran %d times", r.Usage, tool.calls.Load())
	}

	// Without a model there is nothing to plan with.
	noModel := newTestPlanner(t, "", nil, ts)
	if r, err := noModel.Solve(context.Background(), "anything", nil); r != nil || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Solve without a model = %v, %v", r, err)
	}
}

func TestPlanReasksTheModelWithTheProblemsOfAnInvalidPlan(t *testing.T) {
	ts, _ := addToolset(t)
	var mu sync.Mutex
	var requests []ChatRequest
	answers := []string{
		`{"tasks": [{"id": "t1", "tool": "serch", "args": {}}]}`,
		`{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}}]}`,
	}
	model, err := NewCallbackModel(func(req ChatRequest) (ChatResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, req)
		answer := answers[0]
		if len(requests) > 1 {
			answer = answers[1]
		}
		return ChatResponse{Message: AssistantMessage(answer)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	p := newTestPlanner(t, "", model, ts)
	plan, err := p.Plan(context.Background(), "add one and two")
	if err != nil {
		t.Fatal(err)
	}
	if issues, err := p.Validate(plan); err != nil || len(issues) != 0 || !strings.Contains(string(plan), `"add"`) {
		t.Fatalf("plan %s: %+v, %v", plan, issues, err)
	}
	mu.Lock()
	if len(requests) != 2 || !strings.Contains(requests[0].Messages[0].Content, "add one and two") {
		t.Fatalf("requests = %+v", requests)
	}
	last := requests[1].Messages[len(requests[1].Messages)-1]
	if last.Role != "user" || !strings.Contains(last.Content, `unknown tool "serch"`) {
		t.Fatalf("the model was not told the problem: %+v", last)
	}
	mu.Unlock()

	// A model that never gets it right: the last problems come back as a parse error.
	wrong := scriptedModel(t, `{"provider": "scripted", "responses": [
		{"content": "{\"tasks\": [{\"id\": \"t1\", \"tool\": \"serch\"}]}"},
		{"content": "no plan today"}]}`)
	_, err = newTestPlanner(t, `{"max_plan_attempts": 2}`, wrong, ts).Plan(context.Background(), "add")
	if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "no plan today") {
		t.Fatalf("err = %v", err)
	}
	if _, err := newTestPlanner(t, "", nil, ts).Plan(context.Background(), "add"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Plan without a model: %v", err)
	}
}

func TestCancellingTheContextStopsPlanningAtOnce(t *testing.T) {
	ts, _ := addToolset(t)
	slow := scriptedModel(t, `{"provider": "scripted", "delay_ms": 30000, "responses": [{"content": "{}"}]}`)
	p := newTestPlanner(t, "", slow, ts)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := p.Plan(ctx, "add")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("cancelled planning took %v", elapsed)
	}
	deadline, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	if _, err := p.Plan(deadline, "add"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestAJournalledRunResumesWithoutRunningDoneTasksAgain(t *testing.T) {
	config := fmt.Sprintf(`{"journal": %q}`, filepath.Join(t.TempDir(), "runs.sqlite"))
	ts := newTestToolset(t, "")
	var fetches, tries atomic.Int32
	addGoTool(t, ts, "fetch", func(context.Context, json.RawMessage) (any, error) {
		fetches.Add(1)
		return map[string]int{"n": 41}, nil
	})
	addGoTool(t, ts, "flaky", func(_ context.Context, args json.RawMessage) (any, error) {
		if tries.Add(1) == 1 {
			return nil, errors.New("the service is down")
		}
		return args, nil
	})
	const plan = `{"tasks": [{"id": "t1", "tool": "fetch", "args": {}},
		{"id": "t2", "tool": "flaky", "args": {"n": "${t1.n}"}}]}`
	opts := &RunOptions{RunID: "resume-me"}

	first, err := NewPlanner(config, nil, ts)
	if err != nil {
		t.Fatal(err)
	}
	r := runPlan(t, first, plan, opts)
	first.Close() // as if the process had stopped
	if r.Status != PlanFailed || r.RunID != "resume-me" || mustTask(t, r, "t2").Status != TaskFailed {
		t.Fatalf("first run = %s", r)
	}

	// A new planner on the same journal: the run id resumes the run, the journal has the plan.
	second := newTestPlanner(t, config, nil, ts)
	r, err = second.Run(context.Background(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != PlanSucceeded || r.RunID != "resume-me" {
		t.Fatalf("resumed run = %s", r)
	}
	t1, t2 := mustTask(t, r, "t1"), mustTask(t, r, "t2")
	if t1.Status != TaskDone || !t1.Reloaded || !jsonEqual(t, t1.Output, `{"n": 41}`) {
		t.Fatalf("t1 = %+v", t1)
	}
	if t2.Status != TaskDone || t2.Reloaded || !jsonEqual(t, t2.Output, `{"n": 41}`) {
		t.Fatalf("t2 = %+v", t2)
	}
	if fetches.Load() != 1 || tries.Load() != 2 {
		t.Fatalf("fetch ran %d times, flaky %d", fetches.Load(), tries.Load())
	}
	// The same id with another plan is refused rather than mixed up.
	_, err = second.Run(context.Background(), json.RawMessage(`{"tasks": [{"id": "t9", "tool": "fetch", "args": {}}]}`), opts)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "resume-me") {
		t.Fatalf("another plan under the same id: %v", err)
	}
}

func TestCancellingTheContextStopsAPlanRunPromptly(t *testing.T) {
	ts := newTestToolset(t, "")
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addGoTool(t, ts, "wait", func(ctx context.Context, _ json.RawMessage) (any, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
		case <-release:
		}
		return "too late", nil
	})
	var laterCalls atomic.Int32
	addGoTool(t, ts, "later", func(context.Context, json.RawMessage) (any, error) {
		laterCalls.Add(1)
		return nil, nil
	})
	p := newTestPlanner(t, "", nil, ts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt atomic.Int64
	go func() {
		<-started
		cancelledAt.Store(time.Now().UnixNano())
		cancel()
	}()
	r, err := p.Run(ctx, json.RawMessage(`{"tasks": [{"id": "slow", "tool": "wait", "args": {}},
		{"id": "next", "tool": "later", "args": {}, "deps": ["slow"]}]}`), nil)
	if took := time.Since(time.Unix(0, cancelledAt.Load())); took > time.Second {
		t.Fatalf("the run took %v after the cancellation", took)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v", err)
	}
	if r == nil || r.Status != PlanCancelled || r.Error == nil || r.Error.Code != "cancelled" {
		t.Fatalf("run = %s", r)
	}
	if slow := mustTask(t, r, "slow"); slow.Status != TaskCancelled {
		t.Fatalf("slow = %+v", slow)
	}
	if next := mustTask(t, r, "next"); next.Status != TaskCancelled || next.StartedUS != 0 || laterCalls.Load() != 0 {
		t.Fatalf("next = %+v, ran %d times", next, laterCalls.Load())
	}
}

func TestAContextDeadlineEndsAPlanRunWithATimeout(t *testing.T) {
	ts := newTestToolset(t, "")
	// The run's deadline passes while its only task runs: the run is a timeout, whichever of
	// keel's timers (the run's, or the tool call's own) notices first.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addGoTool(t, ts, "sleep", func(context.Context, json.RawMessage) (any, error) {
		<-release
		return nil, nil
	})
	p := newTestPlanner(t, "", nil, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := p.Run(ctx, json.RawMessage(`{"tasks": [{"id": "t1", "tool": "sleep", "args": {}}]}`), nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, run %s", err, r)
	}
	if r == nil || r.Status != PlanFailed || r.Error == nil || r.Error.Code != "timeout" {
		t.Fatalf("run = %s", r)
	}
}

func TestAnEndedContextStartsNoPlanRun(t *testing.T) {
	ts, tool := addToolset(t)
	p := newTestPlanner(t, "", nil, ts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := p.Run(ctx, json.RawMessage(`{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}}]}`), nil)
	if r != nil || !errors.Is(err, context.Canceled) || tool.calls.Load() != 0 {
		t.Fatalf("Run = %v, %v; the tool ran %d times", r, err, tool.calls.Load())
	}
}

func TestPlannerOnEventReceivesTaskAndRunEvents(t *testing.T) {
	ts, _ := addToolset(t)
	p := newTestPlanner(t, "", nil, ts)
	var mu sync.Mutex
	var events []string
	if err := p.OnEvent(func(e []byte) {
		mu.Lock()
		events = append(events, string(e))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	const plan = `{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}},
		{"id": "t2", "tool": "add", "args": {"a": "${t1.sum}", "b": 4}}]}`
	r := runPlan(t, p, plan, &RunOptions{RunID: "evented"})
	if r.Status != PlanSucceeded || !jsonEqual(t, mustTask(t, r, "t2").Output, `{"sum": 7}`) {
		t.Fatalf("run = %s", r)
	}
	mu.Lock()
	states := map[string][]string{}
	var runs []string
	for _, e := range events {
		var event struct {
			Type   string `json:"type"`
			RunID  string `json:"run_id"`
			ID     string `json:"id"`
			State  string `json:"state"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(e), &event); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		if event.RunID != "evented" {
			t.Errorf("event without the run's id: %s", e)
		}
		switch event.Type {
		case "plan.task":
			states[event.ID] = append(states[event.ID], event.State)
		case "plan.run":
			runs = append(runs, event.Status)
		}
	}
	seen := len(events)
	mu.Unlock()
	want := []string{"queued", "started", "finished"}
	if !reflect.DeepEqual(states["t1"], want) || !reflect.DeepEqual(states["t2"], want) {
		t.Fatalf("task states = %v", states)
	}
	if !reflect.DeepEqual(runs, []string{PlanSucceeded}) {
		t.Fatalf("run events = %v", runs)
	}
	if err := p.OnEvent(nil); err != nil {
		t.Fatal(err)
	}
	runPlan(t, p, plan, nil)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != seen {
		t.Fatalf("events after OnEvent(nil): %v", events[seen:])
	}
}

func TestPlannerCloseIsSafeTwiceAndLaterCallsFail(t *testing.T) {
	ts, _ := addToolset(t)
	model := scriptedModel(t, `{"provider": "scripted", "responses": []}`)
	p, err := NewPlanner("", model, ts)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	const plan = `{"tasks": [{"id": "t1", "tool": "add", "args": {"a": 1, "b": 2}}]}`
	if r, err := p.Run(context.Background(), json.RawMessage(plan), nil); r != nil || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Run after Close = %v, %v", r, err)
	}
	if r, err := p.Solve(context.Background(), "x", nil); r != nil || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Solve after Close = %v, %v", r, err)
	}
	if _, err := p.Plan(context.Background(), "x"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Plan after Close = %v", err)
	}
	if _, err := p.Validate(json.RawMessage(plan)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Validate after Close = %v", err)
	}
	if err := p.OnEvent(func([]byte) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("OnEvent after Close = %v", err)
	}
	model.Close()
	if _, err := NewPlanner("", model, ts); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewPlanner with a closed model = %v", err)
	}
	ts.Close()
	if _, err := NewPlanner("", nil, ts); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewPlanner with a closed toolset = %v", err)
	}
}

// The planner keeps its Go tools after the toolset is closed and collected, and a run in flight
// finishes after the planner is closed.
func TestAPlannerOutlivesItsToolsetAndARunOutlivesThePlanner(t *testing.T) {
	ts, err := NewToolset("")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	addGoTool(t, ts, "gate", func(context.Context, json.RawMessage) (any, error) {
		started <- struct{}{}
		<-release
		return "through", nil
	})
	p, err := NewPlanner("", nil, ts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Close()
	runtime.GC()
	runtime.GC()

	type outcome struct {
		r   *PlanRun
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := p.Run(context.Background(), json.RawMessage(`{"tasks": [{"id": "t1", "tool": "gate", "args": {}}]}`), nil)
		done <- outcome{r, err}
	}()
	<-started
	p.Close()
	runtime.GC()
	close(release)
	select {
	case o := <-done:
		if o.err != nil || o.r.Status != PlanSucceeded || string(mustTask(t, o.r, "t1").Output) != `"through"` {
			t.Fatalf("run = %v, %v", o.r, o.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not finish after Close")
	}
}

func TestBadPlannerConfigurationsNameTheirPath(t *testing.T) {
	for config, path := range map[string]string{
		`{"max_parallel": 0}`:              "max_parallel",
		`{"failure_policy": "shrug"}`:      "failure_policy",
		`{"retry": {"max_attempts": "x"}}`: "retry.max_attempts",
		`{"journl": "runs.sqlite"}`:        "journl",
	} {
		p, err := NewPlanner(config, nil, nil)
		if p != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", config, err)
		}
	}
	if _, err := NewPlanner(`{"max_parallel": `, nil, nil); err == nil {
		t.Error("malformed JSON was accepted")
	}
}

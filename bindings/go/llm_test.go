package keel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func scriptedModel(t *testing.T, config string) *Model {
	t.Helper()
	m, err := NewModel(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func userRequest(text string) ChatRequest {
	return ChatRequest{Messages: []Message{UserMessage(text)}}
}

var weatherTool = ToolSpec{
	Name:        "get_weather",
	Description: "The weather in a city",
	Parameters:  json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}}`),
}

func TestScriptedModelAnswers(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "responses": [
		{"content": "Hello there", "usage": {"input_tokens": 3, "output_tokens": 2}}]}`)
	r, err := m.Chat(context.Background(), userRequest("Hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text() != "Hello there" || r.Message.Role != "assistant" || r.FinishReason != "stop" {
		t.Fatalf("response = %+v", r)
	}
	if r.Usage.Total() != 5 || r.Model != "scripted" {
		t.Fatalf("usage/model = %+v %q", r.Usage, r.Model)
	}
}

func TestToolCallRoundTrip(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "responses": [
		{"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
		{"content": "Sunny in Paris."}]}`)
	temp := 0.0
	req := ChatRequest{
		Messages:    []Message{SystemMessage("Be terse."), UserMessage("Weather in Paris?")},
		Tools:       []ToolSpec{weatherTool},
		ToolChoice:  "auto",
		Temperature: &temp,
		MaxTokens:   50,
	}
	first, err := m.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.FinishReason != "tool_calls" || len(first.Message.ToolCalls) != 1 {
		t.Fatalf("first = %+v", first)
	}
	call := first.Message.ToolCalls[0]
	var args struct{ City string }
	if err := json.Unmarshal(call.Arguments, &args); err != nil || args.City != "Paris" || call.ID != "call_1" ||
		call.Name != "get_weather" || !call.ArgumentsValid() {
		t.Fatalf("call = %+v (%v)", call, err)
	}
	req.Messages = append(req.Messages, first.Message, ToolResultMessage(call.ID, call.Name, `{"sky": "clear"}`))
	second, err := m.Chat(context.Background(), req)
	if err != nil || second.Text() != "Sunny in Paris." {
		t.Fatalf("second = %+v %v", second, err)
	}
}

func TestChatStreamDeliversDeltasInOrder(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "responses": [{"content": "one two three",
		"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]}]}`)
	var deltas []Delta
	r, err := m.ChatStream(context.Background(), userRequest("go"), func(d Delta) { deltas = append(deltas, d) })
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, d := range deltas[:3] {
		if d.Kind != "text" {
			t.Fatalf("delta = %+v", d)
		}
		text.WriteString(d.Text)
	}
	if text.String() != "one two three" || text.String() != r.Text() {
		t.Fatalf("text = %q, response %q", text.String(), r.Text())
	}
	last := deltas[len(deltas)-1]
	if len(deltas) != 4 || last.Kind != "tool_call" || last.ID != "c1" || last.Name != "get_weather" ||
		last.Arguments != `{"city":"Oslo"}` {
		t.Fatalf("deltas = %+v", deltas)
	}
}

// Cancelling the context returns at once with an error matching both context.Canceled and
// ErrCancelled; the model stays usable.
func TestContextCancellationReturnsPromptly(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "delay_ms": 5000, "responses": [{"content": "late"}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.Chat(ctx, userRequest("x"))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	var kerr *Error
	if !errors.As(err, &kerr) || kerr.Code != Cancelled {
		t.Fatalf("errors.As = %v", kerr)
	}
}

func TestAnAlreadyCancelledContextStartsNothing(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "responses": [{"content": "kept"}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Chat(ctx, userRequest("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if r, err := m.Chat(context.Background(), userRequest("x")); err != nil || r.Text() != "kept" {
		t.Fatalf("the response was used up: %v %v", r, err)
	}
}

func TestContextDeadlineBoundsTheCall(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "delay_ms": 5000, "responses": [{"content": "late"}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Chat(ctx, userRequest("x"))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestCallbackModel(t *testing.T) {
	var seen []ChatRequest
	var mu sync.Mutex
	m, err := NewCallbackModel(func(req ChatRequest) (ChatResponse, error) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		return ChatResponse{Message: Message{Content: "echo: " + req.Messages[len(req.Messages)-1].Content}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	req := userRequest("ping")
	req.MaxTokens = 7
	r, err := m.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Text() != "echo: ping" || r.Message.Role != "assistant" || r.FinishReason != "stop" {
		t.Fatalf("response = %+v", r)
	}
	if len(seen) != 1 || seen[0].MaxTokens != 7 {
		t.Fatalf("seen = %+v", seen)
	}
}

func TestCallbackModelToolCalls(t *testing.T) {
	m, _ := NewCallbackModel(func(req ChatRequest) (ChatResponse, error) {
		return ChatResponse{Message: AssistantMessage("", ToolCall{ID: "t1", Name: "get_weather",
			Arguments: json.RawMessage(`{"city": "Rome"}`)})}, nil
	})
	defer m.Close()
	r, err := m.Chat(context.Background(), ChatRequest{Messages: []Message{UserMessage("?")}, Tools: []ToolSpec{weatherTool}})
	if err != nil {
		t.Fatal(err)
	}
	if r.FinishReason != "tool_calls" || r.Message.ToolCalls[0].Name != "get_weather" {
		t.Fatalf("response = %+v", r)
	}
}

func TestCallbackModelErrorsReachTheCaller(t *testing.T) {
	m, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) {
		return ChatResponse{}, errors.New("the backend is down")
	})
	defer m.Close()
	_, err := m.Chat(context.Background(), userRequest("x"))
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "the backend is down") {
		t.Fatalf("err = %v", err)
	}

	coded, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) {
		return ChatResponse{}, &Error{Code: Unavailable, Message: "circuit open upstream"}
	})
	defer coded.Close()
	if _, err := coded.Chat(context.Background(), userRequest("x")); !errors.Is(err, ErrUnavailable) ||
		!strings.Contains(err.Error(), "circuit open upstream") {
		t.Fatalf("err = %v", err)
	}

	panicky, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) { panic("boom") })
	defer panicky.Close()
	if _, err := panicky.Chat(context.Background(), userRequest("x")); !errors.Is(err, ErrProvider) ||
		!strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
}

// Closing a callback model while its function is still running is safe: the call completes.
func TestCallbackModelClosedDuringACall(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	m, _ := NewCallbackModel(func(ChatRequest) (ChatResponse, error) {
		close(started)
		<-release
		return ChatResponse{Message: Message{Content: "finished"}}, nil
	})
	result := make(chan error, 1)
	go func() {
		r, err := m.Chat(context.Background(), userRequest("x"))
		if err == nil && r.Text() != "finished" {
			err = fmt.Errorf("text = %q", r.Text())
		}
		result <- err
	}()
	<-started
	m.Close()
	close(release)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if _, err := m.Chat(context.Background(), userRequest("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("closed model: err = %v", err)
	}
}

func TestBadModelConfigIsInvalidConfig(t *testing.T) {
	_, err := NewModel(`{"provider": "scripted", "responses": [{"tool_calls": "nope"}]}`)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "responses[0].tool_calls") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewModel(`{"provider": "mystery"}`); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewModel(`{not json`); !errors.Is(err, ErrParse) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadRequestNamesTheField(t *testing.T) {
	m := scriptedModel(t, `{"provider": "scripted", "responses": [{"content": "x"}]}`)
	temp := 5.0
	req := userRequest("x")
	req.Temperature = &temp
	if _, err := m.Chat(context.Background(), req); !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "temperature") {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentChats(t *testing.T) {
	m, _ := NewCallbackModel(func(req ChatRequest) (ChatResponse, error) {
		return ChatResponse{Message: Message{Content: strings.ToUpper(req.Messages[0].Content)}}, nil
	})
	defer m.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				text := fmt.Sprintf("g%d-%d", g, i)
				r, err := m.Chat(context.Background(), userRequest(text))
				if err != nil || r.Text() != strings.ToUpper(text) {
					errs <- fmt.Errorf("%s: %v %v", text, r, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestHashingEmbedder(t *testing.T) {
	e, err := NewEmbedder(`{"provider": "hashing", "dimension": 64}`)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dimension() != 64 {
		t.Fatalf("dimension = %d", e.Dimension())
	}
	v, err := e.Embed("refund my last invoice")
	if err != nil || len(v) != 64 {
		t.Fatalf("embed = %d %v", len(v), err)
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if math.Abs(math.Sqrt(norm)-1) > 1e-5 {
		t.Fatalf("norm = %v", math.Sqrt(norm))
	}
	again, _ := e.Embed("refund my last invoice")
	for i := range v {
		if v[i] != again[i] {
			t.Fatal("not deterministic")
		}
	}
	texts := []string{"billing question", "Café ☕ naïve", "", "reset my password"}
	batch, err := e.EmbedBatch(texts)
	if err != nil || len(batch) != len(texts) {
		t.Fatalf("batch = %d %v", len(batch), err)
	}
	for i, text := range texts {
		single, _ := e.Embed(text)
		for j := range single {
			if math.Abs(float64(single[j]-batch[i][j])) > 1e-6 {
				t.Fatalf("%q: batch differs from single at %d", text, j)
			}
		}
	}
}

func TestDefaultEmbedderIsHashing(t *testing.T) {
	e, err := NewEmbedder("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dimension() != 1024 {
		t.Fatalf("dimension = %d", e.Dimension())
	}
}

func TestBadEmbedderConfigIsInvalidConfig(t *testing.T) {
	if _, err := NewEmbedder(`{"provider": "word2vec"}`); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
}

func TestCallbackEmbedder(t *testing.T) {
	var calls [][]string
	e, err := NewCallbackEmbedder(3, func(texts []string) ([][]float32, error) {
		calls = append(calls, texts)
		out := make([][]float32, len(texts))
		for i, text := range texts {
			out[i] = []float32{float32(len(text)), 1, 0}
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dimension() != 3 {
		t.Fatalf("dimension = %d", e.Dimension())
	}
	v, err := e.Embed("abcd")
	if err != nil || fmt.Sprint(v) != "[4 1 0]" {
		t.Fatalf("embed = %v %v", v, err)
	}
	batch, err := e.EmbedBatch([]string{"a", "bb"})
	if err != nil || fmt.Sprint(batch) != "[[1 1 0] [2 1 0]]" {
		t.Fatalf("batch = %v %v", batch, err)
	}
	if fmt.Sprint(calls) != "[[abcd] [a bb]]" {
		t.Fatalf("calls = %v", calls)
	}
}

func TestCallbackEmbedderErrors(t *testing.T) {
	wrong, _ := NewCallbackEmbedder(4, func(texts []string) ([][]float32, error) {
		return [][]float32{{1, 2}}, nil
	})
	defer wrong.Close()
	if _, err := wrong.Embed("x"); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "expected 4") {
		t.Fatalf("err = %v", err)
	}
	failing, _ := NewCallbackEmbedder(2, func([]string) ([][]float32, error) {
		return nil, errors.New("no GPU today")
	})
	defer failing.Close()
	if _, err := failing.EmbedBatch([]string{"x"}); !errors.Is(err, ErrProvider) ||
		!strings.Contains(err.Error(), "no GPU today") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewCallbackEmbedder(0, func([]string) ([][]float32, error) { return nil, nil }); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("dimension 0: err = %v", err)
	}
}

func TestConcurrentEmbeds(t *testing.T) {
	e, _ := NewEmbedder(`{"provider": "hashing", "dimension": 32}`)
	defer e.Close()
	want, _ := e.Embed("shared text")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				v, err := e.Embed("shared text")
				if err != nil || fmt.Sprint(v) != fmt.Sprint(want) {
					errs <- fmt.Errorf("embed: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// testEndpoint starts keel_test_endpoint with the given replies and returns its base URL; the
// test is skipped when the program is not built.
func testEndpoint(t *testing.T, replies string) string {
	t.Helper()
	binary := os.Getenv("KEEL_TEST_ENDPOINT")
	if binary == "" {
		binary = filepath.Join("..", "..", "build", "bin", "keel_test_endpoint")
	}
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("keel_test_endpoint not found at %s (set KEEL_TEST_ENDPOINT or build the tests)", binary)
	}
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"replies": `+replies+`}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, script)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the endpoint exits when its stdin closes
		_ = cmd.Wait()
	})
	var hello struct {
		BaseURL string `json:"base_url"`
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || json.Unmarshal([]byte(line), &hello) != nil {
		t.Fatalf("endpoint said %q: %v", line, err)
	}
	return hello.BaseURL
}

func TestOpenAIProviderAgainstTheTestEndpoint(t *testing.T) {
	base := testEndpoint(t, `[
		{"status": 503, "json": {"error": {"message": "overloaded", "type": "server_error"}}},
		{"json": {"id": "c1", "object": "chat.completion", "model": "gpt-test",
		          "choices": [{"index": 0, "finish_reason": "stop",
		                       "message": {"role": "assistant", "content": "Hello from the endpoint"}}],
		          "usage": {"prompt_tokens": 9, "completion_tokens": 4}}},
		{"status": 400, "json": {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}}]`)
	m := scriptedModel(t, `{"provider": "openai", "base_url": "`+base+`/v1", "model": "gpt-test",
		"api_key": "sk-test", "retry": {"max_attempts": 3, "base_delay_ms": 10}}`)
	r, err := m.Chat(context.Background(), userRequest("Hello?"))
	if err != nil || r.Text() != "Hello from the endpoint" || r.Usage.InputTokens != 9 {
		t.Fatalf("after a 503: %+v %v", r, err)
	}
	_, err = m.Chat(context.Background(), userRequest("again"))
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "400") ||
		!strings.Contains(err.Error(), "invalid_request_error") || !strings.Contains(err.Error(), "max_tokens is too large") {
		t.Fatalf("err = %v", err)
	}
}

"""keel.ChatModel and keel.Embedder from Python: scripted and callback models, streaming,
errors, timeouts, embedders, and the OpenAI provider against the scripted HTTP test endpoint."""

import _thread
import gc
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import keel
from keel import ChatModel, ChatResponse, Delta, Embedder, Message, ToolCall, ToolSpec


def scripted(*responses, **extra):
    return ChatModel.from_config({"provider": "scripted", "responses": list(responses), **extra})


WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


# ---- Scripted models ---------------------------------------------------------------------------


def test_scripted_model_answers_a_prompt():
    with scripted({"content": "Hello there", "usage": {"input_tokens": 3, "output_tokens": 2}}) as model:
        response = model.chat("Hi")
    assert isinstance(response, ChatResponse)
    assert response.text == "Hello there"
    assert response.message.role == "assistant"
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == 3 and response.usage.total == 5
    assert response.model == "scripted"
    assert "Hello there" in response._repr_html_()


def test_tool_call_round_trip():
    model = scripted(
        {"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"content": "It is sunny in Paris."},
    )
    messages = [Message.system("You are terse."), Message.user("Weather in Paris?")]
    first = model.chat(messages, tools=[WEATHER], tool_choice="auto", temperature=0.0, max_tokens=50)
    assert first.finish_reason == "tool_calls"
    call = first.tool_calls[0]
    assert isinstance(call, ToolCall)
    assert (call.id, call.name, call.arguments) == ("call_1", "get_weather", {"city": "Paris"})
    assert call.arguments_valid
    messages += [first.message, Message.tool_result(call.id, call.name, {"sky": "clear", "c": 21})]
    second = model.chat(messages, tools=[WEATHER])
    assert second.text == "It is sunny in Paris."
    assert "get_weather" in first._repr_html_()


def test_a_full_request_dict_is_accepted():
    model = scripted({"content": "ok"})
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stop": ["\n"],
               "response_format": "json", "tool_choice": "none"}
    assert model.chat(request).text == "ok"


def test_a_bad_request_names_the_field():
    model = scripted({"content": "never"})
    with pytest.raises(keel.InvalidConfigError, match="temperature"):
        model.chat("hi", temperature=5.0)


def test_an_exhausted_script_is_a_provider_error():
    model = scripted({"content": "once"})
    model.chat("1")
    with pytest.raises(keel.ProviderError, match="exhausted"):
        model.chat("2")


def test_a_scripted_error_keeps_its_code_and_message():
    model = scripted({"error": {"code": "limit_exceeded", "message": "too many tokens"}})
    with pytest.raises(keel.LimitExceededError, match="too many tokens"):
        model.chat("hi")


def test_bad_config_raises_invalid_config_with_path():
    with pytest.raises(keel.InvalidConfigError) as info:
        ChatModel.from_config({"provider": "scripted", "responses": [{"tool_calls": "nope"}]})
    assert "responses[0].tool_calls" in str(info.value)
    with pytest.raises(keel.InvalidConfigError, match="provider"):
        ChatModel.from_config({"provider": "mystery"})
    with pytest.raises(keel.ParseError):
        ChatModel.from_config("{not json")


def test_config_from_a_file_path(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"provider": "scripted", "responses": [{"content": "from a file"}]}))
    with ChatModel.from_config(path) as model:
        assert model.chat("x").text == "from a file"
    with ChatModel.from_config(str(path)) as model:
        assert model.chat("x").text == "from a file"
    with pytest.raises(keel.KeelIOError):
        ChatModel.from_config(tmp_path / "missing.json")


def test_a_closed_model_raises():
    model = scripted({"content": "x"})
    model.close()
    model.close()  # twice is fine
    with pytest.raises(keel.InvalidArgumentError, match="closed"):
        model.chat("x")


# ---- Streaming ---------------------------------------------------------------------------------


def test_on_delta_receives_the_text_in_pieces_on_the_calling_thread():
    model = scripted({"content": "one two three"})
    pieces, threads = [], []

    def on_delta(delta):
        pieces.append(delta)
        threads.append(threading.get_ident())

    response = model.chat("count", on_delta=on_delta)
    assert all(isinstance(d, Delta) and d.kind == "text" for d in pieces)
    assert len(pieces) == 3
    assert "".join(d.text for d in pieces) == "one two three" == response.text
    assert set(threads) == {threading.get_ident()}


def test_stream_yields_deltas_then_returns_the_response():
    model = scripted({"content": "alpha beta",
                      "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]})
    stream = model.stream("go", tools=[WEATHER])
    deltas = []
    with pytest.raises(StopIteration) as stop:
        while True:
            deltas.append(next(stream))
    response = stop.value.value
    assert [d.kind for d in deltas] == ["text", "text", "tool_call"]
    assert "".join(d.text for d in deltas) == "alpha beta"
    call = deltas[-1]
    assert (call.index, call.id, call.name, json.loads(call.arguments)) == (0, "c1", "get_weather", {"city": "Oslo"})
    assert response.tool_calls[0].arguments == {"city": "Oslo"}


def test_an_abandoned_stream_cancels_its_call():
    model = scripted({"content": "a b c d e f"}, {"content": "next"})
    stream = model.stream("x")
    assert next(stream).text == "a"
    stream.close()  # cancels, frees, returns at once
    del stream
    gc.collect()
    assert model.chat("y").text == "next"  # the model is still usable


def test_a_stream_dropped_before_it_started_does_nothing():
    model = scripted({"content": "first"})
    model.stream("never iterated")
    gc.collect()
    assert model.chat("x").text == "first"  # the unstarted stream took no response


def test_an_exception_in_on_delta_cancels_and_propagates():
    model = scripted({"content": "a b c"})

    def on_delta(delta):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        model.chat("x", on_delta=on_delta)


# ---- Callback models ---------------------------------------------------------------------------


def test_a_python_function_is_a_model():
    seen = []

    def fn(request):
        seen.append(request)
        return "echo: " + request["messages"][-1]["content"]

    with ChatModel.from_function(fn) as model:
        response = model.chat([Message.user("ping")], max_tokens=7)
    assert response.text == "echo: ping"
    assert response.message.role == "assistant"
    assert seen[0]["max_tokens"] == 7


def test_a_function_model_can_ask_for_tools():
    def fn(request):
        if request["messages"][-1]["role"] == "tool":
            return ChatResponse(Message.assistant("done: " + request["messages"][-1]["content"]))
        return {"tool_calls": [{"id": "t1", "name": "get_weather", "arguments": {"city": "Rome"}}]}

    model = ChatModel.from_function(fn)
    first = model.chat("weather?", tools=[WEATHER])
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls[0].arguments == {"city": "Rome"}
    second = model.chat([Message.user("weather?"), first.message,
                         Message.tool_result("t1", "get_weather", "hot")])
    assert second.text == "done: hot"


def test_an_exception_in_the_function_reaches_the_caller():
    def fn(request):
        raise ValueError("the backend is down")

    model = ChatModel.from_function(fn)
    with pytest.raises(keel.KeelError) as info:
        model.chat("x")
    assert isinstance(info.value, keel.ProviderError)
    assert "ValueError: the backend is down" in str(info.value)


def test_a_keel_error_in_the_function_keeps_its_code():
    def fn(request):
        raise keel.UnavailableError("circuit open upstream")

    with pytest.raises(keel.UnavailableError, match="circuit open upstream"):
        ChatModel.from_function(fn).chat("x")


def test_a_bad_answer_from_the_function_is_an_error():
    with pytest.raises(keel.ProviderError, match="must return"):
        ChatModel.from_function(lambda request: 42).chat("x")


def test_a_function_model_answers_a_streaming_call():
    model = ChatModel.from_function(lambda request: "one piece")
    pieces = []
    assert model.chat("x", on_delta=pieces.append).text == "one piece"
    assert "".join(d.text for d in pieces) in ("", "one piece")  # callbacks need not stream


def test_a_model_called_from_inside_a_function_model_works():
    # Function models run on keel's blocking pool, apart from its event loop: they may wait.
    inner = scripted({"content": "inner"})

    def fn(request):
        return inner.chat("nested").text

    assert ChatModel.from_function(fn).chat("x").text == "inner"


def test_ctrl_c_cancels_a_call_in_flight():
    model = scripted({"content": "late"}, {"content": "next"}, delay_ms=5000)
    threading.Timer(0.2, _thread.interrupt_main).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.chat("x")
    assert time.monotonic() - start < 2.0
    deadline = time.monotonic() + 2.0
    while keel.llm._calls and time.monotonic() < deadline:  # the cancelled call reports back
        time.sleep(0.01)
    assert not keel.llm._calls


def test_python_exits_cleanly_while_a_function_model_is_answering():
    script = (
        "import threading, time, keel\n"
        "m = keel.ChatModel.from_function(lambda r: (time.sleep(0.5), 'slow')[1])\n"
        "threading.Thread(target=lambda: m.chat('x'), daemon=True).start()\n"
        "time.sleep(0.1)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(keel.__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr


# ---- Timeouts and threads ----------------------------------------------------------------------


def test_timeout_bounds_the_call():
    model = scripted({"content": "late"}, delay_ms=5000)
    start = time.monotonic()
    with pytest.raises(keel.KeelTimeoutError):
        model.chat("x", timeout=0.2)
    assert time.monotonic() - start < 2.0


def test_timeout_must_be_positive():
    with pytest.raises(keel.InvalidArgumentError):
        scripted({"content": "x"}).chat("x", timeout=0)


def test_many_threads_share_one_model():
    model = ChatModel.from_function(lambda r: r["messages"][0]["content"].upper())
    errors, results = [], {}

    def worker(n):
        try:
            for i in range(20):
                text = f"t{n}-{i}"
                results[text] = model.chat(text).text
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 160
    assert all(v == k.upper() for k, v in results.items())


def test_many_threads_share_one_scripted_model():
    model = scripted(*[{"content": f"r{i}"} for i in range(64)])
    got, lock = [], threading.Lock()

    def worker():
        for _ in range(8):
            text = model.chat("x").text
            with lock:
                got.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"r{i}" for i in range(64))


# ---- Embedders ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hashing():
    with Embedder.from_config({"provider": "hashing", "dimension": 64}) as embedder:
        yield embedder


def test_hashing_embedder_has_its_dimension_and_unit_norm(hashing):
    assert hashing.dimension == 64
    vector = hashing.embed("refund my last invoice")
    assert len(vector) == 64
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-5)


def test_hashing_embedder_is_deterministic(hashing):
    assert hashing.embed("the same text") == hashing.embed("the same text")
    with Embedder.from_config({"provider": "hashing", "dimension": 64}) as other:
        assert other.embed("the same text") == hashing.embed("the same text")
    assert hashing.embed("the same text") != hashing.embed("other words entirely")


def test_hashing_batch_equals_singles(hashing):
    texts = ["billing question", "Café ☕ naïve", "", "reset my password please"]
    batch = hashing.embed_batch(texts)
    assert len(batch) == len(texts)
    for text, vector in zip(texts, batch):
        assert vector == pytest.approx(hashing.embed(text), abs=1e-6)
    assert hashing.embed_batch([]) == []


def test_similar_texts_are_closer(hashing):
    def cos(a, b):
        return sum(x * y for x, y in zip(a, b))

    a, b, c = (hashing.embed(t) for t in ["refund my invoice", "refund the invoice", "weather in Oslo"])
    assert cos(a, b) > cos(a, c)


def test_default_embedder_is_hashing():
    with Embedder() as embedder:
        assert embedder.dimension == 1024


def test_bad_embedder_config_raises_invalid_config():
    with pytest.raises(keel.InvalidConfigError, match="provider"):
        Embedder.from_config({"provider": "word2vec"})


def test_a_python_function_is_an_embedder():
    calls = []

    def fn(texts):
        calls.append(texts)
        return [[float(len(t)), 1.0, 0.0] for t in texts]

    with Embedder.from_function(3, fn) as embedder:
        assert embedder.dimension == 3
        assert embedder.embed("abcd") == [4.0, 1.0, 0.0]
        assert embedder.embed_batch(["a", "bb"]) == [[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]]
    assert calls == [["abcd"], ["a", "bb"]]


def test_a_function_embedder_of_the_wrong_dimension_fails():
    embedder = Embedder.from_function(4, lambda texts: [[1.0, 2.0] for _ in texts])
    with pytest.raises(keel.ProviderError, match="expected 4"):
        embedder.embed("x")
    with pytest.raises(keel.ProviderError, match="expected 4"):
        embedder.embed_batch(["x", "y"])


def test_an_exception_in_the_embedder_function_reaches_the_caller():
    def fn(texts):
        raise RuntimeError("no GPU today")

    with pytest.raises(keel.ProviderError, match="no GPU today"):
        Embedder.from_function(2, fn).embed("x")


def test_many_threads_share_one_embedder(hashing):
    expected = {t: hashing.embed(t) for t in ("a b", "c d", "e f")}
    errors = []

    def worker():
        for _ in range(50):
            for text, vector in expected.items():
                if hashing.embed(text) != vector:
                    errors.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---- The OpenAI provider against the scripted HTTP test endpoint --------------------------------


def _endpoint_binary():
    if os.environ.get("KEEL_TEST_ENDPOINT"):
        return Path(os.environ["KEEL_TEST_ENDPOINT"])
    if os.environ.get("KEEL_LIBRARY"):
        return Path(os.environ["KEEL_LIBRARY"]).resolve().parent.parent / "bin" / "keel_test_endpoint"
    return None


@pytest.fixture
def endpoint(tmp_path):
    """endpoint(replies) starts keel_test_endpoint with that script and returns its base URL."""
    binary = _endpoint_binary()
    if binary is None or not binary.exists():
        pytest.skip(f"keel_test_endpoint not found (looked at {binary}; set KEEL_TEST_ENDPOINT "
                    "or build the tests)")
    processes = []

    def start(replies):
        script = tmp_path / f"script{len(processes)}.json"
        script.write_text(json.dumps({"replies": replies}))
        process = subprocess.Popen([str(binary), str(script)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        processes.append(process)
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"keel_test_endpoint exited with {process.wait()}")
        return json.loads(line)["base_url"]

    yield start
    for process in processes:
        process.stdin.close()  # the endpoint exits when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def openai_config(base_url, **extra):
    return {"provider": "openai", "base_url": base_url + "/v1", "model": "gpt-test",
            "api_key": "sk-test", **extra}


def completion(text):
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}


def test_openai_text_answer(endpoint):
    base = endpoint([{"json": completion("Hello from the endpoint")}])
    with ChatModel.from_config(openai_config(base)) as model:
        response = model.chat("Hello?")
    assert response.text == "Hello from the endpoint"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 4)


def test_openai_retries_a_503_then_succeeds(endpoint):
    base = endpoint([
        {"status": 503, "json": {"error": {"message": "overloaded", "type": "server_error"}}},
        {"json": completion("second time lucky")},
    ])
    config = openai_config(base, retry={"max_attempts": 3, "base_delay_ms": 10, "max_delay_ms": 50})
    assert ChatModel.from_config(config).chat("x").text == "second time lucky"


def test_openai_400_reaches_python_with_its_message_and_type(endpoint):
    base = endpoint([{"status": 400, "json": {"error": {
        "message": "max_tokens is too large", "type": "invalid_request_error",
        "param": "max_tokens", "code": None}}}])
    with pytest.raises(keel.ProviderError) as info:
        ChatModel.from_config(openai_config(base)).chat("x", max_tokens=10**6)
    message = str(info.value)
    assert "400" in message
    assert "invalid_request_error" in message
    assert "max_tokens is too large" in message
    assert "sk-test" not in message


def test_openai_streams_deltas(endpoint):
    def chunk(delta, finish=None):
        return {"data": json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "gpt-test",
                                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})}

    base = endpoint([{"sse": [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                              chunk({"content": "lo"}), chunk({}, "stop"), {"data": "[DONE]"}]}])
    model = ChatModel.from_config(openai_config(base))
    stream = model.stream("x")
    pieces = []
    while True:
        try:
            pieces.append(next(stream).text)
        except StopIteration as stop:
            response = stop.value
            break
    assert "".join(pieces) == "Hello" == response.text


def test_openai_timeout_on_a_stalled_server(endpoint):
    base = endpoint([{"fault": "stall", "repeat": True}])
    model = ChatModel.from_config(openai_config(base, retry={"max_attempts": 1}))
    start = time.monotonic()
    with pytest.raises(keel.KeelTimeoutError):
        model.chat("x", timeout=0.3)
    assert time.monotonic() - start < 3.0

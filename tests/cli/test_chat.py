"""keel chat: one model call, text or --json, against scripted models and the test endpoint."""

import json


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return str(path)


def test_chat_prints_the_reply_text(cli, tmp_path):
    model = write(tmp_path, "m.json", {"provider": "scripted", "responses": [{"content": "Hello!"}]})
    result = cli.run("chat", "--model", model, "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello!\n"


def test_chat_json_prints_the_whole_response(cli, tmp_path):
    model = write(tmp_path, "m.json", {"provider": "scripted", "responses": [
        {"tool_calls": [{"id": "c1", "name": "search", "arguments": {"q": "x"}}]}]})
    out = cli.json("chat", "--model", model, "--json", "find x")
    assert out["finish_reason"] == "tool_calls"
    assert out["message"]["tool_calls"][0]["arguments"] == {"q": "x"}


def test_chat_reads_the_prompt_from_stdin_and_streams(cli, tmp_path):
    model = write(tmp_path, "m.json", {"provider": "scripted", "responses": [{"content": "a b c"}]})
    result = cli.run("chat", "--model", model, "--stream", input="hi there")
    assert result.returncode == 0
    assert result.stdout == "a b c\n"


def test_chat_bad_model_file_is_exit_2_with_the_path(cli, tmp_path):
    model = write(tmp_path, "m.json", {"provider": "openai", "base_url": "http://127.0.0.1:1"})
    result = cli.run("chat", "--model", model, "hi")
    assert result.returncode == 2
    assert result.stderr.strip() == "keel: model: required"


def test_chat_against_an_openai_endpoint_with_a_retry(cli, tmp_path, endpoint):
    base = endpoint([{"error": {"status": 503, "type": "overloaded", "message": "busy"}},
                     {"openai_text": "from the endpoint"}])
    model = write(tmp_path, "m.json", {"provider": "openai", "base_url": base, "model": "m",
                                       "retry": {"max_attempts": 2, "base_delay_ms": 10}})
    result = cli.run("chat", "--model", model, "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from the endpoint\n"


def test_chat_provider_error_is_one_line_exit_1(cli, tmp_path, endpoint):
    base = endpoint([{"error": {"status": 400, "type": "invalid_request_error", "message": "bad model"}}])
    model = write(tmp_path, "m.json", {"provider": "openai", "base_url": base, "model": "m"})
    result = cli.run("chat", "--model", model, "hi")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "HTTP 400" in lines[0] and "bad model" in lines[0]

import json
import os
import subprocess
from pathlib import Path

import pytest


class Cli:
    """Runs the keel binary named by $KEEL_CLI."""

    def __init__(self, path):
        self.path = path

    def run(self, *args, input=None, env=None, timeout=120):
        return subprocess.run(
            [self.path, *args], input=input, capture_output=True, text=True,
            env=dict(os.environ, **(env or {})), timeout=timeout,
        )

    def json(self, *args, **kwargs):
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli():
    path = os.environ.get("KEEL_CLI")
    if not path:
        pytest.skip("KEEL_CLI is not set (run through ctest)")
    return Cli(path)


@pytest.fixture
def endpoint(tmp_path):
    """Starts keel_test_endpoint (a test double) with a script; gives its base URL."""
    binary = Path(os.environ["KEEL_CLI"]).parent / "keel_test_endpoint"
    if not binary.exists():
        pytest.skip("keel_test_endpoint is not built")
    procs = []

    def start(replies):
        script = tmp_path / "script.json"
        script.write_text(json.dumps({"replies": replies}))
        proc = subprocess.Popen([str(binary), script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        return json.loads(proc.stdout.readline())["base_url"]

    yield start
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=10)

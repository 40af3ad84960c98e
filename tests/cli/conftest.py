import json
import os
import subprocess

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

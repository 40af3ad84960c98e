"""Makes the package importable from the source tree and points it at the fresh build."""

import os
import sys
import time
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_ROOT.parent.parent
sys.path.insert(0, str(PACKAGE_ROOT))

if os.environ.get("KEEL_LIBRARY"):
    # Absolute, so subprocesses with another working directory (pip's build) find it too.
    os.environ["KEEL_LIBRARY"] = str(Path(os.environ["KEEL_LIBRARY"]).resolve())
else:
    built = REPO_ROOT / "build" / "lib" / "libkeel.so"
    if built.exists():
        os.environ["KEEL_LIBRARY"] = str(built)


@pytest.fixture(autouse=True)
def every_call_reports_back():
    """After each test, every asynchronous call the binding started (model calls, routes, agent
    and planner runs) has completed: none leaked in the binding."""
    yield
    import keel  # after the path set-up above

    deadline = time.monotonic() + 2.0
    while keel.llm._calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not keel.llm._calls, "calls never completed"

#!/usr/bin/env python3
r"""Runs keel_tour.ipynb headless with nbclient (as the tests do) and exits 1 on any cell error.

  KEEL_LIBRARY=build/lib/libkeel.so PYTHONPATH=bindings/python \
      python3 examples/python/run_notebook.py

The kernel is this interpreter (sys.executable), through a kernelspec written to a temporary
directory: a system kernelspec may start whichever `python3` comes first on PATH, which may lack
ipykernel. The kernel inherits the environment (KEEL_LIBRARY, PYTHONPATH) and runs in this
directory. Jupyter's runtime and IPython's profile go to the same temporary directory, so
nothing is written to $HOME or to the source tree; the notebook file is not modified.
"""
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "keel_tour.ipynb"
KERNEL = "keel-python"


def main() -> int:
    try:
        import nbclient
        import nbformat
        from nbclient.exceptions import CellExecutionError
    except ImportError as error:
        print(f"{error}: install python3-nbclient python3-nbformat python3-ipykernel "
              "(scripts/install-deps does)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="keel-notebook-") as scratch:
        spec = Path(scratch) / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "keel", "language": "python"}))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [scratch, *filter(None, [os.environ.get("JUPYTER_PATH")])])
        for variable, folder in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                                 ("JUPYTER_CONFIG_DIR", "config")):
            os.environ[variable] = str(Path(scratch) / folder)
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger note

        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(notebook, timeout=120, kernel_name=KERNEL,
                                         resources={"metadata": {"path": str(HERE)}})
        started = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as error:
            print(re.sub(r"\x1b\[[0-9;]*m", "", str(error)), file=sys.stderr)  # no colours
            print(f"{NOTEBOOK.name}: FAILED after {time.perf_counter() - started:.1f} s")
            return 1
        code = [c for c in notebook.cells if c.cell_type == "code"]
        errors = [c for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors or any(c.get("execution_count") is None for c in code):
            print(f"{NOTEBOOK.name}: {len(errors)} cells failed or some did not run",
                  file=sys.stderr)
            return 1
        shown = sum(1 for c in code for o in c.outputs if "text/html" in o.get("data", {}))
        print(f"{NOTEBOOK.name}: {len(code)} code cells ran without errors in "
              f"{time.perf_counter() - started:.1f} s ({shown} rich HTML results)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Makes the package importable from the source tree and points it at the fresh build."""

import os
import sys
from pathlib import Path

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

"""A minimal PEP 517 build backend for the keel package, standard library only.

Why not setuptools: pip builds in an isolated environment and would fetch setuptools from an
index; keel must install offline on customer machines. This backend writes the wheel itself.
It bundles libkeel.so from $KEEL_LIBRARY or ../../build/lib when present (a platform wheel);
without it the wheel is pure Python and finds the library on the system at run time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "keel"
SUMMARY = "Firewall, router, planner, agent loop and knowledge layer for AI-agent systems"


def _version() -> str:
    text = (HERE / "keel" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def _library() -> Path | None:
    env = os.environ.get("KEEL_LIBRARY")
    if env:
        # An explicit choice must not silently fall back to another (maybe stale) copy.
        if not Path(env).is_file():
            raise RuntimeError(f"KEEL_LIBRARY={env} is not a file (give an absolute path)")
        return Path(env).resolve()
    built = HERE.parent.parent / "build" / "lib" / "libkeel.so"
    return built.resolve() if built.is_file() else None


def _metadata(version: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version}\n"
        f"Summary: {SUMMARY}\n"
        "Requires-Python: >=3.9\n"
    )


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    library = _library()
    if library is not None:
        tag = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
    else:
        tag = "py3-none-any"
    dist_info = f"{NAME}-{version}.dist-info"
    files = {}
    for path in sorted((HERE / "keel").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("libkeel"):
            files[path.relative_to(HERE).as_posix()] = path.read_bytes()
    if library is not None:
        files["keel/libkeel.so"] = library.read_bytes()
    files[f"{dist_info}/METADATA"] = _metadata(version).encode()
    purelib = "true" if library is None else "false"
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: keel_build\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
    ).encode()
    record = [_record_line(p, d) for p, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()

    wheel_name = f"{NAME}-{version}-{tag}.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = f"{NAME}-{version}"
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as sdist:
        for path in sorted(HERE.rglob("*")):
            rel = path.relative_to(HERE)
            if path.is_file() and "__pycache__" not in rel.parts and not path.name.startswith("libkeel"):
                sdist.add(path, arcname=f"{base}/{rel.as_posix()}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata(version).encode()
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return name

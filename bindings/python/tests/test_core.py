"""The package loads libkeel, reports its version and maps errors to typed exceptions."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import keel
from keel import _native
from keel.errors import error_from_code

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def test_version_matches_the_package():
    assert keel.version() == keel.__version__
    assert keel.abi_version() == _native.ABI_VERSION


def test_check_abi_accepts_the_loaded_abi():
    keel.check_abi(keel.abi_version())


def test_check_abi_mismatch_raises_invalid_argument_with_the_message():
    with pytest.raises(keel.InvalidArgumentError) as info:
        keel.check_abi(999)
    assert "ABI mismatch" in str(info.value)
    assert info.value.code == 1
    assert info.value.code_name == "invalid_argument"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "code, cls",
    [
        (1, keel.InvalidArgumentError),
        (2, keel.InvalidConfigError),
        (3, keel.NotFoundError),
        (4, keel.KeelIOError),
        (5, keel.KeelTimeoutError),
        (6, keel.CancelledError),
        (7, keel.UnavailableError),
        (8, keel.ProviderError),
        (9, keel.ToolError),
        (10, keel.ParseError),
        (11, keel.LimitExceededError),
        (12, keel.InternalError),
    ],
)
def test_every_status_code_maps_to_its_exception(code, cls):
    error = error_from_code(code, "message")
    assert type(error) is cls
    assert isinstance(error, keel.KeelError)
    assert error.code == code
    assert _native.lib.keel_status_name(code).decode() == cls.code_name


def test_an_unknown_code_is_still_a_keel_error():
    error = error_from_code(77, "from a newer library")
    assert type(error) is keel.KeelError
    assert error.code == 77


def test_strings_with_nul_are_refused_before_reaching_c():
    with pytest.raises(keel.InvalidArgumentError):
        _native.encode("a\x00b")


def test_a_wrong_keel_library_path_fails_with_a_clear_import_error(tmp_path):
    env = dict(os.environ, KEEL_LIBRARY=str(tmp_path / "missing.so"), PYTHONPATH=str(PACKAGE_ROOT))
    result = subprocess.run(
        [sys.executable, "-c", "import keel"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "cannot load libkeel.so" in result.stderr
    assert "KEEL_LIBRARY" in result.stderr


def test_pip_install_works_offline_and_finds_the_bundled_library(tmp_path):
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not installed for this interpreter")
    target = tmp_path / "site"
    env = dict(os.environ)
    env["PIP_NO_INDEX"] = "1"  # prove nothing is downloaded
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_BREAK_SYSTEM_PACKAGES"] = "1"  # --target never touches the system's packages
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--target", str(target),
         str(PACKAGE_ROOT)],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "keel" / "libkeel.so").exists()
    # The installed package loads its bundled copy: no KEEL_LIBRARY, not the source tree.
    run_env = {k: v for k, v in os.environ.items() if k != "KEEL_LIBRARY"}
    run_env["PYTHONPATH"] = str(target)
    check = subprocess.run(
        [sys.executable, "-c", "import keel; print(keel.version(), keel.library_path())"],
        env=run_env, capture_output=True, text=True, cwd=str(tmp_path),
    )
    assert check.returncode == 0, check.stderr
    version, path = check.stdout.split()
    assert version == keel.__version__
    assert path.startswith(str(target))

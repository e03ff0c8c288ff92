"""Bytecode is written before actors start, even where the import system would not."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from orbitmesh.orchestrator.bytecode import compile_packages


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "bytecode_probe_pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("VALUE = 1\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "deep.py").write_text("def f() -> int:\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as PYTHONDONTWRITEBYTECODE=1
    return root


def test_writes_pyc_for_every_module_despite_dont_write_bytecode(package: Path) -> None:
    sources = [package / "__init__.py", package / "sub" / "deep.py"]
    assert not any(Path(importlib.util.cache_from_source(str(s))).exists() for s in sources)
    assert compile_packages(("bytecode_probe_pkg",)) is True
    for source in sources:
        assert Path(importlib.util.cache_from_source(str(source))).is_file()


def test_stale_pyc_is_rewritten(package: Path) -> None:
    compile_packages(("bytecode_probe_pkg",))
    module = package / "sub" / "deep.py"
    cached = Path(importlib.util.cache_from_source(str(module)))
    before = cached.read_bytes()
    module.write_text("def f() -> int:\n    return 3\n")
    # compileall compares whole-second mtimes: move the edit a second on.
    mtime = module.stat().st_mtime + 1
    os.utime(module, (mtime, mtime))
    compile_packages(("bytecode_probe_pkg",))
    assert cached.read_bytes() != before


def test_unwritable_folder_is_reported_not_raised(package: Path) -> None:
    # Root may write anywhere, so block the cache folder with a plain file instead.
    (package / "sub" / "__pycache__").write_text("not a folder")
    assert compile_packages(("bytecode_probe_pkg",)) is False
    assert Path(importlib.util.cache_from_source(str(package / "__init__.py"))).is_file()


def test_unknown_package_is_skipped() -> None:
    assert compile_packages(("no_such_package_for_bytecode",)) is True

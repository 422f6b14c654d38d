"""deploy/build_lambda.py: the Lambda artifact is byte-identical from build to build.

These tests use --skip-dependencies (no network, a few seconds). The full build with pip is exercised by
`make lambda-package`; set COGNITO_BACKUP_TEST_LAMBDA_DEPS=1 to run it here too.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "build_lambda.py"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lambda", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lambda"] = module
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _fake_project(root: Path) -> Path:
    """A tiny project with the real layout: src/cognito_backup/serverless, a __pycache__, a pyproject."""
    pkg = root / "src" / "cognito_backup"
    (pkg / "serverless").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "__init__.py").write_text('__version__ = "0"\n')
    (pkg / "py.typed").write_text("")
    (pkg / "serverless" / "__init__.py").write_text("")
    (pkg / "serverless" / "backup.py").write_text("def handler(event, context):\n    return event\n")
    (pkg / "serverless" / "schema.json").write_text("{}\n")
    (pkg / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\x00stale")
    tool = pkg / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["boto3>=1.40", "click>=8.1", "rich>=13", "zstandard>=0.22"]\n'
    )
    return root


def test_two_builds_are_byte_identical_and_contain_the_handlers(tmp_path: Path) -> None:
    root = _fake_project(tmp_path / "project")
    first = tmp_path / "one" / "lambda.zip"
    second = tmp_path / "two" / "lambda.zip"
    digest1 = builder.build(first, skip_dependencies=True, root=root)
    # Touch every source file: new mtimes must not change the artifact.
    for path in (root / "src").rglob("*"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    digest2 = builder.build(second, skip_dependencies=True, root=root)

    assert first.read_bytes() == second.read_bytes()
    assert digest1 == digest2 == builder.sha256_of(first)

    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names)
    assert "cognito_backup/serverless/backup.py" in names
    assert "cognito_backup/serverless/schema.json" in names
    assert "cognito_backup/py.typed" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = stat.S_IMODE(info.external_attr >> 16)
        assert mode == (0o755 if info.filename.endswith("tool.sh") else 0o644), info.filename


def test_cli_builds_the_real_source_reproducibly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Copy the real tree once so edits happening while the test runs cannot make the two builds differ.
    root = tmp_path / "project"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    first = tmp_path / "a.zip"
    second = tmp_path / "b.zip"
    builder.build(first, skip_dependencies=True, root=root)
    builder.build(second, skip_dependencies=True, root=root)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
    expected = {
        p.relative_to(root / "src").as_posix()
        for p in (root / "src" / "cognito_backup").rglob("*")
        if p.is_file() and not p.name.endswith((".pyc", ".pyo"))
    }
    assert names == expected
    assert "cognito_backup/__init__.py" in names
    if (root / "src" / "cognito_backup" / "serverless" / "__init__.py").exists():
        assert "cognito_backup/serverless/__init__.py" in names

    # The command-line entry point prints the digest.
    out = tmp_path / "cli.zip"
    assert builder.main(["--out", str(out), "--skip-dependencies"]) == 0
    assert f"sha256:{builder.sha256_of(out)}" in capsys.readouterr().out


def test_runtime_requirements_leave_out_what_lambda_provides(tmp_path: Path) -> None:
    root = _fake_project(tmp_path)
    assert builder.runtime_requirements(root / "pyproject.toml") == ["click>=8.1", "rich>=13", "zstandard>=0.22"]
    real = builder.runtime_requirements(ROOT / "pyproject.toml")
    assert not [r for r in real if r.startswith(("boto3", "botocore"))]


def test_pins_come_from_this_environment() -> None:
    pins = builder.environment_pins()
    assert any(p.startswith("click==") for p in pins)
    assert not any(p.startswith(("boto3==", "botocore==", "cognito-backup==")) for p in pins)


def test_unreachable_index_fails_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(builder.BuildError, match="manylinux2014_aarch64"):
        builder.install_dependencies(["click>=8.1"], tmp_path / "target", pin=False)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("COGNITO_BACKUP_TEST_LAMBDA_DEPS") != "1",
    reason="downloads aarch64 wheels from the package index; set COGNITO_BACKUP_TEST_LAMBDA_DEPS=1",
)
def test_full_build_with_dependencies_is_reproducible(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    first = builder.build(tmp_path / "a.zip", root=root)
    second = builder.build(tmp_path / "b.zip", root=root)
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = zf.namelist()
    assert any(n.startswith("zstandard/") and "aarch64" in n for n in names)
    assert not any(n.startswith(("boto3/", "botocore/", "bin/")) for n in names)

#!/usr/bin/env python3
"""Build the Lambda deployment artifact (dist/lambda.zip) reproducibly.

    python deploy/build_lambda.py --out dist/lambda.zip

What goes in: the project's runtime dependencies except boto3/botocore (the Lambda Python runtime ships
them), as binary wheels for the Lambda target (Python 3.12, arm64, manylinux2014_aarch64), plus the
`cognito_backup` package from src/. Two builds from the same inputs are byte-identical:

- dependency versions are pinned to the ones installed in the environment running this script (the
  environment the tests ran in), unless --no-pin;
- pip runs with --no-compile (a .pyc embeds its source's mtime) and pip's RECORD files and bin/ scripts
  (whose shebang names the temporary directory) are left out;
- entries are sorted, dated 1980-01-01 00:00:00, with fixed permissions (0644, 0755 for executables),
  created_system = Unix, deflate level 9.

--skip-dependencies zips only the source (used by the tests, which must not depend on the network).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cognito_backup"

# Provided by the Lambda Python runtime; bundling them would only add megabytes and cold-start time.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"})

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class BuildError(Exception):
    """A build step failed; the message says what to do."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path) -> list[str]:
    """[project].dependencies minus what the Lambda runtime provides, as requirement strings."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    deps: list[str] = data["project"]["dependencies"]
    kept = []
    for req in deps:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if match is None:
            raise BuildError(f"Cannot parse dependency {req!r} in {pyproject}")
        if normalize(match.group(1)) not in RUNTIME_PROVIDED:
            kept.append(req.strip())
    return sorted(kept)


def environment_pins() -> list[str]:
    """`name==version` for every distribution installed here, usable as a pip constraints file.

    Constraints only bite for packages the resolver actually needs, so pinning the whole environment pins
    the dependency closure to exactly what the test suite ran against.
    """
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.name
        if not name or normalize(name) in {"cognito-backup", *RUNTIME_PROVIDED}:
            continue
        pins[normalize(name)] = dist.version
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def install_dependencies(requirements: list[str], target: Path, pin: bool, python: str = sys.executable) -> None:
    if not requirements:
        return
    cmd = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-cache-dir",
        "--target",
        str(target),
        "--platform",
        LAMBDA_PLATFORM,
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]
    with tempfile.TemporaryDirectory(prefix="cognito-backup-pins-") as tmp:
        if pin:
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text("\n".join(environment_pins()) + "\n", encoding="utf-8")
            cmd += ["--constraint", str(constraints)]
        cmd += requirements
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SOURCE_DATE_EPOCH": "315532800"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise BuildError(
            "pip could not fetch the Lambda dependencies "
            f"({', '.join(requirements)}) as {LAMBDA_PLATFORM} wheels for CPython {LAMBDA_PYTHON_VERSION}.\n"
            "This needs access to a package index that has those binary wheels (PyPI does). If you are "
            "offline, set PIP_INDEX_URL / PIP_FIND_LINKS to a mirror or a wheel directory, or run with "
            "--no-pin if a pinned version has no such wheel.\n"
            f"pip said:\n{proc.stderr.strip() or proc.stdout.strip()}"
        )


def copy_package(src_root: Path, dest: Path) -> None:
    source = src_root / PACKAGE
    if not (source / "__init__.py").is_file():
        raise BuildError(f"{source} is not the {PACKAGE} package")
    shutil.copytree(
        source,
        dest / PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache"),
    )


def _included(rel: Path) -> bool:
    parts = rel.parts
    # pip's console scripts (bin/) carry a shebang naming the temporary directory, and are not needed.
    if parts[0] == "bin" or any(part in EXCLUDED_DIRS for part in parts[:-1]):
        return False
    if rel.name.endswith(EXCLUDED_SUFFIXES):
        return False
    # RECORD holds hashes of the bin/ scripts left out above; nothing at runtime reads it.
    return not (len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD")


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) for every file to package, sorted by archive name."""
    found: list[tuple[str, Path]] = []
    for path in root.rglob("*"):
        if path.is_symlink():
            raise BuildError(f"Refusing to package a symbolic link: {path}")
        if not path.is_file():
            continue
        rel = path.relative_to(root)
        if _included(rel):
            found.append((rel.as_posix(), path))
    found.sort(key=lambda item: item[0])
    return iter(found)


def write_zip(files: Iterable[tuple[str, Path]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp_out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, path in files:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries the permission bits
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp_out.replace(out)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(out: Path, *, skip_dependencies: bool = False, pin: bool = True, root: Path = ROOT) -> str:
    """Build the artifact at `out` and return its sha256."""
    with tempfile.TemporaryDirectory(prefix="cognito-backup-lambda-") as tmp:
        staging = Path(tmp) / "package"
        staging.mkdir()
        if not skip_dependencies:
            install_dependencies(runtime_requirements(root / "pyproject.toml"), staging, pin)
        copy_package(root / "src", staging)
        write_zip(iter_files(staging), out)
    return sha256_of(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the cognito-backup Lambda artifact reproducibly.")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "lambda.zip", help="zip file to write")
    parser.add_argument(
        "--skip-dependencies",
        action="store_true",
        help="package only src/cognito_backup (no pip; for tests and layer-based deployments)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let pip pick the newest allowed versions instead of those installed in this environment",
    )
    args = parser.parse_args(argv)
    try:
        digest = build(args.out, skip_dependencies=args.skip_dependencies, pin=not args.no_pin)
    except BuildError as exc:
        print(f"build_lambda: error: {exc}", file=sys.stderr)
        return 1
    size = args.out.stat().st_size
    print(f"{args.out}  {size} bytes  sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

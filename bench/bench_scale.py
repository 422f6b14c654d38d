"""Scale benchmark: every command at 100,000 and 1,000,000 users, each run as its own `cognito-backup`
process, with its peak RSS, CPU seconds and wall time.

    python bench/bench_scale.py --sizes 100000,1000000      (what `make bench-scale` runs)
    python bench/bench_scale.py --sizes 2000,20000          (quick mode; tests/test_bench_scale.py)

The Cognito endpoint is bench/standin.py, an honest double in its own process (so each command's peak RSS
is its own), started per size with the source pool "bench" (N users, 20 groups, N memberships) and a
copy "bench-copy": the same users and memberships under their own subs, every 100th user's custom:tier
different (a pool restored a while ago that has since drifted). The quotas are raised for the bench with
the CLI's own `--rate CATEGORY=RPS` on every category (aws/quotas.py: accounts can buy capacity), so the
figures measure the tool, not Cognito's default quotas; at those quotas a 1M-user restore takes ~9 hours.

Rows, in order, per size:
    backup            backup of the source pool
    diff              snapshot vs the copy (exit 1: the drifted users differ)
    restore-plan      restore --dry-run into the copy
    restore-apply     restore into the copy: updates the drifted 1% (N/100 users)
    restore-new-pool  restore --new-pool: every user, membership and password (up to --full-restore-max
                      users, 100,000 by default: at 1M it would take hours on a 2-core machine)
    restore-at        restore --at into the copy, from the snapshot plus a journal of `--journal` changes
                      (half of them up to the chosen time)
    replicate         one replicate round into the copy (applies the rest of the journal)

Prints a table and writes JSON (--out). Exit 1 if any command ended with another exit code than expected.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cognito_backup.aws.quotas import DEFAULT_RATES  # noqa: E402
from cognito_backup.model import User  # noqa: E402
from cognito_backup.repo.journal import Journal  # noqa: E402
from cognito_backup.repo.repository import format_time  # noqa: E402
from cognito_backup.store import open_store  # noqa: E402

PHASES = (
    "backup",
    "diff",
    "restore-plan",
    "restore-apply",
    "restore-new-pool",
    "restore-at",
    "replicate",
)
BENCH_RATE = 100_000.0  # requests per second per category: far above what one process reaches
GROUPS = 20
DIFFER_EVERY = 100


@dataclass
class Row:
    users: int
    phase: str
    exit_code: int
    expected: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == self.expected


def cli() -> list[str]:
    """The installed console script beside this interpreter (the real CLI), else the module."""
    script = Path(sys.executable).with_name("cognito-backup")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cognito_backup.cli.main"]


def measure(argv: list[str], log: IO[str], env: dict[str, str]) -> tuple[int, float, float, float]:
    """Run one command to its end: (exit code, wall s, CPU s, peak RSS MiB) of that process alone, measured
    by a small process of its own (bench/rusage_run.py: this bench's own RSS, which grows with the journal
    it writes, would otherwise be every command's floor)."""
    log.write("$ " + " ".join(argv) + "\n")
    log.flush()
    with tempfile.TemporaryDirectory(prefix="bench-scale-rusage-") as tmp:
        result = Path(tmp) / "rusage.json"
        start = time.monotonic()
        launcher = [sys.executable, str(Path(__file__).with_name("rusage_run.py")), str(result), "--", *argv]
        subprocess.run(launcher, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, check=True)
        wall = time.monotonic() - start
        body = json.loads(result.read_text())
    return int(body["exit_code"]), wall, float(body["cpu_seconds"]), float(body["peak_rss_mib"])


def start_standin(users: int, log: IO[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    argv = [
        sys.executable,
        str(ROOT / "bench" / "standin.py"),
        f"--users={users}",
        f"--groups={GROUPS}",
        f"--members={users}",
        f"--copy-differ={DIFFER_EVERY}",
    ]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit(f"the stand-in endpoint did not start (exit {proc.returncode}); see the log")
    return proc, json.loads(line)


def write_journal(repo: str, pool_id: str, users: int, changes: int, after: dt.datetime) -> dt.datetime:
    """`changes` user_upsert records for distinct users, observed one millisecond apart after `after`,
    as capture would write them; the pool is marked caught up past the last. Returns the time half-way."""
    journal = Journal(open_store(repo))
    records = []
    step = max(1, users // max(1, changes))
    for n in range(changes):
        index = (n * step + 1) % users
        observed = format_time(after + dt.timedelta(milliseconds=n + 1))
        user = User(
            username=f"user-{index:07d}",
            attributes={"email": f"user{index}@example.com", "email_verified": "true", "custom:tier": "platinum"},
            enabled=True,
            status="CONFIRMED",
        )
        records.append(
            {
                "type": "user_upsert",
                "pool": pool_id,
                "key": user.username,
                "sub": None,
                "changed_at": observed,
                "observed_at": observed,
                "event_id": f"bench-{n}",
                "event_name": "AdminUpdateUserAttributes",
                "source": "poll",
                "seq": 0,
                "after": user.to_record(),
            }
        )
    journal.append(pool_id, records, {"writer": "bench_scale"})
    journal.mark_caught_up(pool_id, after + dt.timedelta(milliseconds=changes + 1000))
    return after + dt.timedelta(milliseconds=changes // 2 + 0.5)


def run_size(users: int, args: argparse.Namespace, workdir: Path, log: IO[str]) -> list[Row]:
    standin, ready = start_standin(users, log)
    rows: list[Row] = []
    try:
        endpoint, source, copy = ready["endpoint"], ready["user_pool_id"], ready["copy_pool_id"]
        repo = str(workdir / f"repo-{users}")
        rates = [f"--rate={category}={BENCH_RATE:g}" for category in DEFAULT_RATES]
        base = [*cli(), "--endpoint-url", endpoint, "--region", "us-east-1"]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "NO_COLOR": "1"}
        env.pop("AWS_PROFILE", None)
        into_copy = ["--repo", repo, "--user-pool-id", copy, "--source-user-pool-id", source, *rates]
        reports = ["--report-dir", str(workdir / f"reports-{users}")]

        def run(phase: str, argv: list[str], expected: int = 0, note: str = "") -> None:
            if phase not in args.phases and phase != "backup":  # the backup is every other phase's source
                return
            code, wall, cpu, rss = measure([*base, *argv], log, env)
            rows.append(Row(users, phase, code, expected, round(wall, 1), round(cpu, 1), round(rss, 1), note))
            print(f"  {users:>9,} {phase:<17} exit {code} {wall:8.1f} s {cpu:8.1f} CPU s {rss:8.1f} MiB", flush=True)

        drifted = len(range(0, users, DIFFER_EVERY))
        run("backup", ["backup", "--user-pool-id", source, "--repo", repo, *rates])
        taken = dt.datetime.now(dt.UTC)
        run("diff", ["diff", *into_copy], expected=1, note=f"{drifted} users differ")
        run("restore-plan", ["restore", *into_copy, "--dry-run"])
        run("restore-apply", ["restore", *into_copy, *reports], note=f"{drifted} users updated")
        if users <= args.full_restore_max:
            run("restore-new-pool", ["restore", "--repo", repo, "--new-pool", "bench-new", *rates, *reports])
        at = write_journal(repo, source, users, args.journal, taken)
        run(
            "restore-at",
            ["restore", *into_copy, "--at", at.isoformat().replace("+00:00", "Z"), *reports],
            note=f"{args.journal // 2} journal changes",
        )
        run(
            "replicate",
            ["replicate", "--repo", repo, "--to-user-pool-id", copy, "--user-pool-id", source, "--yes", *rates],
            note=f"{args.journal} journal changes",
        )
    finally:
        assert standin.stdin is not None
        standin.stdin.close()
        standin.wait(timeout=60)
    return rows


def table(rows: list[Row], sizes: list[int]) -> str:
    lines = [
        "| phase | " + " | ".join(f"{n:,} users: wall s / CPU s / peak RSS MiB" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for phase in PHASES:
        cells = []
        for n in sizes:
            row = next((r for r in rows if r.users == n and r.phase == phase), None)
            if row is None:
                cells.append("not run")
            else:
                failed = "" if row.ok else f" (exit {row.exit_code}, expected {row.expected})"
                cells.append(f"{row.wall_s} / {row.cpu_s} / {row.peak_rss_mib}{failed}")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated user counts")
    parser.add_argument("--journal", type=int, default=2000, help="journal changes for restore --at and replicate")
    parser.add_argument("--full-restore-max", type=int, default=100_000, help="largest size restored to a new pool")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        type=lambda text: {p.strip() for p in text.split(",") if p.strip()},
        help="comma-separated phases to run (the backup always runs: the others start from it)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-scale.json"))
    parser.add_argument("--log", type=Path, default=None, help="commands' output (default: beside --out)")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    log_path = args.log or args.out.with_suffix(".log")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, log_path.open("w") as log:
        for users in sizes:
            rows.extend(run_size(users, args, Path(tmp), log))
    args.out.write_text(
        json.dumps(
            {
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": "python bench/bench_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "rows": [{**asdict(r), "ok": r.ok} for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    out(table(rows, sizes))
    failed = [r for r in rows if not r.ok]
    for r in failed:
        out(f"{r.phase} at {r.users:,} users exited {r.exit_code}, expected {r.expected}: see {log_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

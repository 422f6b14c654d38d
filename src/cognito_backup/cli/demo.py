"""`demo`: the whole product against a local Cognito emulator (moto's server), no AWS account."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import click

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.common import emit_json, handle_errors, json_option, out_console
from cognito_backup.core.diff import Difference, differences
from cognito_backup.demo_pool import create_demo_pool
from cognito_backup.emulator import Emulator
from cognito_backup.errors import UsageError
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore

DEMO_REGION = "us-east-1"


@click.command()
@click.option("--repo", default="./cognito-backup-demo", show_default=True, help="Where the demo repository goes.")
@click.option("--users", type=click.IntRange(min=1), default=300, show_default=True, help="Users in the sample pool.")
@click.option("--keep", is_flag=True, help="Keep an existing demo repository instead of starting afresh.")
@json_option
@handle_errors
def demo(repo: str, users: int, keep: bool, as_json: bool) -> None:
    """Run the product end to end on a local Cognito emulator: build a realistic pool, back it up,
    check the backup, simulate a disaster, restore into a new pool and prove it with diff."""
    # The emulator accepts any credentials; set dummy ones so nothing reaches a real account.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    console = out_console()

    def say(message: str) -> None:
        if not as_json:
            console.print(message, soft_wrap=True)

    repo_path = Path(repo)
    if repo_path.exists() and not keep:
        if not (repo_path / "config.json").exists() and any(repo_path.iterdir()):
            raise UsageError(f"{repo_path} exists and is not a demo repository; choose another --repo")
        shutil.rmtree(repo_path)
    emulator = Emulator()
    url = emulator.start()
    result: dict[str, Any] = {"emulator": url, "repo": str(repo_path.absolute())}
    try:
        aws = AwsContext(region=DEMO_REGION, endpoint_url=url)
        cognito = aws.client("cognito-idp")
        say(f"[bold]1. Local Cognito emulator[/] on {url} (moto server; no AWS account involved)")
        t0 = time.monotonic()
        pool = create_demo_pool(cognito, users=users)
        say(
            f"[bold]2. Sample pool[/] {pool.user_pool_id}: {pool.users} users (email as username, custom "
            f"attributes, {pool.disabled} disabled, {pool.unconfirmed} unconfirmed), {pool.groups} groups with "
            f"precedence and IAM roles, {pool.memberships} memberships, 2 app clients, 1 resource server "
            f"({time.monotonic() - t0:.1f}s)"
        )
        result["source_pool"] = pool.__dict__
        repository = Repository(LocalStore(repo_path))
        backup = run_backup(PoolReader(cognito, Pacer(), pool.user_pool_id), repository, DEMO_REGION)
        summary = backup.summary()
        result["backup"] = summary
        say(
            f"[bold]3. Backup[/] snapshot {summary['snapshot']}: {summary['users']} users, {summary['groups']} "
            f"groups, {summary['memberships']} memberships, {summary['app_clients']} app clients in "
            f"{summary['seconds']:.1f}s, into {repo_path}/ ({summary['list_chains']} concurrent ListUsers chains)"
        )
        if summary["unavailable"]:
            # One line: the emulator lacks a dozen configuration reads, each answered the same way.
            calls = ", ".join(sorted(summary["unavailable"]))
            say(f"   [dim]not recorded (the emulator lacks these calls; real Cognito has them): {calls}[/]")
        report = check_repository(repository, read_data=True)
        result["check"] = report.summary()
        say(
            f"[bold]4. Check --read-data[/]: {report.objects} objects re-hashed and decoded, "
            f"{report.records} records: {'[green]all good[/]' if report.ok else '[red]DAMAGED[/]'}"
        )
        report_root = repo_path.parent / f"{repo_path.name}-restore"
        shutil.rmtree(report_root, ignore_errors=True)
        _restore_steps(cognito, repository, pool.user_pool_id, summary["snapshot"], result, say, report_root)
    finally:
        emulator.stop()
    if as_json:
        emit_json(result)
    else:
        say("\nLook inside the demo repository:")
        for command in ("snapshots", "show", "check --read-data"):
            say(f"  .venv/bin/cognito-backup {command} --repo {repo}")


def _restore_steps(
    cognito: Any,
    repository: Repository,
    pool_id: str,
    snapshot: str,
    result: dict[str, Any],
    say: Any,
    report_root: Path,
) -> None:
    """Two disasters and their recoveries, each proven with diff."""
    pacer = Pacer()  # the real default quotas: the demo paces as it would against AWS
    desired = repository.load_state(repository.resolve(snapshot))

    # Disaster 1: a bad script deletes users and a group from the live pool.
    victims = sorted(u for u in desired.users if desired.users[u].status == "CONFIRMED")[:40]
    for username in victims:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=username)
    cognito.delete_group(UserPoolId=pool_id, GroupName="staff")
    drift = differences(desired, PoolReader(cognito, pacer, pool_id).read_state())
    # One user can differ in several ways (missing, and disabled in the snapshot): the restore counts
    # things, so the disaster is told in things too, and the two add up.
    damaged = _things(drift)
    result["disaster"] = {
        "deleted_users": len(victims),
        "deleted_groups": 1,
        "differences": len(drift),
        "differing": damaged,
    }
    say(
        f"[bold]5. Disaster[/]: a script deleted {len(victims)} users and the group 'staff'. "
        f"diff against the snapshot: [red]{len(drift)} differences[/] (exit 1) about {_count_things(damaged)} "
        "(one user can differ in several ways)"
    )
    start = time.monotonic()
    repaired = run_restore(
        cognito,
        pacer,
        repository,
        RestoreRequest(snapshot=snapshot, target_pool_id=pool_id, report_dir=report_root / "in-place"),
    )
    counts = repaired.summary.counts()
    detail = repaired.summary.detail()
    after = differences(desired, PoolReader(cognito, pacer, pool_id).read_state())
    result["restore_in_place"] = {
        **counts,
        "detail": detail,
        "seconds": round(time.monotonic() - start, 1),
        "differences": len(after),
    }
    say(
        f"[bold]6. Restore into the same pool[/]: created {_count_things(_touched(detail, 'created'))}; "
        f"updated {_count_things(_touched(detail, 'updated'))}; {counts['unchanged']} unchanged, "
        f"{counts['failed']} failed in {time.monotonic() - start:.1f}s, silently (MessageAction=SUPPRESS). "
        f"diff: {_verdict(after)}"
    )

    # Disaster 2: the pool (or its Region) is gone: rebuild it as a new pool from the snapshot.
    start = time.monotonic()
    rebuilt = run_restore(
        cognito,
        pacer,
        repository,
        RestoreRequest(snapshot=snapshot, new_pool_name="demo-recovered", report_dir=report_root / "new-pool"),
    )
    summary = rebuilt.summary
    new_detail = summary.detail()
    new_pool = str(summary.user_pool_id)
    final = differences(desired, PoolReader(cognito, pacer, new_pool).read_state())
    result["restore_new_pool"] = {
        **rebuilt.to_json(),
        "seconds": round(time.monotonic() - start, 1),
        "differences": [d.to_json() for d in final],
    }
    named = [*summary.plan.skipped, *summary.plan.notes]
    say(
        f"[bold]7. Restore into a new pool[/] {new_pool}: configuration, 2 app clients (new ids, secret kept), "
        f"resource server; created {_count_things(_touched(new_detail, 'created'))} in "
        f"{time.monotonic() - start:.1f}s at Cognito's default quotas. diff: {_verdict(final)}"
    )
    say(f"   {len(named)} user(s) named in the report as not restorable exactly as they were, e.g.:")
    for item in named[:2]:
        body = item.to_json()
        say(f"   [dim]{body.get('name')}: {body.get('reason')}[/]")
    say(f"   sub map (old sub -> new sub -> username): {rebuilt.sub_map_path}")
    say(f"   report: {rebuilt.report_path}")
    say("   Passwords never leave Cognito: restored users sign in again through 'forgot password' (docs/restore.md).")


KINDS = (("users", "user"), ("groups", "group"), ("memberships", "membership"))


def _things(diffs: Collection[Difference]) -> dict[str, int]:
    """How many users, groups and memberships differ (each counted once, however many ways)."""
    return {plural: len({d.name for d in diffs if d.kind == kind}) for plural, kind in KINDS}


def _touched(detail: dict[str, dict[str, int]], outcome: str) -> dict[str, int]:
    return {plural: detail.get(plural, {}).get(outcome, 0) for plural, _ in KINDS}


def _count_things(counts: dict[str, int]) -> str:
    parts = [f"{counts[plural]} {plural if counts[plural] != 1 else kind}" for plural, kind in KINDS if counts[plural]]
    return ", ".join(parts) or "nothing"


def _verdict(diffs: Collection[Difference]) -> str:
    if not diffs:
        return "[green]no differences[/] (exit 0): everything restorable came back"
    return f"[red]{len(diffs)} differences remain[/]"


def register(group: click.Group) -> None:
    group.add_command(demo)

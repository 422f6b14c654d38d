"""Examples at the end of each command's --help: a person learns a command from a command line faster
than from its options. Kept apart from the commands so a line here is checked against the options they
declare (tests/test_tryout_help.py parses every one) and no command's code changes to add one.

A command whose own help already shows command lines (`recover`) is left as it is."""

from __future__ import annotations

import click

REPO = "s3://my-backups/cognito"
POOL = "eu-west-1_AbCdEf123"

EXAMPLES: dict[str, tuple[str, ...]] = {
    "backup": (
        f"cognito-backup backup --user-pool-id {POOL} --repo ./backups",
        f"cognito-backup --region eu-west-1 backup --user-pool-id {POOL} --repo {REPO} --sse-kms-key-id alias/backups",
        f"cognito-backup backup --user-pool-id {POOL} --repo {REPO} --resume   # after Ctrl-C, a kill or a failure",
    ),
    "capture": (
        f"cognito-backup capture --repo {REPO} --queue https://sqs.eu-west-1.amazonaws.com/111122223333/cognito-changes",
        f"cognito-backup capture --repo {REPO} --queue https://sqs.eu-west-1.amazonaws.com/111122223333/cognito-changes"
        " --follow   # until Ctrl-C or SIGTERM",
    ),
    "check": (
        f"cognito-backup check --repo {REPO}",
        f"cognito-backup check --repo {REPO} --read-data   # reads every byte",
    ),
    "compact": (f"cognito-backup compact --repo {REPO} --user-pool-id {POOL}",),
    "demo": (
        "cognito-backup demo",
        "cognito-backup demo --users 2000 --repo /tmp/demo-repository",
    ),
    "diff": (
        f"cognito-backup diff --repo {REPO} --user-pool-id {POOL}   # exit 1 when they differ",
        f"cognito-backup diff --repo {REPO} --user-pool-id {POOL} --at 2026-11-21T10:15:30Z --json",
    ),
    "emulator": (
        "cognito-backup emulator --port 5000   # then: export AWS_ENDPOINT_URL=http://127.0.0.1:5000",
        "cognito-backup emulator --port 5000 --latency 0.15   # the real service's round trips",
    ),
    "migrate": (
        f"cognito-backup migrate start  --repo {REPO} --from-user-pool-id {POOL} --new-pool v2 --dry-run",
        f"cognito-backup migrate sync   --repo {REPO} --from-user-pool-id {POOL}   # every few minutes",
        f"cognito-backup migrate status --repo {REPO} --from-user-pool-id {POOL}",
        f"cognito-backup migrate finish --repo {REPO} --from-user-pool-id {POOL}",
    ),
    "migrate start": (
        f"cognito-backup migrate start --repo {REPO} --from-user-pool-id {POOL} --new-pool v2 --dry-run",
        f"cognito-backup migrate start --repo {REPO} --from-user-pool-id {POOL} --to-user-pool-id eu-west-1_Target1",
    ),
    "migrate sync": (f"cognito-backup migrate sync --repo {REPO} --from-user-pool-id {POOL}",),
    "migrate status": (f"cognito-backup migrate status --repo {REPO} --from-user-pool-id {POOL} --json",),
    "migrate finish": (
        f"cognito-backup migrate finish --repo {REPO} --from-user-pool-id {POOL} --report-dir ./reports",
    ),
    "prune": (
        f"cognito-backup prune --repo {REPO} --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run",
        f"cognito-backup prune --repo {REPO} --keep-daily 30 --user-pool-id {POOL}",
    ),
    "replicate": (
        f"cognito-backup replicate --repo {REPO} --to-user-pool-id us-west-2_Standby --region us-west-2 --dry-run",
        f"cognito-backup replicate --repo {REPO} --to-user-pool-id us-west-2_Standby --region us-west-2 --follow",
    ),
    "restore": (
        f"cognito-backup restore --repo {REPO} --user-pool-id {POOL} --dry-run   # always look at the plan first",
        f"cognito-backup restore --repo {REPO} --user-pool-id {POOL} --only user:alice",
        f"cognito-backup restore --repo {REPO} --new-pool before-the-mistake --at 2026-11-21T10:15:30Z",
        f"cognito-backup restore --repo {REPO} --user-pool-id {POOL} --config mfa,clients --dry-run",
    ),
    "show": (
        f"cognito-backup show --repo {REPO}",
        f"cognito-backup show --repo {REPO} --user-pool-id {POOL} --json",
    ),
    "snapshots": (
        f"cognito-backup snapshots --repo {REPO}",
        f"cognito-backup snapshots --repo {REPO} --user-pool-id {POOL} --json",
    ),
}


def add_examples(group: click.Group, path: tuple[str, ...] = ()) -> None:
    """Give each command of `group` (and of its sub-groups) its examples as the --help epilog."""
    for name, command in group.commands.items():
        lines = EXAMPLES.get(" ".join((*path, name)))
        if lines and command.epilog is None:
            # \b: click keeps the lines as they are instead of re-flowing them into one paragraph.
            command.epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
        if isinstance(command, click.Group):
            add_examples(command, (*path, name))

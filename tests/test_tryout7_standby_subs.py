"""A standby made with `restore --new-pool --keep-sub-in custom:old_sub` keeps the old sub of the users its
rounds create later (session 7 try-out).

Seen: runbook 1.2a/1.3 (fail over to the standby, then map data keyed by the old `sub` with the sub map
or `custom:old_sub`). A user signed up in the source after the standby was made came over with a new sub
and no `custom:old_sub`, and no sub map anywhere named it: after the failover nothing linked that user
to their data. Now `restore --new-pool` records the attribute on the pool it creates (tag
cognito-backup:keep-sub-in), and replicate rounds keep each user's source sub in it, as the restore did.
moto in-process through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import KEEP_SUB_TAG, STANDBY_TAG, kept_sub_attribute
from tests.helpers import add_user
from tests.restore_support import backup, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def attrs(cognito: Any, pool: str, user: str) -> dict[str, str]:
    got = cognito.admin_get_user(UserPoolId=pool, Username=user)["UserAttributes"]
    return {a["Name"]: a["Value"] for a in got}


def test_rounds_keep_the_old_sub_of_users_created_after_the_standby_was_made(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "source")
    repo = str(tmp_path / "repo")
    backup(cognito, source, repo)
    made = run("restore", "--repo", repo, "--new-pool", "standby", "--keep-sub-in", "custom:old_sub",
               "--report-dir", str(tmp_path / "report"), "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    standby = json.loads(made.stdout)["user_pool_id"]
    tags = cognito.describe_user_pool(UserPoolId=standby)["UserPool"]["UserPoolTags"]
    assert tags[STANDBY_TAG] == source and tags[KEEP_SUB_TAG] == "custom:old_sub"

    add_user(cognito, source, "frank", {"email": "frank@example.com", "email_verified": "true"})
    backup(cognito, source, repo)  # a new base snapshot: the round compares every user
    result = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert result.exit_code == 0, result.output
    assert attrs(cognito, standby, "frank")["custom:old_sub"] == attrs(cognito, source, "frank")["sub"]
    assert attrs(cognito, standby, "alice")["custom:old_sub"] == attrs(cognito, source, "alice")["sub"]
    again = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["operations"] == 0, again.output


def test_the_attribute_comes_from_the_tag_unless_named() -> None:
    assert kept_sub_attribute({KEEP_SUB_TAG: "custom:old_sub"}, None) == "custom:old_sub"
    assert kept_sub_attribute({KEEP_SUB_TAG: "custom:old_sub"}, "custom:was") == "custom:was"
    assert kept_sub_attribute({}, None) is None


def test_a_pool_restored_from_a_standby_does_not_inherit_its_keep_sub_record(cognito: Any, tmp_path: Path) -> None:
    """After a failover the standby is production: its users' custom:old_sub is their data. A pool restored
    from its snapshot without --keep-sub-in must not take the record, or its own standby rounds would
    overwrite that data with the new pool's subs."""
    source = rich_pool(cognito, "source")
    cognito.tag_resource(
        ResourceArn=cognito.describe_user_pool(UserPoolId=source)["UserPool"]["Arn"],
        Tags={KEEP_SUB_TAG: "custom:tier", "team": "identity"},
    )
    repo = str(tmp_path / "repo")
    backup(cognito, source, repo)
    made = run("restore", "--repo", repo, "--new-pool", "copy", "--report-dir", str(tmp_path / "r"), "--json")
    assert made.exit_code == 0, made.output
    tags = cognito.describe_user_pool(UserPoolId=json.loads(made.stdout)["user_pool_id"])["UserPool"]["UserPoolTags"]
    assert KEEP_SUB_TAG not in tags and tags["team"] == "identity"

"""Small things that each cost a user an hour (issue #8.10): one-shot capture that could not journal a
message fails loudly, malformed pool ids are usage errors, the demo's figures add up, the docs name no
file outside the repository, and the package metadata builds without warnings."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.conftest import REGION

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "args",
    [
        ["backup", "--user-pool-id", "not a pool", "--repo", "r"],
        ["snapshots", "--user-pool-id", "not a pool", "--repo", "r"],
        ["prune", "--user-pool-id", "not a pool", "--repo", "r", "--keep-last", "1"],
        ["diff", "--user-pool-id", "not a pool", "--repo", "r"],
        ["restore", "--user-pool-id", "not a pool", "--repo", "r"],
        ["compact", "--user-pool-id", "not a pool", "--repo", "r"],
        ["replicate", "--user-pool-id", "us-east-1_ok", "--to-user-pool-id", "nope", "--repo", "r"],
        ["replicate", "--user-pool-id", "us-east-1", "--to-user-pool-id", "us-east-1_ok", "--repo", "r"],
        ["capture", "--user-pool-id", "x" * 50 + "_" + "y" * 5, "--repo", "r", "--queue", "q"],
        ["backup", "--user-pool-id", "us-east-1_Äb", "--repo", "r"],  # \w is ASCII in the service's pattern
    ],
)
def test_a_malformed_pool_id_is_a_usage_error(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "not a user pool id" in result.output
    assert not Path("r").exists()


def test_a_well_formed_pool_id_passes_validation(tmp_path: Path) -> None:
    # Passes the type, then fails as the missing repository it is (not as a usage error).
    result = CliRunner().invoke(cli, ["snapshots", "--user-pool-id", "eu-west-2_AbC123xyz", "--repo", str(tmp_path)])
    assert result.exit_code == 7, result.output


def test_one_shot_capture_that_could_not_journal_a_message_fails_and_names_it(aws: None, tmp_path: Path) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="capture")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=url, MessageBody="{not an event")["MessageId"]
    repo = str(tmp_path / "repo")
    text = CliRunner().invoke(cli, ["capture", "--repo", repo, "--queue", url])
    assert text.exit_code == 1, text.output
    assert message_id in text.output
    assert "lag None" not in text.output and "None s" not in text.output
    # The first message is invisible now (SQS visibility timeout): a second one, in --json mode.
    second = sqs.send_message(QueueUrl=url, MessageBody="also not an event")["MessageId"]
    body = CliRunner().invoke(cli, ["capture", "--repo", repo, "--queue", url, "--json"])
    assert body.exit_code == 1, body.output
    out = json.loads(body.stdout)  # stdout stays one JSON document
    assert second in out["failures"] and out["failed"] == 1


@pytest.mark.slow
def test_the_demo_figures_add_up(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--repo", str(tmp_path / "demo"), "--users", "60", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    differing = body["disaster"]["differing"]
    detail = body["restore_in_place"]["detail"]
    assert {k: detail[k]["created"] + detail[k]["updated"] for k in differing} == differing
    assert differing["users"] == body["disaster"]["deleted_users"]


def test_docs_name_no_file_outside_the_repository() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        links = [t for t in re.findall(r"\]\(([^)#]+)", text) if not t.startswith(("http://", "https://", "mailto:"))]
        for target in links:  # a link leads to a file the repository holds
            assert (doc.parent / target).exists(), (doc.name, target)
        for target in links + re.findall(r"(?:\.\./)+[\w./-]+", text):  # a path (even a build output) stays inside
            assert (doc.parent / target).resolve().is_relative_to(ROOT), (doc.name, target)
        assert "cognito-facts" not in text, doc.name


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    requires = meta["build-system"]["requires"]
    # PEP 639 license expressions: setuptools 77 reads them (older ones reject or warn).
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", r) for r in requires), requires
    assert not any(c.startswith("License ::") for c in meta["project"].get("classifiers", []))

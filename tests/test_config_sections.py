"""Issue 11.4 for the newer configuration surfaces: each one a section of `restore --config` (session,
log-delivery, client-session, terms, managed-login-branding, cimd-policies, client-ui-customization,
client-risk), the hosted UI logo's bytes (11.3), and the standby following them.

moto has none of these calls: they run against tests/config_double.py, a DOUBLE of their documented
behaviour installed into moto; the logo is served by a local HTTP server standing in for CloudFront.
Calls are seen at botocore's boundary (tests/op_recorder.py), never by patching the project's functions.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from click.testing import CliRunner

from cognito_backup.aws.logo import LogoUnavailable, fetch_logo
from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.pool_creator import create_prepared_pool, created_pool_id, finish_pool
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.config_plan import ConfigOptions, plan_config
from cognito_backup.core.events import CONFIG_EVENTS
from cognito_backup.core.pool_translate import translate_pool_config
from cognito_backup.errors import CognitoBackupError
from cognito_backup.model import PoolConfig
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.factory import open_store
from tests import config_double
from tests.helpers import FaultInjector, make_pool
from tests.op_recorder import recording
from tests.restore_support import backup
from tests.test_config_surfaces import LOGS, PNG, surfaces_pool
from tests.test_deploy_template import TEMPLATE, load_template

READS = ("List", "Describe", "Get", "AdminGet", "AdminList")
LOGO = b"\x89PNG\r\n\x1a\n logo bytes \x00\xff"


@pytest.fixture
def double() -> Iterator[None]:
    config_double.install()
    yield
    config_double.uninstall()


class _Images(http.server.BaseHTTPRequestHandler):
    """CloudFront's stand-in: serves the logos the double was given (config_double.IMAGES)."""

    def do_GET(self) -> None:
        body = config_double.IMAGES.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def logo_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(config_double, "IMAGE_BASE", base)
    yield base
    server.shutdown()
    server.server_close()


BackedUp = tuple[str, dict[str, str], str]


@pytest.fixture
def backed_up(cognito: Any, double: None, tmp_path: Path) -> BackedUp:
    """A pool with every surface set (tests/test_config_surfaces.py), backed up: (pool, client ids, repo)."""
    pool, ids = surfaces_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    return pool, ids, repo


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def writes(rec: Any) -> list[Any]:
    return [c for c in rec.of("cognito-idp") if not c.operation.startswith(READS)]


def read(cognito: Any, pool: str) -> PoolConfig:
    return PoolReader(cognito, Pacer(sleep=lambda s: None), pool).read_config()


def _terms(config: PoolConfig) -> list[tuple[Any, ...]]:
    return [(t["ClientId"], t["TermsName"], t["TermsSource"], t["Enforcement"], t.get("Links")) for t in config.terms]


def _styles(config: PoolConfig) -> dict[str, Any]:
    keys = ("UseCognitoProvidedValues", "Settings", "Assets")
    return {cid: {k: s.get(k) for k in keys} for cid, s in config.managed_login_branding.items()}


def _policies(config: PoolConfig) -> list[tuple[Any, ...]]:
    return [(p["ClientId"], p["PolicyName"], p.get("CacheDuration"), p["URLPatterns"]) for p in config.cimd_policies]


def _risk(config: PoolConfig) -> dict[str, Any]:
    return {
        cid: {k: v for k, v in r.items() if k.endswith("Configuration")}
        for cid, r in config.client_risk_configuration.items()
    }


# section -> (what the operator's mistake does to the pool, the write that brings it back, its state)
Mistake = Callable[[Any, str, dict[str, str]], None]
CASES: dict[str, tuple[Mistake, str, Callable[[PoolConfig], Any]]] = {
    "session": (
        lambda c, p, ids: c.set_user_pool_session_configuration(
            UserPoolId=p, UserSessionTracking="DISABLED", TokenSession={"MaxPerUser": 3}
        ),
        "SetUserPoolSessionConfiguration",
        lambda config: config.session_configuration,
    ),
    "log-delivery": (
        lambda c, p, ids: c.set_log_delivery_configuration(UserPoolId=p, LogConfigurations=[]),
        "SetLogDeliveryConfiguration",
        lambda config: config.log_delivery,
    ),
    "client-session": (
        lambda c, p, ids: c.set_user_pool_client_session_configuration(
            UserPoolId=p, ClientId=ids["web"], SSOSession={"MaxValidityMinutes": 60}
        ),
        "SetUserPoolClientSessionConfiguration",
        lambda config: config.client_session_configuration,
    ),
    "terms": (
        lambda c, p, ids: c.update_terms(
            UserPoolId=p,
            TermsId=c.list_terms(UserPoolId=p)["Terms"][0]["TermsId"],
            Links={"cognito:default": "https://evil.example.com/terms"},
        ),
        "UpdateTerms",
        _terms,
    ),
    "managed-login-branding": (
        lambda c, p, ids: c.update_managed_login_branding(
            UserPoolId=p,
            ManagedLoginBrandingId=c.describe_managed_login_branding_by_client(UserPoolId=p, ClientId=ids["web"])[
                "ManagedLoginBranding"
            ]["ManagedLoginBrandingId"],
            Settings={"components": {"pageBackground": {"lightMode": {"color": "000000ff"}}}},
            Assets=[{"Category": "PAGE_HEADER_LOGO", "ColorMode": "LIGHT", "Extension": "PNG", "Bytes": b"other"}],
        ),
        "UpdateManagedLoginBranding",
        _styles,
    ),
    "cimd-policies": (
        lambda c, p, ids: c.update_cimd_policy(
            UserPoolId=p,
            CIMDPolicyId=c.list_cimd_policies(UserPoolId=p)["CIMDPolicies"][0]["CIMDPolicyId"],
            ClientId=ids["spa"],
            PolicyName="partners",
            URLPatterns=["https://evil.example.com/*"],
        ),
        "UpdateCIMDPolicy",
        _policies,
    ),
    "client-ui-customization": (
        lambda c, p, ids: c.set_ui_customization(UserPoolId=p, ClientId=ids["web"], CSS=".logo-customizable {}"),
        "SetUICustomization",
        lambda config: {cid: ui.get("CSS") for cid, ui in config.client_ui_customization.items()},
    ),
    "client-risk": (
        lambda c, p, ids: c.set_risk_configuration(
            UserPoolId=p,
            ClientId=ids["spa"],
            CompromisedCredentialsRiskConfiguration={
                "EventFilter": ["SIGN_UP"],
                "Actions": {"EventAction": "NO_ACTION"},
            },
        ),
        "SetRiskConfiguration",
        _risk,
    ),
}


@pytest.mark.parametrize("section", list(CASES))
def test_each_section_round_trips_in_place(cognito: Any, backed_up: BackedUp, tmp_path: Path, section: str) -> None:
    mistake, call, state = CASES[section]
    pool, ids, repo = backed_up
    before = state(read(cognito, pool))
    mistake(cognito, pool, ids)
    assert state(read(cognito, pool)) != before

    args = ("restore", "--repo", repo, "--user-pool-id", pool, "--report-dir", str(tmp_path / "r"))
    with recording() as rec:
        dry = run(*args, "--config", section, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert writes(rec) == []  # --dry-run writes nothing
    changes = [c for op in json.loads(dry.output)["plan"]["ops"] for c in op.get("changes", [])]
    assert changes and {c["section"] for c in changes} == {section}

    with recording() as rec:
        result = run(*args, "--config", section, "--json")
    assert result.exit_code == 0, result.output
    assert [c.operation for c in writes(rec)] == [call]
    assert state(read(cognito, pool)) == before
    again = run("diff", "--repo", repo, "--user-pool-id", pool, "--json")
    assert again.exit_code == 0, again.output
    assert "other" not in dry.output and base64.b64encode(b"other").decode() not in dry.output  # bytes: a digest


def test_a_clients_own_settings_follow_the_client_created_in_the_same_run(
    cognito: Any, backed_up: BackedUp, tmp_path: Path
) -> None:
    """Into another pool: the app clients are created, and each one's settings go to its new id."""
    source, ids, repo = backed_up
    target = make_pool(cognito, "target")
    cognito.create_user_pool_domain(UserPoolId=target, Domain="target-login")
    sections = "clients,client-session,terms,managed-login-branding,cimd-policies,client-ui-customization,client-risk"
    args = ("restore", "--repo", repo, "--source-user-pool-id", source, "--user-pool-id", target)
    args += ("--report-dir", str(tmp_path / "r"), "--config", sections)
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    mapped = json.loads(result.output)["client_id_map"]
    new = read(cognito, target)
    assert new.client_session_configuration == {mapped[ids["web"]]: {"MaxValidityMinutes": 480}}
    assert [(t[0], t[1]) for t in _terms(new)] == [(mapped[ids["web"]], "terms-of-use")]
    style = new.managed_login_branding[mapped[ids["web"]]]
    assert base64.b64decode(style["Assets"][0]["Bytes"]) == PNG
    assert _policies(new) == [(mapped[ids["spa"]], "partners", 86400, ["https://partners.example.com/*"])]
    assert new.client_ui_customization[mapped[ids["web"]]]["CSS"] == ".logo-customizable {max-width: 60%}"
    assert set(new.client_risk_configuration) == {mapped[ids["spa"]]}
    # A second run finds everything in place: nothing to do.
    with recording() as rec:
        assert run(*args, "--json").exit_code == 0
    assert writes(rec) == []


def test_a_clients_setting_without_the_client_refuses_with_exit_8(
    cognito: Any, backed_up: BackedUp, tmp_path: Path
) -> None:
    source, _, repo = backed_up
    target = make_pool(cognito, "target")
    args = ("restore", "--repo", repo, "--source-user-pool-id", source, "--user-pool-id", target)
    with recording() as rec:
        result = run(*args, "--report-dir", str(tmp_path / "r"), "--config", "terms")
    assert result.exit_code == 8, result.output
    assert writes(rec) == []
    text = " ".join(result.output.split())
    assert "web terms terms-of-use" in text and "--config" in text and "Nothing was written" in text


def _with_logo(cognito: Any, pool: str, client_id: str) -> None:
    cognito.set_ui_customization(UserPoolId=pool, CSS=".banner-customizable {}", ImageFile=LOGO)
    cognito.set_ui_customization(UserPoolId=pool, ClientId=client_id, ImageFile=LOGO + b"client")


def test_the_logo_bytes_are_kept_and_given_back(cognito: Any, double: None, logo_server: str, tmp_path: Path) -> None:
    pool, ids = surfaces_pool(cognito)
    _with_logo(cognito, pool, ids["web"])
    config = read(cognito, pool)
    assert not config.incomplete, config.incomplete
    assert (config.ui_customization or {})["ImageUrl"].startswith(logo_server)
    assert base64.b64decode((config.ui_customization or {})["ImageFile"]) == LOGO
    assert base64.b64decode(config.client_ui_customization[ids["web"]]["ImageFile"]) == LOGO + b"client"

    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    made = run("restore", "--repo", repo, "--new-pool", "copy", "--domain-prefix", "copy-login", "--json",
               "--report-dir", str(tmp_path / "r1"))  # fmt: skip
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    copy = read(cognito, body["user_pool_id"])
    assert base64.b64decode((copy.ui_customization or {})["ImageFile"]) == LOGO
    new_web = body["client_id_map"][ids["web"]]
    assert base64.b64decode(copy.client_ui_customization[new_web]["ImageFile"]) == LOGO + b"client"
    assert "logo" not in " ".join(body.get("warnings", []))

    # In place: another logo put over it comes back with --config.
    cognito.set_ui_customization(UserPoolId=pool, CSS=".banner-customizable {}", ImageFile=b"\x89PNG other")
    args = ("restore", "--repo", repo, "--user-pool-id", pool, "--report-dir", str(tmp_path / "r2"))
    dry = run(*args, "--config", "ui-customization", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "ImageFile" in dry.output and "bytes, sha256" in " ".join(dry.output.split())
    assert run(*args, "--config", "ui-customization").exit_code == 0
    assert base64.b64decode((read(cognito, pool).ui_customization or {})["ImageFile"]) == LOGO


def test_a_logo_that_cannot_be_fetched_makes_the_section_incomplete(
    cognito: Any, double: None, logo_server: str
) -> None:
    pool, ids = surfaces_pool(cognito)
    _with_logo(cognito, pool, ids["web"])
    config_double.IMAGES.clear()  # CloudFront answers 404
    config = read(cognito, pool)
    assert "GetUICustomization" in config.incomplete
    assert "HTTP 404" in config.incomplete["GetUICustomization"]


def test_the_logo_fetch_is_bounded(logo_server: str) -> None:
    with pytest.raises(LogoUnavailable, match="HTTPS only"):
        fetch_logo("http://example.com/logo.png")  # plain HTTP only to a loopback address: nothing sent
    with pytest.raises(LogoUnavailable, match="HTTPS only"):
        fetch_logo("file:///etc/passwd")
    config_double.IMAGES["/big.png"] = b"x" * 5000
    with pytest.raises(LogoUnavailable, match="larger than 4096 bytes"):
        fetch_logo(f"{logo_server}/big.png", max_bytes=4096)
    assert fetch_logo(f"{logo_server}/big.png") == b"x" * 5000


def test_standby_follows_the_newer_surfaces_but_keeps_its_own_log_delivery(
    cognito: Any, backed_up: BackedUp, tmp_path: Path
) -> None:
    source, ids, repo = backed_up
    made = run("restore", "--repo", repo, "--new-pool", "standby", "--domain-prefix", "standby-login", "--json",
               "--report-dir", str(tmp_path / "r"))  # fmt: skip
    assert made.exit_code == 0, made.output
    standby = json.loads(made.output)["user_pool_id"]
    mapped = json.loads(made.output)["client_id_map"]
    own_logs = [dict(LOGS[0], LogLevel="INFO")]
    cognito.set_log_delivery_configuration(UserPoolId=standby, LogConfigurations=own_logs)
    first = run("replicate", "--repo", repo, "--user-pool-id", source, "--to-user-pool-id", standby, "--json")
    assert first.exit_code == 0, first.output

    # The source changes its terms, a client's risk configuration, its sessions and its log delivery.
    cognito.update_terms(
        UserPoolId=source,
        TermsId=cognito.list_terms(UserPoolId=source)["Terms"][0]["TermsId"],
        Links={"cognito:default": "https://example.com/terms-v2"},
    )
    CASES["client-risk"][0](cognito, source, ids)
    cognito.set_user_pool_session_configuration(
        UserPoolId=source, UserSessionTracking="ENABLED", TokenSession={"MaxPerUser": 9}
    )
    cognito.set_log_delivery_configuration(UserPoolId=source, LogConfigurations=[])
    now = dt.datetime.now(dt.UTC)
    record = {
        "type": "config_changed", "pool": source, "key": None, "sub": None,
        "changed_at": format_time(now), "observed_at": format_time(now), "event_id": "evt-config-2",
        "event_name": "UpdateTerms", "source": "cloudtrail", "seq": 0, "after": read(cognito, source).to_record(),
    }  # fmt: skip
    Journal(Repository(open_store(repo, AwsContext())).store).append(source, [record])
    with recording() as rec:
        second = run("replicate", "--repo", repo, "--user-pool-id", source, "--to-user-pool-id", standby, "--json")
    assert second.exit_code == 0, second.output
    assert {c.operation for c in writes(rec)} == {
        "UpdateTerms",
        "SetRiskConfiguration",
        "SetUserPoolSessionConfiguration",
    }
    after = read(cognito, standby)
    assert after.terms[0]["Links"] == {"cognito:default": "https://example.com/terms-v2"}
    assert after.session_configuration == {"UserSessionTracking": "ENABLED", "TokenSession": {"MaxPerUser": 9}}
    assert _risk(after)[mapped[ids["spa"]]] == _risk(read(cognito, source))[ids["spa"]]
    assert after.log_delivery == own_logs  # the standby's own destinations


# Every write of the newer surfaces, from botocore's service model (not from the code under test).
SURFACES = ("Terms", "ManagedLoginBranding", "CIMDPolicy", "SessionConfiguration", "LogDeliveryConfiguration")
NEWER_EVENTS = {
    op
    for op in botocore.session.get_session().get_service_model("cognito-idp").operation_names
    if op.startswith(("Create", "Update", "Delete", "Set")) and op.endswith(SURFACES)
}


def test_capture_journals_the_newer_surfaces_changes() -> None:
    """What the standby follows is what capture journals: their CloudTrail events reach it (the rule) and
    are configuration changes (a config_changed record, the whole configuration re-read)."""
    assert len(NEWER_EVENTS) == 12
    assert NEWER_EVENTS <= CONFIG_EVENTS
    rule = load_template(TEMPLATE.read_text(encoding="utf-8"))["Resources"]["CaptureRule"]["Properties"]
    assert set(rule["EventPattern"]["detail"]["eventName"]) >= NEWER_EVENTS
    # EventBridge's default limit on a pattern is 2,048 characters; the pool id (!Ref) adds about 50.
    assert len(json.dumps(rule["EventPattern"], separators=(",", ":"))) < 2048 - 100


def test_cimd_policies_are_created_once_when_a_new_pool_is_finished_after_an_interruption(
    cognito: Any, double: None
) -> None:
    """CreateCIMDPolicy has no "already exists" answer: a resumed --new-pool reads the policies back first."""
    source, ids = surfaces_pool(cognito)
    cognito.create_cimd_policy(
        UserPoolId=source, ClientId=ids["web"], PolicyName="vendors", URLPatterns=["https://vendors.example.com/*"]
    )
    config = read(cognito, source)
    plan = translate_pool_config(config, "copy", domain_prefix="copy-login")
    # The second CreateCIMDPolicy fails (the run is interrupted there): the first policy exists already.
    fault = FaultInjector(cognito, code="NotAuthorizedException", operations={"CreateCIMDPolicy"}, fail_on_call=2)
    with pytest.raises(CognitoBackupError) as interrupted:
        create_prepared_pool(cognito, Pacer(sleep=lambda s: None), plan, "copy", lambda m: None)
    fault.remove()
    new_pool = created_pool_id(interrupted.value)
    assert new_pool and len(cognito.list_cimd_policies(UserPoolId=new_pool)["CIMDPolicies"]) == 1

    finished = finish_pool(cognito, Pacer(sleep=lambda s: None), new_pool, plan, lambda m: None)
    policies = read(cognito, new_pool).cimd_policies
    made = sorted((p["ClientId"], p["PolicyName"]) for p in policies)
    web, spa = finished.client_id_map[ids["web"]], finished.client_id_map[ids["spa"]]
    assert made == sorted([(spa, "partners"), (web, "vendors")])


def test_a_snapshot_older_than_log_delivery_backups_never_removes_the_pools() -> None:
    """SetLogDeliveryConfiguration replaces the whole list: a snapshot that never recorded one is not "none"."""
    pool = {"Id": "us-east-1_A", "Name": "p", "Arn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_A"}
    old = PoolConfig.from_record({"user_pool": pool})
    live = PoolConfig.from_record({"user_pool": pool, "log_delivery": LOGS})
    found = plan_config(old, live, ConfigOptions(sections=frozenset({"log-delivery"})))
    assert found.ops == [] and [n.name for n in found.notices] == ["log-delivery GetLogDeliveryConfiguration"]
    none = PoolConfig.from_record({"user_pool": pool, "log_delivery": []})  # recorded: the pool had none
    assert [op.call for op in plan_config(none, live, ConfigOptions(sections=frozenset({"log-delivery"}))).ops] == [
        "SetLogDeliveryConfiguration"
    ]

"""Client factory. Follows the AWS CLI's conventions: --region, --profile, --endpoint-url and the
standard AWS_* environment variables (AWS_ENDPOINT_URL included, which botocore reads itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from cognito_backup.aws.endpoint_gaps import add_endpoint_gaps

# Every Cognito call goes through cognito_backup.aws.pacing, which paces, counts and retries it (throttling
# by slowing the whole quota category down; connection errors and 5xx a bounded number of times). A
# botocore retry underneath would make one paced call several quota hits the pacer never sees, so
# Cognito clients make exactly one HTTP attempt. (`total_max_attempts` counts the first attempt;
# botocore's `max_attempts` counts retries only, so max_attempts=1 would still allow one retry.)
PACED_SERVICES = frozenset({"cognito-idp"})


def client_config(service: str, max_pool_connections: int) -> Config:
    """botocore's settings for one service: no retry for paced services, standard mode otherwise (S3 and
    SQS have no pacer: botocore retries their throttling, 5xx and connection errors, 5 attempts in all)."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1 if service in PACED_SERVICES else 5},
        max_pool_connections=max_pool_connections,
        user_agent_extra="cognito-backup",
    )


@dataclass
class AwsContext:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_pool_connections: int = 32
    _session: boto3.Session | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
            self._session.events.register("creating-client-class", add_endpoint_gaps)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"config": client_config(service, self.max_pool_connections)}
        if region or self.region:
            kwargs["region_name"] = region or self.region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session.client(service, **kwargs)  # type: ignore[call-overload]

    @property
    def region_name(self) -> str | None:
        return self.region or self.session.region_name

"""Client factory. Follows the AWS CLI's conventions: --region, --profile, --endpoint-url and the
standard AWS_* environment variables (AWS_ENDPOINT_URL included, which botocore reads itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config


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
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        # botocore keeps retrying transient network and 5xx errors (standard mode, 3 attempts); throttling
        # is paced and retried by cognito_backup.aws.pacing, which also slows the whole category down.
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            max_pool_connections=self.max_pool_connections,
            user_agent_extra="cognito-backup",
        )
        kwargs: dict[str, Any] = {"config": config}
        if region or self.region:
            kwargs["region_name"] = region or self.region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session.client(service, **kwargs)  # type: ignore[call-overload]

    @property
    def region_name(self) -> str | None:
        return self.region or self.session.region_name

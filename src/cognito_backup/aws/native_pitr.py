"""The calls of AWS's native point-in-time recovery (botocore >= 1.44), each paced and with its documented
errors turned into the tool's own (core/recover_plan.py decides what they mean)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.aws.errors import error_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import _snake
from cognito_backup.core.recover_plan import PoolFacts, Recovery, error_for, to_utc
from cognito_backup.errors import UsageError

# An import job in these statuses blocks a recovery (DescribeUserImportJob's documented statuses).
RUNNING_IMPORT = frozenset({"Pending", "InProgress", "Stopping"})


class NativePitr:
    def __init__(self, client: Any, pacer: Pacer, user_pool_id: str) -> None:
        if not hasattr(client, "initiate_point_in_time_recovery"):
            raise UsageError(
                "this botocore has no point-in-time recovery operations",
                hint="Upgrade: pip install 'botocore>=1.44' (the operations were added in 1.44).",
            )
        self.client = client
        self.pacer = pacer
        self.pool_id = user_pool_id

    def _call(self, operation: str, restore_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        try:
            result: dict[str, Any] = self.pacer.call(operation, method, pool_id=self.pool_id, **kwargs)
        except ClientError as exc:
            known = error_for(operation, error_code(exc), self.pool_id, restore_id)
            raise (known or translate_client_error(exc, f"{operation} on user pool {self.pool_id}")) from exc
        return result

    # ---- reads ------------------------------------------------------------------------------------
    def facts(self) -> PoolFacts:
        """Everything the pre-checks need: plan tier, creation time, running import jobs, recoveries."""
        pool = self._call("DescribeUserPool", UserPoolId=self.pool_id)["UserPool"]
        return PoolFacts(
            user_pool_id=self.pool_id,
            tier=str(pool.get("UserPoolTier") or "ESSENTIALS"),  # Cognito's documented default
            created=to_utc(pool.get("CreationDate")),
            active_import_jobs=tuple(self.running_import_jobs()),
            recoveries=tuple(self.recoveries(with_details=True)),
        )

    def running_import_jobs(self) -> list[str]:
        jobs: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "MaxResults": 60}
            if token:
                kwargs["PaginationToken"] = token
            page = self._call("ListUserImportJobs", **kwargs)
            jobs += [str(j.get("JobId")) for j in page.get("UserImportJobs", []) if j.get("Status") in RUNNING_IMPORT]
            token = page.get("PaginationToken")
            if not token:
                return jobs

    def recoveries(self, *, with_details: bool = False) -> list[Recovery]:
        """The pool's recoveries, most recent first. `with_details`: the completed ones described too
        (only DescribePointInTimeRecovery gives TriggerTimestamp, which the 24-hour rule needs)."""
        out: list[Recovery] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "MaxResults": 60}
            if token:
                kwargs["NextToken"] = token
            page = self._call("ListPointInTimeRecoveries", **kwargs)
            out += [Recovery.from_aws(r) for r in page.get("Restorations", [])]
            token = page.get("NextToken")
            if not token:
                break
        if with_details:
            # Only the most recent completed one can fall within the last 24 hours.
            done = next((r for r in out if r.status == "RESTORE_COMPLETED"), None)
            if done is not None:
                out = [self.describe(r.restore_id) if r is done else r for r in out]
        return out

    def describe(self, restore_id: str) -> Recovery:
        data = self._call("DescribePointInTimeRecovery", restore_id, UserPoolId=self.pool_id, RestoreId=restore_id)
        return Recovery.from_aws(data.get("Restoration", {}))

    # ---- writes -----------------------------------------------------------------------------------
    def initiate(self, at: Any) -> Recovery:
        data = self._call("InitiatePointInTimeRecovery", UserPoolId=self.pool_id, RestoreTimestamp=at)
        return Recovery.from_aws(data.get("Restoration", {}))

    def start(self, restore_id: str) -> Recovery:
        data = self._call("StartPointInTimeRecovery", restore_id, UserPoolId=self.pool_id, RestoreId=restore_id)
        return Recovery.from_aws(data.get("Restoration", {}))

    def cancel(self, restore_id: str) -> Recovery:
        data = self._call("CancelPointInTimeRecovery", restore_id, UserPoolId=self.pool_id, RestoreId=restore_id)
        return Recovery.from_aws(data.get("Restoration", {}))

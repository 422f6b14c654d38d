"""Every failure the tool reports, each with its own exit code (documented in docs/exit-codes.md).

Messages speak to a person and never carry attribute values: user attributes are personal data.
"""

from __future__ import annotations


class CognitoBackupError(Exception):
    """Base class: a failure the user can act on. `exit_code` is the process exit status."""

    exit_code = 1
    kind = "error"
    # What to do, for a kind whose remedy does not depend on where it was raised (docs/exit-codes.md).
    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class DifferencesFound(CognitoBackupError):
    """`diff`: the pool and the snapshot differ (not a malfunction; monitoring keys on it)."""

    exit_code = 1
    kind = "differences"


class OperationsFailed(CognitoBackupError):
    """A restore/replicate finished but some operations failed; every failure is named in the report."""

    exit_code = 1
    kind = "partial_failure"


class UsageError(CognitoBackupError):
    exit_code = 2
    kind = "usage"


class AccessDenied(CognitoBackupError):
    exit_code = 3
    kind = "access_denied"


class PoolNotFound(CognitoBackupError):
    exit_code = 4
    kind = "pool_not_found"
    default_hint = (
        "Check --user-pool-id and --region (or AWS_REGION, or the profile's Region): a pool id begins with its "
        "Region; `aws cognito-idp list-user-pools --max-results 60` lists the pools there."
    )


class Throttled(CognitoBackupError):
    """Cognito kept throttling past the retry budget. Nothing written so far is lost."""

    exit_code = 5
    kind = "throttled"


class RepositoryDamaged(CognitoBackupError):
    exit_code = 6
    kind = "repository_damaged"
    default_hint = (
        "Keep the repository as it is; `cognito-backup check --read-data` names every damaged part: restore "
        "from a snapshot it passes (--snapshot ID)."
    )


class RepositoryNotFound(CognitoBackupError):
    """The repository, or the snapshot asked for, does not exist."""

    exit_code = 7
    kind = "not_found"


class PlanRefused(CognitoBackupError):
    """The target cannot take the snapshot as it is (schema mismatch, create-only settings...).

    Raised before anything is written to the target.
    """

    exit_code = 8
    kind = "plan_refused"


class AwsError(CognitoBackupError):
    """Another AWS error we cannot classify further; the AWS error code is in the message."""

    exit_code = 9
    kind = "aws_error"


class StoreUnavailable(CognitoBackupError):
    """The repository storage (disk, S3) cannot be written or read."""

    exit_code = 10
    kind = "store_unavailable"


class SnapshotIncomplete(CognitoBackupError):
    """A snapshot was written, but some configuration sections could not be read (still failing after
    retries, or denied by IAM): it is marked incomplete with the reason per section."""

    exit_code = 11
    kind = "snapshot_incomplete"


class NotRestorable(CognitoBackupError):
    """A restore/replicate did everything it could, but the target cannot hold some items of the snapshot
    (a required attribute the snapshot lacks, federated users, ...): each item is named."""

    exit_code = 12
    kind = "not_restorable"


class RepositoryBusy(CognitoBackupError):
    """A backup waited for a running prune (its exclusive lock, docs/format.md "Locks") and gave up."""

    exit_code = 13
    kind = "repository_busy"


class Interrupted(CognitoBackupError):
    """Stopped by SIGINT/SIGTERM after saving progress; re-running the same command resumes."""

    exit_code = 130
    kind = "interrupted"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `kill` stopping us), raised where the signal lands. A KeyboardInterrupt, so
    it takes exactly Ctrl-C's clean-up path (temporary files removed, locks released, progress saved);
    only the exit code differs: 143, as a shell reports a process killed by SIGTERM (128 + 15)."""

    exit_code = 143


class OutOfTime(Interrupted):
    """A bounded restore step (the deployed restore's Lambda) ran out of its time: it started no new
    operation, let the running ones finish and saved its progress; the next step carries on."""

    kind = "out_of_time"


EXIT_CODES: list[tuple[int, str, str]] = [
    (0, "ok", "Success (for diff: pool and snapshot are equal)."),
    (1, "differences / partial_failure", "diff found differences; restore/replicate had failed operations."),
    (2, "usage", "Bad command line or option value."),
    (3, "access_denied", "AWS credentials missing, expired or not allowed to make a call."),
    (4, "pool_not_found", "The user pool id does not exist in that account and Region."),
    (5, "throttled", "Cognito kept throttling beyond the retry budget."),
    (6, "repository_damaged", "An object or manifest is missing, truncated or altered."),
    (7, "not_found", "The repository or snapshot does not exist."),
    (8, "plan_refused", "The target pool cannot take the snapshot (schema mismatch...); nothing written."),
    (9, "aws_error", "Any other AWS error (its code is printed)."),
    (10, "store_unavailable", "The repository storage (disk or S3) cannot be read or written."),
    (
        11,
        "snapshot_incomplete",
        "The snapshot was written but some sections could not be read; it is marked incomplete.",
    ),
    (12, "not_restorable", "The restore did all it could; items the target cannot take are named."),
    (13, "repository_busy", "A prune held the repository's exclusive lock for too long; nothing written."),
    (70, "internal", "A bug in cognito-backup: please report it with the traceback."),
    (130, "interrupted", "Stopped by Ctrl-C after saving progress; re-run to resume."),
    (143, "interrupted", "Stopped by SIGTERM after saving progress, as a shell reports it; re-run to resume."),
    (141, "broken_pipe", "The reader of stdout went away (`| head`); stopped quietly, as a shell reports SIGPIPE."),
]

"""Where pending rescan jobs (core/rescan.py) are kept: `journal/<pool-id>/rescans/<created>_<random>.json`.

One object per job, created by the capture call whose batch held the unidentified change (the message
is acknowledged only once it is stored), rewritten with the next page token after each call's pages
are durable in the journal, deleted when the listing is complete. Two processes continuing the same
job at once list the same pages twice: duplicate observations, never a lost one (a job deleted by one
and saved again by the other is only listed again).
"""

from __future__ import annotations

import json
import secrets

from cognito_backup.core.rescan import RescanJob
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.journal import RESCANS_NAME, pool_prefix
from cognito_backup.store.base import ObjectNotFound, Store

RESCANS_DIR = f"{RESCANS_NAME}/"
RESCAN_KIND = "journal-rescan"
RESCAN_FORMAT_VERSION = 1


def rescans_prefix(pool_id: str) -> str:
    return f"{pool_prefix(pool_id)}{RESCANS_DIR}"


def parse_job(key: str, data: bytes) -> RescanJob:
    try:
        body = json.loads(data.decode("utf-8"))
        if body["kind"] != RESCAN_KIND or int(body["format_version"]) > RESCAN_FORMAT_VERSION:
            raise ValueError("not a rescan job of a known format")
        return RescanJob.from_record(body["job"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RepositoryDamaged(f"rescan job {key} is not valid ({type(exc).__name__})") from None


class RescanJobs:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, job: RescanJob) -> str:
        stamp = job.created_at.replace("-", "").replace(":", "")
        key = f"{rescans_prefix(job.pool_id)}{stamp}_{secrets.token_hex(8)}.json"
        self.save(key, job)
        return key

    def save(self, key: str, job: RescanJob) -> None:
        body = {"format_version": RESCAN_FORMAT_VERSION, "kind": RESCAN_KIND, "job": job.to_record()}
        self.store.put_bytes(key, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8"))

    def pending(self, pool_id: str) -> list[tuple[str, RescanJob]]:
        """The pool's jobs, oldest first (one LIST; a GET per job, and jobs are few)."""
        out = []
        for info in sorted(self.store.list(rescans_prefix(pool_id)), key=lambda i: i.key):
            try:
                out.append((info.key, parse_job(info.key, self.store.get_bytes(info.key))))
            except ObjectNotFound:
                continue  # finished by another process since the listing
        return out

    def finish(self, key: str) -> None:
        self.store.delete(key)

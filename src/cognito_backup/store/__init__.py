"""Storage backends for the repository: one small protocol, several thin backends.

Behaviour such as encryption, retries or fault injection is added by backends or wrappers, never by
the repository code, in the manner of restic's backends.
"""

from cognito_backup.store.base import ObjectInfo, ObjectNotFound, Store
from cognito_backup.store.factory import open_store

__all__ = ["ObjectInfo", "ObjectNotFound", "Store", "open_store"]

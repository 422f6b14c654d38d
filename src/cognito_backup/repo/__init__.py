"""The repository format (docs/format.md): content-addressed objects, manifests written last."""

from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.repository import Repository, SnapshotWriter

__all__ = ["Manifest", "ObjectRef", "Repository", "SnapshotWriter"]

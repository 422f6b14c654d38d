"""cognito-backup: backups, point-in-time restores and warm standbys for Amazon Cognito user pools."""

__version__ = "0.1.0"

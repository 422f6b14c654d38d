"""A call the endpoint does not answer as AWS would, made to look the same whichever emulator runs.

moto's HTTP server answers a call it lacks with an HTML 500 page, which botocore turns into a ClientError
whose code is the bare status; every layer already judges that (optional sections: "not offered";
translation: exit 9, "the endpoint does not implement this call"). moto in-process (`mock_aws`) instead
raises NotImplementedError out of the client call, and any failure of its own as whatever Python
exception it met: without this they would end as the tool's internal error (exit 70, "a bug in
cognito-backup"). Here they become the ClientError an HTTP endpoint would have given: 501 Not
Implemented for a missing call, 500 for the endpoint's own failure. Installed on every client
`AwsContext` makes (botocore's `creating-client-class` event, the documented way to extend a client).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cognito_backup.errors import CognitoBackupError

NOT_IMPLEMENTED_STATUS = 501
ENDPOINT_FAILED_STATUS = 500


def as_http_answer(exc: Exception, operation_name: str) -> ClientError:
    """The ClientError an HTTP endpoint answers with instead of `exc` (its text stays out: an emulator's
    message may echo request values)."""
    status = NOT_IMPLEMENTED_STATUS if isinstance(exc, NotImplementedError) else ENDPOINT_FAILED_STATUS
    response: Any = {
        "Error": {"Code": str(status), "Message": f"{type(exc).__name__} raised by the endpoint"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {"content-type": "text/plain"}},
    }
    return ClientError(response, operation_name)


class EndpointGaps:
    """Mixed into botocore client classes: see the module's doc."""

    def _make_api_call(self, operation_name: str, api_params: dict[str, Any]) -> Any:
        try:
            return super()._make_api_call(operation_name, api_params)  # type: ignore[misc]
        except (BotoCoreError, ClientError, CognitoBackupError, AssertionError):
            # The tool's own errors, and a failed assertion (a test's hook on the client), are no answer
            # of the endpoint's.
            raise
        except Exception as exc:  # not KeyboardInterrupt/SystemExit: a stop is never an endpoint's answer
            raise as_http_answer(exc, operation_name) from exc


def add_endpoint_gaps(base_classes: list[type], **kwargs: Any) -> None:
    base_classes.insert(0, EndpointGaps)

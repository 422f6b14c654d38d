"""The local emulator's double of Cognito's pool tagging API, which moto lacks (TagResource, UntagResource
and ListTagsForResource answer "not implemented" in moto 5): `replicate` tags its standby pool
(core/standby.py), so without it `replicate` could not run on the emulator.

Installed into moto's own request handling (in-process `mock_aws` and moto's server alike) by
`Emulator.start()` and by the tests, so callers make their real boto3 calls. It follows the documented
behaviour (Cognito API reference, TagResource / UntagResource / ListTagsForResource): the resource is a
user pool ARN, an unknown ARN is ResourceNotFoundException, TagResource adds or overwrites keys and keeps
the others, a pool holds at most 50 tags, and the tags are also what DescribeUserPool returns as
UserPoolTags.
"""

from __future__ import annotations

import json
from typing import Any

MAX_TAGS = 50


def _pool(response: Any) -> Any:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    arn = response._get_param("ResourceArn")
    for pool in response.backend.user_pools.values():
        if pool.arn == arn:
            return pool
    raise ResourceNotFoundError(f"Resource {arn} does not exist.")


def _tags(pool: Any) -> dict[str, str]:
    return dict(pool.extended_config.get("UserPoolTags") or {})


def _set_tags(pool: Any, tags: dict[str, str]) -> None:
    # Where moto keeps the tags given to CreateUserPool: DescribeUserPool then returns them.
    pool.extended_config["UserPoolTags"] = tags


def tag_resource(self: Any) -> str:
    from moto.cognitoidp.exceptions import InvalidParameterException

    pool = _pool(self)
    merged = {**_tags(pool), **(self._get_param("Tags") or {})}
    if len(merged) > MAX_TAGS:
        raise InvalidParameterException(f"A user pool can have at most {MAX_TAGS} tags")
    _set_tags(pool, merged)
    return "{}"


def untag_resource(self: Any) -> str:
    pool = _pool(self)
    drop = set(self._get_param("TagKeys") or [])
    _set_tags(pool, {k: v for k, v in _tags(pool).items() if k not in drop})
    return "{}"


def list_tags_for_resource(self: Any) -> str:
    return json.dumps({"Tags": _tags(_pool(self))})


def install() -> None:
    """Add the calls to moto's Cognito handler (idempotent; calls moto has itself are left alone)."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    for fn in (tag_resource, untag_resource, list_tags_for_resource):
        if fn.__name__ not in vars(CognitoIdpResponse) or getattr(CognitoIdpResponse, fn.__name__) is fn:
            setattr(CognitoIdpResponse, fn.__name__, fn)

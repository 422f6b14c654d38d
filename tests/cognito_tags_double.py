"""An honest double of Cognito's pool tagging API, which moto lacks (TagResource, UntagResource and
ListTagsForResource answer "not implemented" in moto 5).

Installed into moto's own request handling (in-process and moto's server alike), so the code under
test makes its real boto3 calls. It follows the documented behaviour (Cognito API reference,
TagResource / UntagResource / ListTagsForResource): the resource is a user pool ARN, an unknown ARN is
ResourceNotFoundException, TagResource adds or overwrites keys and keeps the others, a pool holds at
most 50 tags, and the tags are also what DescribeUserPool returns as UserPoolTags.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.cognitoidp.responses import CognitoIdpResponse

MAX_TAGS = 50


def _pool(response: Any) -> Any:
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


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    for fn in (tag_resource, untag_resource, list_tags_for_resource):
        monkeypatch.setattr(CognitoIdpResponse, fn.__name__, fn, raising=False)

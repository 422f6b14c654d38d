"""The harness's IAM evaluator (tests/iam_eval.py) against the documented evaluation rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_eval import Request, condition_holds, evaluate

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AAA"
ALLOW_READ: dict[str, Any] = {
    "Effect": "Allow",
    "Action": ["cognito-idp:ListUsers", "cognito-idp:Describe*"],
    "Resource": POOL,
}


def test_an_allow_must_match_action_and_resource() -> None:
    assert evaluate([ALLOW_READ], Request("cognito-idp:ListUsers", POOL)) == "allow"
    assert evaluate([ALLOW_READ], Request("cognito-idp:listusers", POOL)) == "allow"  # actions ignore case
    assert evaluate([ALLOW_READ], Request("cognito-idp:DescribeUserPool", POOL)) == "allow"
    assert evaluate([ALLOW_READ], Request("cognito-idp:AdminDeleteUser", POOL)) == "implicit-deny"
    assert evaluate([ALLOW_READ], Request("cognito-idp:ListUsers", POOL.replace("AAA", "BBB"))) == "implicit-deny"
    # Resources are case-sensitive.
    assert evaluate([ALLOW_READ], Request("cognito-idp:ListUsers", POOL.replace("AAA", "aaa"))) == "implicit-deny"


def test_wildcards_are_iam_wildcards_not_globs() -> None:
    stmt = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/p/*"}
    assert evaluate([stmt], Request("s3:GetObject", "arn:aws:s3:::b/p/x/y")) == "allow"
    assert evaluate([stmt], Request("s3:GetObject", "arn:aws:s3:::b/px")) == "implicit-deny"
    brackets = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/[ab]"}
    assert evaluate([brackets], Request("s3:GetObject", "arn:aws:s3:::b/a")) == "implicit-deny"


def test_an_explicit_deny_in_the_resource_policy_wins() -> None:
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}
    req = Request("s3:PutObject", "arn:aws:s3:::b/k")
    assert evaluate([allow], req, resource_policy=[deny]) == "explicit-deny"
    assert evaluate([allow], Request("s3:GetObject", "arn:aws:s3:::b/k"), resource_policy=[deny]) == "allow"


def test_not_action_and_not_resource() -> None:
    stmt = {"Effect": "Deny", "NotAction": "s3:GetObject", "NotResource": "arn:aws:s3:::safe/*"}
    allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert evaluate([allow, stmt], Request("s3:PutObject", "arn:aws:s3:::b/k")) == "explicit-deny"
    assert evaluate([allow, stmt], Request("s3:GetObject", "arn:aws:s3:::b/k")) == "allow"
    assert evaluate([allow, stmt], Request("s3:PutObject", "arn:aws:s3:::safe/k")) == "allow"


@pytest.mark.parametrize(
    ("operator", "wanted", "context", "holds"),
    [
        ("StringEquals", "aws:kms", {"k": "aws:kms"}, True),
        ("StringEquals", "aws:kms", {"k": "AES256"}, False),
        ("StringEquals", "aws:kms", {}, False),
        ("StringNotEquals", "aws:kms", {"k": "AES256"}, True),
        # A missing key matches no value: a positive operator is false, a negated one (StringNotLike,
        # ArnNotLike, ...) TRUE (IAM User Guide, "Condition operators")...
        ("StringNotEquals", "aws:kms", {}, True),
        ("ArnNotLike", "arn:aws:sns:*", {}, True),
        # ...and so does the IfExists form (issue 13's bucket policy bug: it held for every UploadPart).
        ("StringNotEqualsIfExists", "aws:kms", {}, True),
        ("StringNotEqualsIfExists", "aws:kms", {"k": "aws:kms"}, False),
        ("StringNotEqualsIfExists", "aws:kms", {"k": "AES256"}, True),
        ("StringLike", ["p", "p/*"], {"k": "p/journal/x"}, True),
        ("StringLike", ["p", "p/*"], {"k": "q/"}, False),
        ("StringLike", ["p", "p/*"], {"k": ["q", "p"]}, True),
        ("ArnEquals", "arn:aws:events:us-east-1:1:rule/r", {"k": "arn:aws:events:us-east-1:1:rule/r"}, True),
        ("Bool", "false", {"k": "true"}, False),
        ("Bool", "false", {"k": "false"}, True),
        ("NumericLessThan", "1.2", {"k": "1.3"}, False),
        ("NumericLessThan", "1.2", {"k": "1.0"}, True),
        ("Null", "true", {}, True),
        ("Null", "true", {"k": "x"}, False),
    ],
)
def test_condition_operators(operator: str, wanted: Any, context: dict[str, Any], holds: bool) -> None:
    assert condition_holds(operator, "k", wanted, context) is holds


def test_condition_keys_ignore_case() -> None:
    assert condition_holds("StringEquals", "S3:Prefix", "p", {"s3:prefix": "p"})


def test_an_unknown_operator_is_refused_not_guessed() -> None:
    with pytest.raises(NotImplementedError):
        condition_holds("DateLessThan", "k", "2020-01-01", {"k": "2019-01-01"})
    with pytest.raises(NotImplementedError):
        condition_holds("ForAllValues:StringEquals", "k", "a", {"k": "a"})


def test_all_conditions_of_a_statement_must_hold() -> None:
    stmt = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"StringLike": {"s3:prefix": ["p", "p/*"]}},
    }
    assert evaluate([stmt], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "p/x"})) == "allow"
    assert evaluate([stmt], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "other/"})) == "implicit-deny"
    # Listing without a prefix is the whole bucket: not granted.
    assert evaluate([stmt], Request("s3:ListBucket", "arn:aws:s3:::b")) == "implicit-deny"

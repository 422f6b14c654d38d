"""A pure evaluator of IAM policy statements, for the deployed-stack tier (tests/deployed).

moto does not enforce IAM, so the harness evaluates each AWS call a Lambda makes against the role the
template gives that function, and S3 calls also against the bucket policy, the way AWS documents it
(IAM User Guide, "Policy evaluation logic"): an explicit Deny in any policy wins; otherwise the call
needs an Allow (here: in the identity policy, since role and bucket are in the same account).

Supported: Effect, Action / NotAction and Resource / NotResource with `*` and `?` wildcards (actions
case-insensitive, resources case-sensitive), and the condition operators the template uses plus their
siblings: String*, Arn*, Bool, Numeric*, each with the `...IfExists` form, and `Null`. A condition
operator the evaluator does not know makes the statement raise, never silently match or not match.

A key absent from the request context makes a positive operator false and a negated one (StringNotEquals,
ArnNotLike, ...) TRUE; `...IfExists` holds when the key is absent; `Null: {key: "true"}` holds when it is
absent (IAM User Guide, "Condition operators"). Several wanted values for one key: any of them for a
positive operator, none of them (NOR) for a negated one. All operators of a Condition block, and all keys
under one operator, must hold (AND).

`evaluate` is the whole decision; `denying_statements` names the Deny statements that refuse a request (a
bucket policy's guard rails, tests/test_bucket_policy.py). Values are plain data: callers resolve
CloudFormation intrinsics first (tests/deployed/cfn.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allow", "explicit-deny", "implicit-deny"]

# Request context values: a key absent from the mapping is absent from the request.
ContextValues = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Request:
    action: str  # "service:Operation"
    # An ARN, or "*" for actions without resource-level permissions; None: the resource is not
    # considered (statements match whatever their Resource / NotResource).
    resource: str | None = None
    context: ContextValues = field(default_factory=dict)
    operation: str = ""  # the API operation, for messages only


def _wild(pattern: str, value: str, *, case: bool) -> bool:
    # Not fnmatch: IAM has only * and ?, no [] classes.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _values(context: ContextValues, key: str) -> list[str] | None:
    # Condition keys are case-insensitive.
    for k, v in context.items():
        if k.lower() == key.lower():
            return [v] if isinstance(v, str) else list(v)
    return None


def _num(value: str) -> float:
    return float(value)


_STRING_TESTS: dict[str, Any] = {
    "StringEquals": lambda have, want: have == want,
    "StringNotEquals": lambda have, want: have == want,
    "StringEqualsIgnoreCase": lambda have, want: have.lower() == want.lower(),
    "StringNotEqualsIgnoreCase": lambda have, want: have.lower() == want.lower(),
    "StringLike": lambda have, want: _wild(want, have, case=True),
    "StringNotLike": lambda have, want: _wild(want, have, case=True),
    "ArnEquals": lambda have, want: _wild(want, have, case=True),
    "ArnLike": lambda have, want: _wild(want, have, case=True),
    "ArnNotEquals": lambda have, want: _wild(want, have, case=True),
    "ArnNotLike": lambda have, want: _wild(want, have, case=True),
    "NumericEquals": lambda have, want: _num(have) == _num(want),
    "NumericNotEquals": lambda have, want: _num(have) == _num(want),
    "NumericLessThan": lambda have, want: _num(have) < _num(want),
    "NumericLessThanEquals": lambda have, want: _num(have) <= _num(want),
    "NumericGreaterThan": lambda have, want: _num(have) > _num(want),
    "NumericGreaterThanEquals": lambda have, want: _num(have) >= _num(want),
    "Bool": lambda have, want: have.lower() == str(want).lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
_NEGATED |= {"NumericNotEquals"}


def condition_holds(operator: str, key: str, wanted: Any, context: ContextValues) -> bool:
    """One condition entry (operator, key, wanted values) against the request context."""
    if operator == "Null":
        # {"Null": {"k": "true"}} holds when k is absent, {"Null": {"k": "false"}} when it is present.
        (flag,) = [str(w) for w in _as_list(wanted)]
        absent = _values(context, key) is None
        return absent == (flag.lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if base.startswith(prefix):
            raise NotImplementedError(f"set operator {operator} is not supported by the harness")
    test = _STRING_TESTS.get(base)
    if test is None:
        raise NotImplementedError(f"condition operator {operator} is not supported by the harness")
    have = _values(context, key)
    if have is None:
        # "...IfExists": the condition holds when the key is absent. Otherwise a missing key matches no
        # value: a positive operator is false, a negated one true (IAM User Guide, condition operators).
        return if_exists or base in _NEGATED
    wants = [str(w) for w in _as_list(wanted)]
    # Single-valued keys; a request value matches if it matches any wanted value (a negated operator:
    # if it matches none of them).
    matched = any(test(h, w) for h in have for w in wants)
    return not matched if base in _NEGATED else matched


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]] | None, context: ContextValues) -> bool:
    """A whole Condition block: every operator, and every key under it, must hold."""
    for operator, entries in (conditions or {}).items():
        for key, wanted in entries.items():
            if not condition_holds(operator, key, wanted, context):
                return False
    return True


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether the statement's action, resource and conditions all match the request."""
    if "Action" in statement:
        actions = _as_list(statement["Action"])
        if not any(_wild(a, request.action, case=False) for a in actions):
            return False
    elif "NotAction" in statement:
        if any(_wild(a, request.action, case=False) for a in _as_list(statement["NotAction"])):
            return False
    else:
        raise ValueError(f"statement without Action or NotAction: {statement!r}")
    resource = request.resource
    if resource is not None:
        if "Resource" in statement:
            if not any(_resource_matches(r, resource) for r in _as_list(statement["Resource"])):
                return False
        elif "NotResource" in statement and any(
            _resource_matches(r, resource) for r in _as_list(statement["NotResource"])
        ):
            return False
    return conditions_hold(statement.get("Condition"), request.context)


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    return _wild(pattern, resource, case=True)


def evaluate(
    identity: Iterable[Mapping[str, Any]], request: Request, *, resource_policy: Iterable[Mapping[str, Any]] = ()
) -> Decision:
    """The decision for `request` given the role's statements and the resource's policy statements
    (same account: an Allow in either is enough, a Deny in either wins)."""
    identity = list(identity)
    resource_policy = list(resource_policy)
    applicable = [s for s in identity + resource_policy if statement_applies(s, request)]
    if any(s.get("Effect") == "Deny" for s in applicable):
        return "explicit-deny"
    if any(s.get("Effect") == "Allow" for s in applicable):
        return "allow"
    return "implicit-deny"


def denying_statements(statements: Iterable[Mapping[str, Any]], request: Request) -> list[str]:
    """The Sids of the Deny statements that refuse `request` (empty: the policy does not refuse it)."""
    return [str(s.get("Sid", "?")) for s in statements if s.get("Effect") == "Deny" and statement_applies(s, request)]


def statements_of(policy_documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """All statements of some policy documents (a lone statement object counts as a list of one)."""
    out: list[dict[str, Any]] = []
    for doc in policy_documents:
        out.extend(dict(s) for s in _as_list(doc.get("Statement")))
    return out


__all__ = [
    "Decision",
    "Request",
    "condition_holds",
    "conditions_hold",
    "denying_statements",
    "evaluate",
    "statement_applies",
    "statements_of",
]

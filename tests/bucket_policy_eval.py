"""A small, pure evaluator of the template's resource-policy statements (the bucket policy) against one
request: its IAM action and the condition keys present in its request context.

It implements what the template uses, with the semantics of the IAM reference
(docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

- a key absent from the request context makes a positive operator (StringEquals, Bool, NumericLessThan,
  ...) false, and a negated one (StringNotEquals, ...) TRUE;
- `...IfExists` is true when the key is absent, else the operator without the suffix;
- `Null: {key: "true"}` holds when the key is absent, `"false"` when it is present;
- several values for one key: any of them for a positive operator, all of them (AND) for a negated one;
- all operators of a Condition block, and all keys under one operator, must hold (AND).

`denying_statements` looks at Deny statements only (a bucket policy's guard rails); `decide` is the
whole single-policy decision (explicit Deny, else an applying Allow, else implicit deny), with the
request's resource matched against each statement's Resource. Anything else it meets is refused loudly,
never guessed.

Values are plain data: callers resolve CloudFormation intrinsics first (`resolve`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda have, want: have == want,
    "StringLike": lambda have, want: fnmatch.fnmatchcase(have, want),
    "ArnEquals": lambda have, want: have == want,
    "ArnLike": lambda have, want: fnmatch.fnmatchcase(have, want),
    "Bool": lambda have, want: have.lower() == str(want).lower(),
    "NumericLessThan": lambda have, want: float(have) < float(want),
    "NumericGreaterThan": lambda have, want: float(have) > float(want),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


@dataclass(frozen=True)
class Request:
    """What a policy sees of one request: the IAM action, the request-context keys present and, for
    identity policies, the resource ARN (None: statements match whatever their Resource)."""

    action: str
    context: Mapping[str, str] = field(default_factory=dict)
    operation: str = ""  # the API operation, for messages only
    resource: str | None = None


def _values(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def operator_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    """One `operator: {key: wanted}` entry of a Condition block against a request context."""
    present = key in context
    if operator == "Null":
        (flag,) = _values(wanted)
        return (not present) if flag.lower() == "true" else present
    if operator.endswith("IfExists"):
        return True if not present else operator_holds(operator[: -len("IfExists")], key, wanted, context)
    if operator in _NEGATED:
        if not present:
            return True
        test = _POSITIVE[_NEGATED[operator]]
        return all(not test(context[key], w) for w in _values(wanted))
    if operator in _POSITIVE:
        if not present:
            return False
        test = _POSITIVE[operator]
        return any(test(context[key], w) for w in _values(wanted))
    raise ValueError(f"iam_eval does not implement the condition operator {operator}")


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    return all(
        operator_holds(operator, key, wanted, context)
        for operator, entries in condition.items()
        for key, wanted in entries.items()
    )


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def statement_applies(stmt: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in stmt or "NotResource" in stmt:
        raise ValueError("iam_eval does not implement NotAction / NotResource")
    actions = _values(stmt.get("Action", []))
    if not any(action_matches(a, request.action) for a in actions):
        return False
    # ARNs match case-sensitively, with * and ? wildcards
    resources = _values(stmt["Resource"]) if request.resource is not None and "Resource" in stmt else None
    if resources is not None and not any(fnmatch.fnmatchcase(str(request.resource), r) for r in resources):
        return False
    return condition_holds(stmt.get("Condition", {}), request.context)


def decide(statements: list[Mapping[str, Any]], request: Request) -> str:
    """ "Deny" (an explicit Deny applies), "Allow" (an Allow applies and no Deny) or "ImplicitDeny"."""
    applying = [s for s in statements if statement_applies(s, request)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return "Deny"
    return "Allow" if any(s.get("Effect") == "Allow" for s in applying) else "ImplicitDeny"


def denying_statements(statements: list[Mapping[str, Any]], request: Request) -> list[str]:
    """The Sids of the Deny statements that refuse `request` (empty: the policy does not refuse it)."""
    return [
        str(stmt.get("Sid", "?"))
        for stmt in statements
        if stmt.get("Effect") == "Deny" and statement_applies(stmt, request)
    ]


def resolve(value: Any, refs: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    """Plain data from a template fragment: `Ref`/`Fn::GetAtt` looked up in `refs` (by logical id, or
    "Res.Attr"), `Fn::If` decided by `conditions`, `Fn::Sub` filled from `refs`; AWS::NoValue dropped."""
    if isinstance(value, list):
        out = [resolve(v, refs, conditions) for v in value]
        return [v for v in out if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return _NO_VALUE if value["Ref"] == "AWS::NoValue" else refs[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        return refs[".".join(value["Fn::GetAtt"])]
    if set(value) == {"Fn::If"}:
        name, yes, no = value["Fn::If"]
        return resolve(yes if conditions[name] else no, refs, conditions)
    if set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        text, extra = (sub, {}) if isinstance(sub, str) else (sub[0], resolve(sub[1], refs, conditions))
        names = {**refs, **extra}
        for name, replacement in names.items():
            text = text.replace("${" + name + "}", str(replacement))
        return text
    out = {k: resolve(v, refs, conditions) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not _NO_VALUE}


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()

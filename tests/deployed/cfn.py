"""CloudFormation intrinsic functions resolved the way CloudFormation would, for the deployed tier.

The harness creates the template's resources in moto, then resolves the template against them: every
`Ref` / `Fn::GetAtt` / `Fn::Sub` / `Fn::If` becomes the physical id or ARN of the moto resource, so the
functions get exactly the environment and the roles exactly the policies the template gives them.
Pure: no AWS call here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the enclosing property or list item disappears


@dataclass
class Stack:
    """A template with its parameter values, pseudo parameters, and the physical ids of its resources."""

    template: Mapping[str, Any]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[str, str] = field(default_factory=dict)  # "Logical.Attr" -> value
    region: str = "us-east-1"
    account: str = "123456789012"
    name: str = "cb"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        for name, spec in declared.items():
            if name not in self.parameters and "Default" in spec:
                self.parameters[name] = str(spec["Default"])
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")

    # -- conditions ---------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        return bool(self._eval_condition(self.template["Conditions"][name]))

    def _eval_condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._eval_condition(arg[0])
            if fn == "Fn::And":
                return all(self._eval_condition(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._eval_condition(x) for x in arg)
            if fn == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    def exists(self, logical_id: str) -> bool:
        res = self.template["Resources"][logical_id]
        return "Condition" not in res or self.condition(res["Condition"])

    # -- values -------------------------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref {name}: no physical id known to the harness")

    def get_att(self, logical_id: str, attribute: str) -> str:
        key = f"{logical_id}.{attribute}"
        if key not in self.attributes:
            raise KeyError(f"GetAtt {key}: not known to the harness")
        return self.attributes[key]

    def sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal}
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name:
                logical, _, attr = name.partition(".")
                return self.get_att(logical, attr)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        """The value of a template node with every intrinsic function applied (NO_VALUE dropped)."""
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attr)
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if fn == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.resolve(items))
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if fn.startswith("Fn::") or fn == "Condition":
                raise NotImplementedError(f"{fn} is not resolved by the harness")
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    # -- convenience --------------------------------------------------------------------------------------
    def resource(self, logical_id: str) -> dict[str, Any]:
        res: dict[str, Any] = self.template["Resources"][logical_id]
        return res

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment variables CloudFormation gives a SAM function: Globals, then its own."""
        merged: dict[str, Any] = {}
        glob = self.template.get("Globals", {}).get("Function", {})
        merged.update(glob.get("Environment", {}).get("Variables", {}))
        own = self.resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
        merged.update(own)
        return {k: str(v) for k, v in self.resolve(merged).items()}

    def role_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of a role's inline policies (and of AWS::IAM::Policy resources attached to it)."""
        from tests.iam_eval import statements_of

        role = self.resolve(self.resource(role_logical_id)["Properties"])
        docs = [p["PolicyDocument"] for p in role.get("Policies", [])]
        for logical, res in self.template["Resources"].items():
            if res.get("Type") == "AWS::IAM::Policy" and self.exists(logical):
                props = res["Properties"]
                if {"Ref": role_logical_id} in props.get("Roles", []):
                    docs.append(self.resolve(props["PolicyDocument"]))
        return statements_of(docs)

    def function_role(self, function_logical_id: str) -> str:
        role = self.resource(function_logical_id)["Properties"]["Role"]
        # Role: !GetAtt XRole.Arn
        logical: str = role["Fn::GetAtt"][0]
        return logical

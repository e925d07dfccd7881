"""docs/ec2-iam-policy.json names every AWS action the EC2 layer calls (so a user with exactly that
policy never meets an AccessDenied remrepl did not tell them about)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"ec2": "ec2", "ssm": "ssm", "sts": "sts", "pricing": "pricing"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def called_actions() -> set[str]:
    found = set()
    layer = [*(ROOT / "remrepl" / "aws").glob("*.py"), *(ROOT / "remrepl" / "launchers" / "ec2").glob("*.py")]
    for path in [*layer, *(ROOT / "remrepl" / "cluster" / "backends").glob("ec2.py")]:
        text = path.read_text()
        for service, method in re.findall(r"\b(ec2|ssm|sts|pricing)\.([a-z_]+)\(", text):
            if method != "get_paginator":
                found.add(f"{SERVICES[service]}:{_camel(method)}")
        for method in re.findall(r'get_paginator\("([a-z_]+)"\)', text):
            found.add(f"ec2:{_camel(method)}")
    return found


def test_policy_covers_every_call() -> None:
    policy = json.loads((ROOT / "docs" / "ec2-iam-policy.json").read_text())
    allowed: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        allowed.update([actions] if isinstance(actions, str) else actions)
    called = called_actions()
    assert {"ec2:RunInstances", "ec2:DeleteSecurityGroup", "ssm:GetParameter"} <= called  # the scan works
    assert called - allowed == set()
    assert "ec2:CreateTags" in allowed  # tagging at creation needs it

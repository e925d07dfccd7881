"""The tags and names remrepl puts on its AWS resources.

Everything remrepl creates carries these tags from the moment it exists (``TagSpecifications`` in the
creating call, never a ``create_tags`` afterwards: a crash in between would leave an untagged resource that
``remrepl status``/``down`` cannot find). ``status`` and ``down`` find clusters by these tags alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ConfigError

TAG_CLUSTER = "remrepl:cluster"  # the cluster's NAME
TAG_ROLE = "remrepl:role"  # "head" or "worker": what the resource was made for (the SG and key pair: "head")
TAG_OWNER = "remrepl:owner"  # the caller's STS ARN

ROLES = ("head", "worker")

DEFAULT_CLUSTER = "default"
# AWS allows more, but the name ends up in security group and key pair names, and in host aliases.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def check_cluster_name(name: str) -> str:
    """``name`` if it can name a cluster (letters, digits, ``-``, ``_``; at most 40), else ``ConfigError``."""
    if not _NAME.match(name):
        raise ConfigError(
            f"bad cluster name {name!r}: use 1 to 40 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def security_group_name(cluster: str) -> str:
    return f"remrepl-{cluster}"


def key_pair_name(cluster: str) -> str:
    """The head's key pair (the user's public key)."""
    return f"remrepl-{cluster}"


def workers_key_pair_name(cluster: str) -> str:
    """The workers' key pair (a key the head node makes for them)."""
    return f"remrepl-{cluster}-workers"


def instance_name(cluster: str, role: str) -> str:
    return f"remrepl-{cluster}-{role}"


def tags(*, cluster: str, role: str, owner: str, name: str | None = None) -> list[dict[str, str]]:
    """The tag list (EC2's ``[{"Key": ..., "Value": ...}]``) of one resource of ``cluster``; its ``Name``
    tag is ``name``, by default ``remrepl-CLUSTER-ROLE``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    name = name or instance_name(cluster, role)
    return [
        {"Key": TAG_CLUSTER, "Value": cluster},
        {"Key": TAG_ROLE, "Value": role},
        {"Key": TAG_OWNER, "Value": owner},
        {"Key": "Name", "Value": name},
    ]


def tag_specifications(
    resource_types: Sequence[str], *, cluster: str, role: str, owner: str, name: str | None = None
) -> list[dict[str, Any]]:
    """``TagSpecifications`` for a creating call: the same tags on every resource type it creates
    (e.g. ``["instance", "volume"]`` for ``run_instances``, ``["security-group"]``, ``["key-pair"]``)."""
    if isinstance(resource_types, str):  # a classic slip: "instance" would iterate letter by letter
        resource_types = [resource_types]
    return [
        {"ResourceType": kind, "Tags": tags(cluster=cluster, role=role, owner=owner, name=name)}
        for kind in resource_types
    ]


def tag_dict(tag_list: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """EC2's tag list as a dict."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tag_list or ()}


def cluster_filter(cluster: str | None = None, role: str | None = None) -> list[dict[str, Any]]:
    """``Filters`` that select remrepl's resources (of one ``cluster``, of one ``role``)."""
    filters: list[dict[str, Any]] = []
    if cluster is None:
        filters.append({"Name": "tag-key", "Values": [TAG_CLUSTER]})
    else:
        filters.append({"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]})
    if role is not None:
        filters.append({"Name": f"tag:{TAG_ROLE}", "Values": [role]})
    return filters

from __future__ import annotations

import pytest

from remrepl import ConfigError
from remrepl.aws.tags import (
    TAG_CLUSTER,
    check_cluster_name,
    cluster_filter,
    tag_dict,
    tag_specifications,
    workers_key_pair_name,
)


def test_tag_specifications_put_every_tag_on_every_type() -> None:
    specs = tag_specifications(["instance", "volume"], cluster="lab", role="worker", owner="arn:x")
    assert [s["ResourceType"] for s in specs] == ["instance", "volume"]
    for spec in specs:
        assert tag_dict(spec["Tags"]) == {
            "remrepl:cluster": "lab",
            "remrepl:role": "worker",
            "remrepl:owner": "arn:x",
            "Name": "remrepl-lab-worker",
        }


def test_a_single_type_given_as_a_string() -> None:
    [spec] = tag_specifications("instance", cluster="lab", role="head", owner="arn:x")
    assert spec["ResourceType"] == "instance"


def test_unknown_role_is_a_bug() -> None:
    with pytest.raises(ValueError, match="role"):
        tag_specifications(["instance"], cluster="lab", role="boss", owner="arn:x")


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 41, "lab/1", "é"])
def test_bad_cluster_names(name: str) -> None:
    with pytest.raises(ConfigError, match="bad cluster name"):
        check_cluster_name(name)


def test_names_and_filters() -> None:
    assert check_cluster_name("lab-1_x") == "lab-1_x"
    assert workers_key_pair_name("lab") == "remrepl-lab-workers"
    assert cluster_filter() == [{"Name": "tag-key", "Values": [TAG_CLUSTER]}]
    assert cluster_filter("lab", "head") == [
        {"Name": f"tag:{TAG_CLUSTER}", "Values": ["lab"]},
        {"Name": "tag:remrepl:role", "Values": ["head"]},
    ]

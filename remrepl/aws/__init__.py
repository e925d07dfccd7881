"""EC2 head nodes and workers: the AWS layer (sessions, images, user-data, security groups, key pairs,
instances, console host keys, prices, inventory and teardown). Needs boto3 (``pip install
'remrepl[ec2]'``); nothing here opens SSH.

    session = aws_session(region="eu-west-1")          # boto3's standard chain, never a secret flag
    ec2 = client(session, "ec2")
    image = resolve_image(session, os="ubuntu-24.04", instance_type="t3.small")
    group = ensure_security_group(ec2, cluster="lab", owner=arn, allow_cidr=[caller_cidr()])
"""

from .consolekeys import ConsoleKeys, console_host_keys, console_keys, parse_console, read_console
from .images import DEFAULT_OS, OS_CHOICES, Image, resolve_image
from .inventory import ClusterInfo, TeardownReport, find_cluster, list_clusters, status_table, teardown
from .pricing import PriceEstimate, estimate, hourly_price
from .resources import (
    Instance,
    InstanceSpec,
    check_cidrs,
    describe,
    ensure_security_group,
    import_key_pair,
    launch_instances,
    terminate,
    wait_running,
)
from .session import Identity, aws_errors, aws_session, caller_cidr, caller_identity, client
from .tags import (
    TAG_CLUSTER,
    TAG_OWNER,
    TAG_ROLE,
    check_cluster_name,
    key_pair_name,
    security_group_name,
    tag_specifications,
    workers_key_pair_name,
)
from .userdata import user_data

__all__ = [
    "DEFAULT_OS",
    "OS_CHOICES",
    "TAG_CLUSTER",
    "TAG_OWNER",
    "TAG_ROLE",
    "ClusterInfo",
    "ConsoleKeys",
    "Identity",
    "Image",
    "Instance",
    "InstanceSpec",
    "PriceEstimate",
    "TeardownReport",
    "aws_errors",
    "aws_session",
    "caller_cidr",
    "caller_identity",
    "check_cidrs",
    "check_cluster_name",
    "client",
    "console_host_keys",
    "console_keys",
    "describe",
    "ensure_security_group",
    "estimate",
    "find_cluster",
    "hourly_price",
    "import_key_pair",
    "key_pair_name",
    "launch_instances",
    "list_clusters",
    "parse_console",
    "read_console",
    "resolve_image",
    "security_group_name",
    "status_table",
    "tag_specifications",
    "teardown",
    "terminate",
    "user_data",
    "wait_running",
    "workers_key_pair_name",
]

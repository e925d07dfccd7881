"""EC2 head nodes and workers: the AWS layer (sessions, images, security groups, key pairs, instances,
inventory and teardown). Needs boto3 (``pip install 'remrepl[ec2]'``); nothing here opens SSH."""

from .aws import Identity, aws_errors, aws_session, caller_cidr, caller_identity, client
from .images import DEFAULT_OS, OS_CHOICES, Image, resolve_image
from .resources import (
    Instance,
    InstanceSpec,
    describe,
    ensure_security_group,
    import_key_pair,
    launch_instances,
    terminate,
    user_public_key,
    wait_running,
)
from .tags import TAG_CLUSTER, TAG_OWNER, TAG_ROLE, tag_specifications

__all__ = [
    "DEFAULT_OS",
    "OS_CHOICES",
    "TAG_CLUSTER",
    "TAG_OWNER",
    "TAG_ROLE",
    "Identity",
    "Image",
    "Instance",
    "InstanceSpec",
    "aws_errors",
    "aws_session",
    "caller_cidr",
    "caller_identity",
    "client",
    "describe",
    "ensure_security_group",
    "import_key_pair",
    "launch_instances",
    "resolve_image",
    "tag_specifications",
    "terminate",
    "user_public_key",
    "wait_running",
]

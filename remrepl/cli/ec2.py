"""The EC2 commands: ``remrepl up``, ``status``, ``down``, and the options of ``--launch ec2[:NAME]``.

Settings come from ``EC2Settings``'s defaults, then the ``[ec2]`` table of config.toml, then these flags.
boto3 is imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigError
from .help import add_command, examples

if TYPE_CHECKING:  # the EC2 package loads only when an EC2 command runs: other commands start faster
    from ..launchers.ec2.settings import EC2Settings

# flag dest -> EC2Settings field (the same name), for --launch ec2 and `up`
EC2_FLAGS = (
    "region",
    "profile",
    "instance_type",
    "os",
    "ami",
    "spot",
    "volume_size",
    "iam_instance_profile",
    "subnet",
    "allow_cidr",
    "allow_open_ssh",
    "idle_timeout",
    "max_lifetime",
    "yes",
    "keep_on_failure",
    "lend_credentials",
)
DOWN_TIMEOUT = 600.0  # s for one cluster's teardown
VALUE_OPTIONS = {
    "--region",
    "--profile",
    "--instance-type",
    "--os",
    "--ami",
    "--volume-size",
    "--iam-instance-profile",
    "--subnet",
    "--allow-cidr",
    "--idle-timeout",
    "--max-lifetime",
}


def _duration(what: str) -> Any:
    def parse(text: str) -> float:
        from ..launchers.ec2.settings import parse_duration

        try:
            value = parse_duration(text, what)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return 0.0 if value is None else value  # 0 = off (None means "not given" here)

    return parse


def _account_options(parser: argparse.ArgumentParser | Any) -> None:
    parser.add_argument("--region", metavar="REGION", help="the AWS region (default: boto3's: AWS_REGION, the profile)")
    parser.add_argument("--profile", metavar="PROFILE", help="the AWS profile of ~/.aws/config (default: boto3's)")


def add_launch_options(parser: argparse.ArgumentParser, *, title: str) -> None:
    """The head node's options (``up``, and ``connect``/``exec`` with ``--launch ec2[:NAME]``)."""
    group = parser.add_argument_group(title)
    _account_options(group)
    group.add_argument("--instance-type", metavar="TYPE", help="the head's instance type (default t3.small)")
    group.add_argument("--os", metavar="OS", help="the OS image, resolved through AWS's public SSM parameters")
    group.add_argument("--ami", metavar="AMI", help="an AMI id instead of --os")
    group.add_argument("--spot", action="store_true", default=None, help="a spot instance (cheaper, can be reclaimed)")
    group.add_argument("--volume-size", type=int, metavar="GIB", help="the root volume's size (default: the AMI's)")
    group.add_argument("--iam-instance-profile", metavar="NAME", help="an IAM instance profile for the head")
    group.add_argument("--subnet", metavar="SUBNET", help="the subnet (default: the default VPC's)")
    group.add_argument(
        "--allow-cidr",
        action="append",
        metavar="CIDR",
        help="admit SSH from CIDR only (repeatable; default: your address, detected)",
    )
    group.add_argument(
        "--allow-open-ssh",
        action="store_true",
        default=None,
        help="accept --allow-cidr ranges that together open SSH to more than a /8 of public addresses "
        "(or to the whole internet): the head is then guarded by its SSH key alone",
    )
    group.add_argument(
        "--idle-timeout",
        type=_duration("--idle-timeout"),
        metavar="DURATION",
        help="end the head after this long without a client or a run (default 60m; 30m, 2h, or off)",
    )
    group.add_argument(
        "--max-lifetime",
        type=_duration("--max-lifetime"),
        metavar="DURATION",
        help="end the head after this long in any case (default off)",
    )
    group.add_argument("--yes", action="store_true", default=None, help="launch without asking to confirm")
    group.add_argument(
        "--keep-on-failure",
        action="store_true",
        default=None,
        help="if the launch fails, keep what was created (to look at it); `remrepl down` removes it",
    )
    group.add_argument(
        "--no-lend-credentials",
        dest="lend_credentials",
        action="store_false",
        default=None,
        help="do not lend a head without an instance profile short-lived AWS credentials (its EC2 workers need them)",
    )


def add_commands(commands: Any) -> None:
    up = add_command(
        commands,
        "up",
        help="start an EC2 head node and print how to connect",
        description="Start the head node of EC2 cluster NAME (default remrepl-USER): security group, key pair "
        "and instance, tagged at creation; remrepl installed on it; it ends itself after --idle-timeout.",
        epilog=examples(
            "remrepl up demo  # then: remrepl connect --launch ec2:demo",
            "remrepl up demo --region eu-west-1 --instance-type t3.large --spot",
            "remrepl up --allow-cidr 203.0.113.7/32 --idle-timeout 2h --yes",
        ),
    )
    up.add_argument("name", nargs="?", metavar="NAME", help="the cluster's name (lowercase letters, digits, '-')")
    up.add_argument("--ssh-config", metavar="FILE", help="read this ssh_config instead of ~/.ssh/config")
    up.add_argument("--remote-python", metavar="PYTHON", help="the head's Python for the venv (default python3)")
    up.add_argument("--remote-venv", metavar="DIR", help="where remrepl goes on the head (default ~/.remrepl/venv)")
    add_launch_options(up, title="the head node")
    status = add_command(
        commands,
        "status",
        help="list the EC2 clusters (asked of EC2, by tag)",
        description="List remrepl's EC2 clusters in the region, from EC2 by tag: name, state, type, public IP, "
        "uptime and the estimated cost so far.",
        epilog=examples("remrepl status", "remrepl status --region eu-west-1 --profile work"),
    )
    _account_options(status)
    down = add_command(
        commands,
        "down",
        help="terminate an EC2 cluster and delete what remrepl made for it",
        description="Terminate cluster NAME's workers, then its head; wait for them; delete its security "
        "group and key pairs. Running it twice is fine.",
        epilog=examples(
            "remrepl down demo",
            "remrepl down --all  # every remrepl cluster of the region (asks first)",
        ),
    )
    down.add_argument("name", nargs="?", metavar="NAME", help="the cluster to take down")
    down.add_argument("--all", action="store_true", help="every remrepl cluster of the region (asks first)")
    down.add_argument("--yes", action="store_true", help="with --all: do not ask")
    _account_options(down)


def settings_from(args: argparse.Namespace) -> EC2Settings:
    """Defaults, then config.toml's [ec2], then the flags given."""
    import dataclasses

    from ..launchers.ec2.settings import EC2Settings
    from .config import load_config

    values: dict[str, Any] = dict(load_config().ec2)
    for name in EC2_FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in ("idle_timeout", "max_lifetime"):
            value = value or None  # 0: off
        elif name == "allow_cidr":
            value = tuple(value)
        values[name] = value
    for name in ("ssh_config", "remote_python", "remote_venv"):
        if getattr(args, name, None):
            values[name] = getattr(args, name)
    return dataclasses.replace(EC2Settings(), **values)


def given_flags(args: argparse.Namespace) -> list[str]:
    flag = {"lend_credentials": "no-lend-credentials"}
    return [
        f"--{flag.get(name, name.replace('_', '-'))}" for name in EC2_FLAGS if getattr(args, name, None) is not None
    ]


def launch_options(args: argparse.Namespace) -> dict[str, Any]:
    """``launch("ec2[:NAME]", **options)`` for ``connect``/``exec --launch ec2[:NAME]``."""
    refused = [flag for flag in ("accept_new_host_key", "direct", "bootstrap") if getattr(args, flag, None)]
    if refused:
        names = ", ".join(f"--{flag.replace('_', '-')}" for flag in refused)
        raise ConfigError(f"{names} do not go with --launch ec2 (host keys are the console's; remrepl is installed)")
    return {"settings": settings_from(args)}


def run(args: argparse.Namespace) -> int:
    if args.command == "up":
        return cmd_up(args)
    if args.command == "status":
        return cmd_status(args)
    return cmd_down(args)


def cmd_up(args: argparse.Namespace) -> int:
    from ..launchers.ec2.launcher import EC2Launcher
    from ..launchers.ec2.settings import check_name, format_duration

    name = check_name(args.name) if args.name else None
    launcher = EC2Launcher(name, settings=settings_from(args), keep=True)
    launcher.start()
    launcher.close()  # the check that a server starts is done; the head stays (keep=True)
    head = launcher.head
    print(f"cluster {launcher.name} is up: {head.id} ({head.instance_type}) at {head.public_ip}")
    print(f"  connect:     remrepl connect --launch ec2:{launcher.name}")
    print(f"  run a file:  remrepl exec --launch ec2:{launcher.name} FILE")
    print(f"  take down:   remrepl down {launcher.name}")
    idle = format_duration(launcher.settings.idle_timeout)
    print(f"  it ends itself after {idle} without a client or a run (--idle-timeout)")
    times = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in launcher.timings.stages.items())
    print(f"remrepl: took {times}", file=sys.stderr)
    return 0


def _session(args: argparse.Namespace) -> Any:
    from ..aws.session import aws_session
    from .config import load_config

    values = load_config().ec2
    return aws_session(region=args.region or values.get("region"), profile=args.profile or values.get("profile"))


def cmd_status(args: argparse.Namespace) -> int:
    from ..aws.inventory import list_clusters, status_table

    session = _session(args)
    clusters = list_clusters(session)
    if not clusters:
        print(f"no remrepl clusters in {session.region_name} (`remrepl up` starts one)")
        return 0
    print("\n".join(status_table(clusters)))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ..aws.inventory import list_clusters, teardown
    from ..launchers.ec2.launcher import terminal_confirm
    from ..launchers.ec2.settings import check_name
    from .config import load_config

    if bool(args.name) == bool(args.all):
        raise ConfigError("say which cluster: remrepl down NAME, or --all")
    session = _session(args)
    names = [check_name(args.name)] if args.name else [c.name for c in list_clusters(session, prices=False)]
    if not names:
        print(f"no remrepl clusters in {session.region_name}: nothing to do")
    elif args.all and not (args.yes or load_config().ec2.get("yes")):
        summary = f"take down every remrepl cluster of {session.region_name}: {', '.join(names)}"
        if not terminal_confirm(summary, question="Take them down?", what="taking down every cluster"):
            print("remrepl: nothing was taken down", file=sys.stderr)
            return 1
    status = 0
    for name in names:
        start = time.monotonic()
        notify = lambda text: print(f"remrepl: {text}", file=sys.stderr)  # noqa: E731
        report = teardown(session, name, notify=notify, deadline=start + DOWN_TIMEOUT)
        print("\n".join(report.lines()))
        if report.ok:
            print(f"cluster {name} is down ({time.monotonic() - start:.1f}s)")
        else:
            status = 1
            print(
                f"remrepl: some of cluster {name} is left (see LEFT above); run `remrepl down {name}` again",
                file=sys.stderr,
            )
    return status

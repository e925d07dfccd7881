"""The EC2 launcher: a head node on EC2 made (or found) by tag, then an SSH launcher's server on it.

    with remrepl.launch("ec2:demo", allow_cidr=["203.0.113.7/32"], yes=True) as server:
        server.connect().run("import platform; platform.node()")

``start``: the caller's identity (STS) and a confirmation (account, region, AMI, type, hourly estimate);
then the security group, the key pair and the instance, each tagged at creation (ec2aws's layer); then
readiness in stages (``readiness.py``); the reaper that ends an idle or too old head; and the server,
started by ``SSHLauncher`` over the link readiness made. If anything fails or Ctrl-C arrives before the
server is ready, whatever this launcher created is deleted again (``teardown``), unless
``keep_on_failure``; the tail of the instance's cloud-init log is shown when SSH got far enough.

A cluster that already runs (its head found by tag) is reused, not re-created, and never torn down by
this launcher: only what it created is. ``close()`` stops the server and, unless ``keep``, tears the
cluster down; ``detach()`` leaves both running.

Host keys: the head is known by its instance id (``HostKeyAlias``; AWS reuses public IPs, never instance
ids) in remrepl's own known_hosts, ``state_dir()/ec2/known_hosts``; its key must match the fingerprints
the instance printed on its console, or, when the console shows none yet, the first key is accepted for
an instance this launcher has just created (and the user is told so), never for an older one.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..._exceptions import ConfigError, HostKeyError, LaunchError, ReadinessError, RemreplError
from ..._files import python_words, state_dir
from ...client.session import InputHandler, Session, terminal_input
from ...protocol import PROTOCOL_VERSION
from ...ssh.bootstrap import bootstrap, shell_path, venv_python
from ...ssh.config import SSHOptions, SSHTarget, load_config
from ...ssh.hostkeys import fingerprint
from ...ssh.link import SSHLink
from ...ssh.remote import run_remote
from ...transport.connection_info import ConnectionInfo
from ..base import Launcher
from ..ssh.launcher import SSHLauncher
from .readiness import DEFAULT_DEADLINES, Timings, run_stage, wait_login, wait_port
from .settings import EC2Settings, check_name, default_name, format_duration
from .signals import no_interrupts, signals_interrupt

STATE_POLL = 2.0  # s between checks that the instance still exists while SSH is awaited
TEARDOWN_TIMEOUT = 600.0
CLOUD_INIT_LOG = "/var/log/cloud-init-output.log"
HEAD_EXTRAS = ("cluster", "ec2")  # the head runs Dask (remrepl.cluster) and launches EC2 workers (boto3)

Notify = Callable[[str], None]
Confirm = Callable[[str], bool]


def _stderr(text: str) -> None:
    print(f"remrepl: {text}", file=sys.stderr)


def terminal_confirm(summary: str, *, question: str = "Launch it?", what: str = "launching") -> bool:
    """Show ``summary`` and ask; without a terminal on stdin, refuse (scripts pass ``--yes``)."""
    if not sys.stdin.isatty():
        raise ConfigError(
            f"not {what}: standard input is not a terminal, so nobody can confirm; pass --yes "
            f"(or yes = true in [ec2] of the config file) to go on without asking\n{summary}"
        )
    print(summary, file=sys.stderr)
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def known_hosts_file() -> str:
    """remrepl's own known_hosts for EC2 heads (instance ids as names), 0600 in a 0700 folder."""
    return str(state_dir("ec2") / "known_hosts")


def head_environment(values: dict[str, str]) -> dict[str, str]:
    """The non-secret ``REMREPL_EC2_*`` variables the head's server (and kernel) get, plus the endpoint
    override when one is in use (tests: moto)."""
    env = {f"REMREPL_EC2_{key.upper()}": value for key, value in values.items()}
    if os.environ.get("AWS_ENDPOINT_URL"):
        env["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
    return env


class EC2Launcher(Launcher):
    def __init__(
        self,
        name: str | None = None,
        *,
        settings: EC2Settings | None = None,
        keep: bool = False,
        confirm: Confirm = terminal_confirm,
        notify: Notify = _stderr,
        **options: Any,
    ) -> None:
        """``name``: the cluster (default ``remrepl-USER``); ``settings`` and ``options`` (``EC2Settings``
        fields) say how; ``keep``: ``close()`` leaves the cluster running (``remrepl up``, ``--keep``)."""
        try:
            self.settings = replace(settings or EC2Settings(), **options)
        except TypeError as exc:
            raise ConfigError(f"unknown EC2 option: {exc}") from None
        if name is None:
            name = default_name()
            notify(f"cluster name: {name} (the default, remrepl-USER; name another with ec2:NAME or `up NAME`)")
        self.name = check_name(name)
        self.target = f"ec2:{self.name}"
        self.keep = keep
        self.confirm, self.notify = confirm, notify
        self.deadlines = {**DEFAULT_DEADLINES, **self.settings.stage_timeouts}
        self.timings = Timings()
        self.created = False  # this launcher made the cluster: close() / a failure tears it down
        self.ssh: SSHLauncher | None = None
        self.head: Any = None  # ec2aws's Instance
        self.ssh_target: SSHTarget | None = None
        self.aws: Any = None  # boto3.Session
        self._ec2: Any = None
        self._private_key: str | None = None  # a key remrepl generated for the key pair (else the user's)
        self._detached = False
        self._last_state_check = 0.0
        self._first_key = False  # the head's key was accepted on first use: check it once cloud-init is done

    # --- start ----------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ConnectionInfo:
        link: SSHLink | None = None
        try:
            with signals_interrupt():
                link, python, environment = self.up()
                self.ssh = SSHLauncher(
                    f"ssh://{self.ssh_target}",
                    ssh_config=self.settings.ssh_config,
                    remote_python=python,
                    notify=self.notify,
                    host_key_alias=self.head.id,
                    known_hosts_file=known_hosts_file(),
                    environment=environment,
                )
                ssh = self.ssh
                with self.timings.stage("server ready"):
                    deadline = time.monotonic() + max(timeout, self.deadlines["server ready"])
                    run_stage("server ready", deadline, lambda left: ssh.start(left, link=link))
                link = None  # the SSH launcher's now
        except BaseException as exc:
            self._failed(exc, link)
            raise
        assert self.ssh.info is not None
        self.info = self.ssh.info
        return self.info

    def up(self) -> tuple[SSHLink, str, dict[str, str]]:
        """The head, found or created, up to an SSH link with remrepl installed: (link, the head's Python
        to run, the environment for its server)."""
        from ...aws.inventory import find_cluster
        from ...aws.session import aws_errors, aws_session, caller_identity, client

        with self.timings.stage("identity"):
            self.aws = aws_session(region=self.settings.region, profile=self.settings.profile)
            self._ec2 = client(self.aws, "ec2")
            with aws_errors("looking for the cluster"):
                existing = find_cluster(self.aws, self.name, prices=False)
        head = existing.head if existing is not None else None
        if head is not None and head.state in ("pending", "running"):
            self.notify(f"cluster {self.name} is up ({head.id}, {head.public_ip}): connecting to it")
            self.head = head
            owner = caller_identity(self.aws).arn
            security_group = existing.security_group_id if existing is not None else None
            ami, ssh_user = self._image_of(head.id)
        elif head is not None and head.state in ("stopping", "stopped"):
            raise ConfigError(
                f"the head of cluster {self.name} ({head.id}) is {head.state}; `remrepl down {self.name}` removes it"
            )
        else:
            security_group, ami, ssh_user, owner = self._create()
        link = self._ready(ssh_user)
        try:
            python = self._installed(link)
            self._check_first_key(link)
            if self.created:
                self._start_reaper(link, python)
        except BaseException as exc:
            self._failed(exc, link)
            raise
        environment = head_environment(
            {
                "cluster": self.name,
                "region": str(self.aws.region_name or ""),
                "security_group": security_group or "",
                "subnet": self.settings.subnet or "",
                "ami": ami,
                "ssh_user": link.settings.user,
                "owner": owner,
                "instance_id": self.head.id,
            }
        )
        return link, python, environment

    def _create(self) -> tuple[str, str, str, str]:
        from ...aws.cidrs import opens_widely
        from ...aws.images import resolve_image
        from ...aws.pricing import hourly_price
        from ...aws.resources import (
            InstanceSpec,
            check_cidrs,
            ensure_security_group,
            import_key_pair,
            launch_instances,
        )
        from ...aws.session import caller_cidr, caller_identity
        from ...aws.userdata import user_data
        from ...ssh.user_keys import user_public_key

        s = self.settings
        with self.timings.stage("plan"):  # STS, the image, the price: not the time the user takes to answer
            identity = caller_identity(self.aws)
            image_options: dict[str, Any] = {"ami": s.ami, "instance_type": s.instance_type}
            if s.os is not None:
                image_options["os"] = s.os
            image = resolve_image(self.aws, **image_options)
            price = hourly_price(self.aws, s.instance_type, spot=s.spot, region=self.aws.region_name)
            # before anything exists
            cidrs = check_cidrs(s.allow_cidr, s.allow_open_ssh) if s.allow_cidr else [caller_cidr()]
        summary = "\n".join(
            [
                f"launch the head node of EC2 cluster {self.name}:",
                f"  account        {identity.account} ({identity.arn})",
                f"  region         {self.aws.region_name}",
                f"  image          {image.ami} ({image.os}, {image.architecture}, user {image.ssh_user})",
                f"  instance type  {s.instance_type}{' (spot)' if s.spot else ''}",
                f"  price          {f'~${price:.4f}/hour (estimate)' if price is not None else 'unknown'}",
                f"  SSH allowed    from {', '.join(cidrs)} only"
                + (" (WIDE OPEN, --allow-open-ssh: the SSH key alone guards the head)" if opens_widely(cidrs) else ""),
                f"  ends itself    after {format_duration(s.idle_timeout)} idle, "
                f"max lifetime {format_duration(s.max_lifetime)}",
            ]
        )
        if s.yes:
            self.notify(summary)
        elif not self.confirm(summary):
            raise ConfigError("not launched: the launch was not confirmed")
        self.created = True  # from here on, a failure deletes whatever exists of the cluster
        with self.timings.stage("create"):
            group = ensure_security_group(
                self._ec2,
                cluster=self.name,
                owner=identity.arn,
                allow_cidr=cidrs,
                subnet=s.subnet,
                allow_open_ssh=s.allow_open_ssh,
            )
            public_key, self._private_key = user_public_key()
            key_name = import_key_pair(self._ec2, cluster=self.name, owner=identity.arn, public_key=public_key)
            spec = InstanceSpec(
                cluster=self.name,
                role="head",
                owner=identity.arn,
                image=image,
                instance_type=s.instance_type,
                key_name=key_name,
                security_group_id=group,
                subnet_id=s.subnet,
                user_data=user_data(image, max_lifetime=s.max_lifetime),
                spot=s.spot,
                volume_size=s.volume_size,
                iam_instance_profile=s.iam_instance_profile,
            )
            (instance_id,) = launch_instances(self._ec2, spec)
        self.notify(f"launched {instance_id} ({s.instance_type}); waiting for it (stages: running, SSH, install)")
        self.head = instance_id  # a bare id until it is described
        return group, image.ami, image.ssh_user, identity.arn

    def _image_of(self, instance_id: str) -> tuple[str, str]:
        """(AMI, the OS's SSH user) of a running head this launcher did not create."""
        from ...aws.images import resolve_image
        from ...aws.session import aws_errors

        with aws_errors("describing the head's image"):
            found = self._ec2.describe_instances(InstanceIds=[instance_id])
        ami = str(found["Reservations"][0]["Instances"][0].get("ImageId", ""))
        try:
            return ami, resolve_image(self.aws, ami=ami, instance_type=self.settings.instance_type).ssh_user
        except RemreplError:
            return ami, "ubuntu"

    # --- readiness ------------------------------------------------------------------------------

    def _ready(self, ssh_user: str) -> SSHLink:
        from ...aws.consolekeys import console_host_keys
        from ...aws.resources import wait_running
        from ...aws.session import aws_errors

        instance_id = self.head if isinstance(self.head, str) else self.head.id
        with self.timings.stage("instance running"):
            deadline = time.monotonic() + self.deadlines["instance running"]
            try:
                (self.head,) = wait_running(self._ec2, [instance_id], deadline=deadline)
            except LaunchError as exc:
                raise ReadinessError("instance running", str(exc)) from None
            except RemreplError as exc:  # CloudError: the instance died or the deadline passed
                raise ReadinessError("instance running", str(exc)) from None
        if not self.head.public_ip:
            raise ReadinessError("instance running", f"{instance_id} has no public IP (a subnet without one?)")
        # The user's own ssh_config User wins over the image's default user.
        configured = load_config(self.settings.ssh_config).lookup(self.head.public_ip).get("user")
        self.ssh_target = SSHTarget(host=self.head.public_ip, user=None if configured else ssh_user)
        options = SSHOptions(
            ssh_config=self.settings.ssh_config,
            notify=self.notify,
            host_key_alias=instance_id,
            known_hosts_file=known_hosts_file(),
            identity_files=(self._private_key,) if self._private_key else (),
        )
        with self.timings.stage("SSH port"):
            deadline = time.monotonic() + self.deadlines["SSH port"]
            self.timings.polls["SSH port"] = wait_port(self.ssh_target, options, deadline, still_there=self._gone)
        with aws_errors("reading the instance's console"):
            console = tuple(console_host_keys(self._ec2, instance_id))
        if console:
            options = replace(options, expected_host_keys=console)
        elif self.created:
            options = replace(options, accept_new_host_key=True)
            self._first_key = True
            self.notify(
                f"the console of {instance_id} shows no SSH host key fingerprints yet: accepting the first key it "
                f"presents, for this new instance only, into {known_hosts_file()}"
            )
        with self.timings.stage("SSH login"):
            deadline = time.monotonic() + self.deadlines["SSH login"]
            attempts: list[int] = []
            try:
                return wait_login(self.ssh_target, options, deadline, still_there=self._gone, attempts=attempts)
            except HostKeyError as exc:
                if console or self.created:
                    raise
                raise HostKeyError(
                    f"{exc}.\nThe head {instance_id} of cluster {self.name} is not in remrepl's known_hosts "
                    f"({known_hosts_file()}) and its console shows no host key fingerprints: remrepl accepts a "
                    "first key only for an instance it has just created. Add its key there under the instance "
                    f"id if you can check it, or `remrepl down {self.name}` and start it again"
                ) from None
            finally:
                self.timings.polls["SSH login"] = len(attempts)

    def _check_first_key(self, link: SSHLink) -> None:
        """A key accepted on first use is checked against the console once cloud-init has printed the
        keys there (at its end: the install stage waited for it). A key the console does not show means
        someone answered in the instance's place: refused, and the new cluster is torn down."""
        from ...aws.consolekeys import console_keys
        from ...aws.session import aws_errors

        if not self._first_key:
            return
        with aws_errors("reading the instance's console"):
            printed = console_keys(self._ec2, self.head.id)
        key = link.transport.get_remote_server_key()
        if not printed:
            self.notify(
                f"the console of {self.head.id} still shows no host keys: its key ({key.get_name()} "
                f"{fingerprint(key)}) stays accepted on first use only"
            )
        elif printed.vouches_for(key.get_name(), key.get_base64()):
            self.notify(f"verified the host key of {self.head.id} against its console ({fingerprint(key)})")
        else:
            raise HostKeyError(
                f"the host key {self.head.id} presented ({key.get_name()} {fingerprint(key)}) is NOT one of the keys "
                "its console shows: someone may have answered in its place. Not using it"
            )

    def _gone(self) -> str | None:
        """Why waiting for SSH is pointless (the instance is shutting down or gone), at most every few s."""
        from ...aws.resources import describe

        now = time.monotonic()
        if now - self._last_state_check < STATE_POLL:
            return None
        self._last_state_check = now
        try:
            found = describe(self._ec2, [self.head.id])
        except RemreplError:
            return None  # a hiccup of the API is not a verdict on the instance
        state = found[0].state if found else "terminated"
        if state in ("shutting-down", "terminated", "stopping", "stopped"):
            return f"the instance {self.head.id} is {state} (terminated by hand, or it failed to boot)"
        return None

    def _installed(self, link: SSHLink) -> str:
        """The head's Python to run the server with: the venv's, installed there if needed."""
        s = self.settings
        if not s.bootstrap:
            return s.remote_python
        with self.timings.stage("remrepl installed"):
            deadline = time.monotonic() + self.deadlines["remrepl installed"]
            python = venv_python(s.remote_venv)

            def install(left: float) -> None:
                # user-data installs python3-venv: let cloud-init finish first (absent on a plain host).
                wait = "command -v cloud-init >/dev/null 2>&1 && cloud-init status --wait >/dev/null 2>&1; true"
                run_remote(link, wait, left)
                check = "import remrepl.protocol as p; print('remrepl-protocol', p.PROTOCOL_VERSION)"
                status, out = run_remote(link, f"{shell_path(python)} {shlex.join(python_words(code=check))}", 60.0)
                if status == 0 and f"remrepl-protocol {PROTOCOL_VERSION}" in out:
                    return
                self.notify(f"installing remrepl into {s.remote_venv} on the head")
                bootstrap(link, s.remote_python, s.remote_venv, extras=HEAD_EXTRAS)

            run_stage("remrepl installed", deadline, install)
        return python

    def _start_reaper(self, link: SSHLink, python: str) -> None:
        """The head's dead man's switch: it ends the instance after the idle timeout or the max lifetime."""
        s = self.settings
        if s.idle_timeout is None and s.max_lifetime is None:
            return
        from ...reaper.run import reaper_command

        line = reaper_command(
            python, idle_timeout=s.idle_timeout, max_lifetime=s.max_lifetime, command=list(s.head_shutdown_command)
        )
        with self.timings.stage("reaper"):
            status, out = run_remote(link, line, 30.0)
        answer: dict[str, Any] = {}
        for text in out.splitlines():  # its JSON line, after whatever a login script printed
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            answer = parsed if isinstance(parsed, dict) else answer
        if status != 0 or answer.get("action") not in ("started", "replaced"):
            raise ReadinessError("reaper", f"the reaper did not start on the head: {out.strip()[-500:]}")
        self.notify(
            f"the head ends itself after {format_duration(s.idle_timeout)} idle, max lifetime "
            f"{format_duration(s.max_lifetime)} (reaper pid {answer.get('pid')})"
        )

    # --- failure, close -------------------------------------------------------------------------

    def _failed(self, exc: BaseException, link: SSHLink | None) -> None:
        """Undo what this launcher created (unless keep_on_failure), showing the cloud-init log's tail."""
        if link is not None and link.active and self.created and not isinstance(exc, KeyboardInterrupt):
            try:
                _, tail = run_remote(link, f"tail -n 25 {CLOUD_INIT_LOG} 2>/dev/null", 10.0)
                if tail.strip():
                    self.notify(f"the end of {CLOUD_INIT_LOG} on the head:\n{tail.rstrip()}")
            except RemreplError:
                pass
        if link is not None:
            link.close()
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if not self.created:
            return
        if self.settings.keep_on_failure:
            self.notify(f"kept what was created (--keep-on-failure); `remrepl down {self.name}` removes it")
            self.created = False
            return
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        self.notify(f"launching cluster {self.name} {why}: deleting what was created")
        self._teardown()

    def _teardown(self) -> None:
        from ...aws.inventory import teardown

        if self.aws is None:
            return
        with no_interrupts(self.notify), self.timings.stage("teardown"):
            report = teardown(self.aws, self.name, notify=self.notify, deadline=time.monotonic() + TEARDOWN_TIMEOUT)
        self.created = False
        for line in report.lines():
            self.notify(line.strip())
        if not report.ok:
            self.notify(f"`remrepl down {self.name}` retries what is left")

    def close(self) -> None:
        """Stop the server; then, unless ``keep`` or detached, tear down the cluster this launcher created."""
        if self.ssh is not None:
            self.ssh.close()
        if self.created and not self.keep and not self._detached:
            self._teardown()

    def detach(self) -> None:
        """Leave the server and the cluster running (``--keep``)."""
        self._detached = True
        if self.ssh is not None:
            self.ssh.detach()

    def wait(self, timeout: float | None = None) -> int | None:
        return self.ssh.wait(timeout) if self.ssh is not None else None

    def connect(
        self, *, connect_timeout: float = 10.0, input_handler: InputHandler = terminal_input, script: bool = False
    ) -> Session:
        """A session on the head's server (through the SSH tunnel; it reconnects after a dropped link)."""
        if self.ssh is None:
            raise RuntimeError("start() the launcher first")
        self.ssh.workdir = self.workdir
        session = self.ssh.connect(connect_timeout=connect_timeout, input_handler=input_handler, script=script)
        self._lend_credentials(session)
        return session

    def _lend_credentials(self, session: Session) -> None:
        s = self.settings
        if s.lend_credentials and not s.iam_instance_profile and self.aws is not None and self.head is not None:
            lend_credentials(session, self.aws, self.head, self.notify)

    def record_data(self) -> dict[str, str]:
        data = self.ssh.record_data() if self.ssh is not None else {}
        ec2 = {
            "ec2_cluster": self.name,
            "ec2_region": str(self.aws.region_name) if self.aws is not None else "",
            "ec2_profile": self.settings.profile or "",
            "ec2_lend_credentials": "1" if self.settings.lend_credentials else "",
        }
        return {**data, **ec2}


def lend_credentials(session: Session, aws: Any, head: Any, notify: Notify) -> None:
    """EC2 workers are launched from the head: by its instance profile when it has one, else with
    short-lived credentials lent here (STS; held in the kernel's memory only, see
    ``client/aws_credentials.py``). A failure costs only the workers, so it is a warning."""
    if head is None or head.instance_profile:
        return
    try:
        expiry = session.forward_aws_credentials(aws)
    except RemreplError as exc:
        notify(f"the head has no AWS credentials for EC2 workers: {exc}")
        return
    until = f" until {expiry:%Y-%m-%d %H:%M} UTC" if expiry is not None else ""
    notify(f"lent the head short-lived AWS credentials{until} (for EC2 workers; in memory there)")


def lend_on_reattach(record: Mapping[str, str], session: Session, notify: Notify = _stderr) -> None:
    """A session record of an EC2 head (``--keep``): reattaching lends fresh credentials too, as a kept
    session may outlive the first ones (12 h)."""
    from ...aws.resources import describe
    from ...aws.session import aws_session, client

    if not record.get("ec2_cluster") or record.get("ec2_lend_credentials") != "1":
        return
    try:
        aws = aws_session(region=record.get("ec2_region") or None, profile=record.get("ec2_profile") or None)
        found = describe(client(aws, "ec2"), [record["host_key_alias"]]) if record.get("host_key_alias") else []
    except RemreplError as exc:
        notify(f"no AWS credentials lent to the head: {exc}")
        return
    lend_credentials(session, aws, found[0] if found else None, notify)

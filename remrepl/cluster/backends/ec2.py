"""Workers on EC2 instances that the head node launches, tags, and terminates.

    cl = remrepl.cluster(ec2=dict(workers=8, instance_type="c7i.large", spot=True))

On a head node made by ``remrepl up`` the server has the head's identity in ``REMREPL_EC2_*`` environment
variables (``head_context()``): the cluster name, region, security group, subnet, AMI, SSH user. Each
worker is one instance: launched (``launch_instances``, role ``worker``, tagged with the head's cluster
name, in the head's security group and subnet), waited for until it runs, then started like an SSH-host
worker (``ssh.py``) at its PRIVATE address, with its TLS material down the SSH channel. The head makes
the workers' SSH key itself (ed25519, in memory only), imports it as key pair ``remrepl-NAME-workers``
and deletes that at ``close()``. A worker's host key is checked against the fingerprints the instance
prints on its console when they are there, else the first key seen is pinned for that new instance only
(in memory; never written to a known_hosts file). ``scale(n)`` launches or terminates instances;
``close()`` terminates them and waits (bounded) until they are shutting down. Every worker runs with the
dead man's switch of ``remote_worker.py``: it ends its instance when it has lost the scheduler.

AWS credentials: ``credentials.aws_session`` (the head's instance profile, or what the client forwarded).
"""

from __future__ import annotations

import io
import logging
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._exceptions import CloudError, ClusterError, ConfigError, HostKeyError, SSHAuthenticationFailed, SSHError
from ..._files import python_words
from ...reaper.run import DEFAULT_COMMAND
from ...ssh.bootstrap import DEFAULT_VENV
from .ssh import RemoteWorkers, SSHWorker

if TYPE_CHECKING:
    import paramiko

    from ...aws.images import Image
    from ...aws.resources import InstanceSpec
    from ...ssh.config import HostSettings, SSHTarget
    from ...ssh.link import SSHLink
    from ..tls import ClusterCertificates

log = logging.getLogger("remrepl.cluster")

DEFAULT_INSTANCE_TYPE = "t3.medium"
DEFAULT_SHUTDOWN = shlex.join(DEFAULT_COMMAND)  # the reaper's; the instance's shutdown behaviour is terminate
DEFAULT_LOST_AFTER = 300.0
READY_TIMEOUT = 900.0  # launch, boot, cloud-init and the bootstrap's pip install
LOGIN_GRACE = 120.0  # seconds a running sshd may refuse our key (before cloud-init installed it)
CLOSE_WAIT = 120.0  # seconds close() waits for the instances to be shutting down
ENDED = ("shutting-down", "terminated")
# what the remote worker needs beyond remrepl's own requirements, at the head's versions
WORKER_PACKAGES = ("distributed", "dask", "cloudpickle", "msgpack", "tornado")
PIP_INSTALL = ("install", "--disable-pip-version-check", "-q")

_ENV = {
    "cluster": "REMREPL_EC2_CLUSTER",
    "region": "REMREPL_EC2_REGION",
    "security_group": "REMREPL_EC2_SECURITY_GROUP",
    "subnet": "REMREPL_EC2_SUBNET",
    "ami": "REMREPL_EC2_AMI",
    "ssh_user": "REMREPL_EC2_SSH_USER",
    "owner": "REMREPL_EC2_OWNER",
    "instance_id": "REMREPL_EC2_INSTANCE_ID",
}
_REQUIRED = ("cluster", "security_group", "ami")


@dataclass(frozen=True)
class HeadContext:
    """Where the workers go: the head node's cluster, network and image (none of it secret)."""

    cluster: str
    security_group: str
    ami: str
    region: str | None = None
    subnet: str | None = None
    ssh_user: str | None = None
    owner: str | None = None
    instance_id: str | None = None


def head_context(environ: Mapping[str, str] | None = None) -> HeadContext | None:
    """The head's context from its ``REMREPL_EC2_*`` variables; None when this is no EC2 head node.
    ``ConfigError`` when some are there but a required one is missing."""
    env = os.environ if environ is None else environ
    values = {key: env.get(name) or None for key, name in _ENV.items()}
    if not any(values.values()):
        return None
    missing = [_ENV[key] for key in _REQUIRED if not values[key]]
    if missing:
        raise ConfigError(f"this head node's EC2 settings are incomplete: {', '.join(missing)} not set")
    return HeadContext(**values)  # type: ignore[arg-type]


def generate_key() -> paramiko.PKey:
    """A new ed25519 key, in memory only."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def _whole(name: str, value: object, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, not {value!r}")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}")
    return float(value)


class EC2Workers(RemoteWorkers):
    """``workers`` EC2 instances, ``processes`` Dask worker processes on each (see the module docstring and
    docs/cluster.md for every option). ``key_source`` and ``host_keys`` are seams for tests: where the workers' SSH key
    comes from (default ``generate_key``) and how an instance's host keys are learnt (default its console)."""

    kind = "ec2"

    def __init__(
        self,
        workers: int = 1,
        *,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        spot: bool = False,
        processes: int | None = None,
        threads: int = 1,
        volume_size: int | None = None,
        iam_instance_profile: str | None = None,
        max_lifetime: float | None = None,
        lost_scheduler_after: float = DEFAULT_LOST_AFTER,
        on_lost_scheduler: str = DEFAULT_SHUTDOWN,
        ready_timeout: float = READY_TIMEOUT,
        bootstrap: bool = True,
        venv: str = DEFAULT_VENV,
        python: str | None = None,
        scheduler_host: str | None = None,
        ssh_config: str | None = None,
        cluster: str | None = None,
        region: str | None = None,
        security_group: str | None = None,
        subnet: str | None = None,
        ami: str | None = None,
        ssh_user: str | None = None,
        key_source: Callable[[], paramiko.PKey] = generate_key,
        host_keys: Callable[[Any, str], list[str]] | None = None,
    ) -> None:
        from ...ssh.config import SSHOptions

        self.count = _whole("workers", workers, 0)
        self.threads = _whole("threads", threads, 0)
        if processes is not None:
            _whole("processes", processes, 1)
        if not isinstance(instance_type, str) or not instance_type:
            raise ValueError(f"instance_type must be an EC2 instance type such as 't3.medium', not {instance_type!r}")
        if volume_size is not None:
            _whole("volume_size", volume_size, 8)
        self.ready_timeout = self.start_timeout = _seconds("ready_timeout", ready_timeout)
        lost_after = _seconds("lost_scheduler_after", lost_scheduler_after)
        if not isinstance(on_lost_scheduler, str) or not on_lost_scheduler.strip():
            raise ValueError("on_lost_scheduler must be a command line, e.g. 'sudo -n shutdown -h now'")
        self.worker_args = ("--on-lost-scheduler", on_lost_scheduler, "--lost-scheduler-after", f"{lost_after:g}")
        self.instance_type, self.spot = instance_type, bool(spot)
        self.kind = f"ec2 {instance_type}{' spot' if spot else ''}"
        self.bootstrap = bool(bootstrap)
        self.venv = venv
        self.python = python or (f"{venv}/bin/python" if bootstrap else "python3")
        self.key_source, self._host_keys = key_source, host_keys
        self.options = SSHOptions(ssh_config=ssh_config, connect_timeout=10.0, notify=log.info)

        explicit = {"cluster": cluster, "region": region, "security_group": security_group, "ami": ami}
        explicit.update(subnet=subnet, ssh_user=ssh_user)
        head = head_context()
        if head is None:
            missing = [key for key in _REQUIRED if not explicit[key]]
            if missing:
                raise ConfigError(
                    "ec2= starts workers from a remrepl EC2 head node (`remrepl up`, whose server has the "
                    "REMREPL_EC2_* settings); elsewhere give " + ", ".join(f"{k}=" for k in missing) + " in the "
                    "ec2 dict (and region= unless boto3 has one)"
                )
            head = HeadContext(**{k: v for k, v in explicit.items() if v is not None})
        else:
            head = HeadContext(**{**head.__dict__, **{k: v for k, v in explicit.items() if v is not None}})
        self.head = head

        from ...aws.images import resolve_image
        from ...aws.session import caller_identity, client
        from ...aws.userdata import user_data
        from ..credentials import aws_session

        self.session = aws_session(head.region)
        self.ec2 = client(self.session, "ec2")
        self.image: Image = resolve_image(self.session, ami=head.ami, instance_type=instance_type)
        self.ssh_user = head.ssh_user or self.image.ssh_user
        self.processes = processes or self._vcpus()
        self.owner = head.owner or caller_identity(self.session).arn
        self.subnet, head_ip = self._head_network()
        if not (scheduler_host or head_ip):
            raise ConfigError(
                "give scheduler_host= in the ec2 dict (the head's address the workers reach): this is no EC2 head "
                "node (REMREPL_EC2_INSTANCE_ID is not set)"
            )
        self.scheduler_host = str(scheduler_host or head_ip)
        self.user_data = user_data(self.image, max_lifetime=max_lifetime)
        self._extras = {"volume_size": volume_size, "iam_instance_profile": iam_instance_profile}
        self._lock = threading.Lock()
        self._key: paramiko.PKey | None = None
        self._closed = False
        self.key_name: str | None = None  # the key pair, once imported
        self.launched: list[str] = []  # every instance id ever launched (close() makes sure they all end)

    @property
    def initial_workers(self) -> int:
        return self.count

    def worker_class(self) -> type:
        return EC2Worker

    def _vcpus(self) -> int:
        """The instance type's vCPUs: one single-threaded worker process each (Python code wants processes)."""
        from ...aws.session import aws_errors

        with aws_errors(f"looking up instance type {self.instance_type}"):
            types = self.ec2.describe_instance_types(InstanceTypes=[self.instance_type])["InstanceTypes"]
        vcpus = types[0].get("VCpuInfo", {}).get("DefaultVCpus") if types else None
        return int(vcpus) if vcpus else 1

    def _head_network(self) -> tuple[str | None, str | None]:
        """(the workers' subnet, the head's private address): the head instance's own, from EC2."""
        from ...aws.session import aws_errors

        if self.head.instance_id is None:
            return self.head.subnet, None
        with aws_errors(f"looking up the head node's instance {self.head.instance_id}"):
            answer = self.ec2.describe_instances(InstanceIds=[self.head.instance_id])
        found = [d for r in answer["Reservations"] for d in r["Instances"]]
        if not found:
            raise ConfigError(f"the head node's instance {self.head.instance_id} is not known to EC2 here")
        return self.head.subnet or found[0].get("SubnetId"), found[0].get("PrivateIpAddress")

    # --- what the workers share ------------------------------------------------------------------

    def login_key(self) -> paramiko.PKey:
        """The workers' SSH key, made and imported as key pair ``remrepl-NAME-workers`` on first use."""
        from ...aws.resources import import_key_pair
        from ...aws.tags import workers_key_pair_name

        with self._lock:
            if self._closed:
                raise ClusterError("the EC2 cluster is closed")
            if self._key is None:
                key, name = self.key_source(), workers_key_pair_name(self.head.cluster)
                public = f"{key.get_name()} {key.get_base64()} {name}"
                # (a key pair of that name that is not this cluster's is refused, and then never deleted here)
                import_key_pair(self.ec2, cluster=self.head.cluster, owner=self.owner, public_key=public, name=name)
                self._key, self.key_name = key, name
            return self._key

    def instance_spec(self) -> InstanceSpec:
        from ...aws.resources import InstanceSpec

        assert self.key_name is not None
        return InstanceSpec(
            cluster=self.head.cluster,
            role="worker",
            owner=self.owner,
            image=self.image,
            instance_type=self.instance_type,
            key_name=self.key_name,
            security_group_id=self.head.security_group,
            subnet_id=self.subnet,
            user_data=self.user_data,
            spot=self.spot,
            **self._extras,  # type: ignore[arg-type]
        )

    def launch(self) -> str:
        from ...aws.resources import launch_instances

        self.login_key()
        (instance_id,) = launch_instances(self.ec2, self.instance_spec())
        with self._lock:
            self.launched.append(instance_id)
            closed = self._closed
        if closed:  # close() ran while AWS was launching it: it is ours to end
            self.terminate([instance_id])
            raise ClusterError(f"the EC2 cluster closed while instance {instance_id} was launching")
        return instance_id

    def console_keys(self, instance_id: str) -> list[str]:
        if self._host_keys is not None:
            return self._host_keys(self.ec2, instance_id)
        from ...aws.consolekeys import console_host_keys

        return console_host_keys(self.ec2, instance_id)

    def terminate(self, instance_ids: list[str]) -> None:
        from ...aws.resources import terminate

        terminate(self.ec2, instance_ids)

    def close(self) -> None:
        """Terminate every instance this backend launched, wait until they are shutting down, delete the
        workers' key pair. ``ClusterError`` naming what is left if AWS would not."""
        from ...aws.resources import delete_key_pair, describe

        problems: list[str] = []
        with self._lock:
            self._closed = True  # no launch from now on (a worker still starting would make a new key pair)
            ids, key_name, self._key = list(self.launched), self.key_name, None
        try:
            self.terminate(ids)
            deadline = time.monotonic() + CLOSE_WAIT
            left = ids
            while left and time.monotonic() < deadline:
                left = [i.id for i in describe(self.ec2, left) if i.state not in ENDED]
                if left:
                    time.sleep(1.0)
            if left:
                problems.append(f"instances {', '.join(left)} were not shutting down after {CLOSE_WAIT:g} s")
        except CloudError as exc:
            problems.append(f"terminating the worker instances {', '.join(ids)}: {exc}")
        if key_name is not None:
            try:
                delete_key_pair(self.ec2, key_name)
                self.key_name = None
            except CloudError as exc:
                problems.append(f"deleting key pair {key_name}: {exc}")
        if problems:
            raise ClusterError(
                f"the EC2 workers were not all cleaned up ({'; '.join(problems)}); `remrepl down "
                f"{self.head.cluster}` terminates them by tag"
            )


class EC2Worker(SSHWorker):
    """One worker on its own instance: launch, wait until running, then start it over SSH."""

    backend: EC2Workers

    def __init__(self, scheduler: str, *, name: str | int, backend: EC2Workers, certs: ClusterCertificates) -> None:
        super().__init__(scheduler, name=name, backend=backend, certs=certs)
        self.instance_id: str | None = None
        self._deadline = 0.0
        self._console: tuple[set[str], set[str]] | None = None  # (key lines, fingerprints) once read
        self._pinned: bytes | None = None  # the first key seen, when the console had none

    def _prepare(self) -> SSHTarget:
        from ...aws.resources import wait_running
        from ...ssh.config import SSHTarget

        self._deadline = time.monotonic() + self.backend.ready_timeout
        self.instance_id = self.backend.launch()
        self.target = f"instance {self.instance_id}"
        (instance,) = wait_running(self.backend.ec2, [self.instance_id], deadline=self._deadline)
        if not instance.private_ip:
            raise ClusterError(f"instance {self.instance_id} runs but has no private address")
        return SSHTarget(host=instance.private_ip, user=self.backend.ssh_user)

    def _worker_name(self, target: SSHTarget) -> str:
        return str(self.instance_id)

    def _connect(self, target: SSHTarget) -> SSHLink:
        """Log in once sshd is up and cloud-init put our key in place (retried until the deadline)."""
        import dataclasses

        from ...ssh.link import connect_ssh

        options = dataclasses.replace(
            self.backend.options, host_key_check=self._check_host_key, keys=(self.backend.login_key(),)
        )
        delay, refused_since = 1.0, None
        while True:  # bounded by the deadline
            try:
                link = connect_ssh(target, options)
                break
            except HostKeyError:
                raise
            except SSHError as exc:  # not up yet, or the key not yet installed
                if isinstance(exc, SSHAuthenticationFailed):  # cloud-init installs the key early: not for long
                    refused_since = refused_since or time.monotonic()
                late = refused_since is not None and time.monotonic() - refused_since > LOGIN_GRACE
                if late or self._closing.is_set() or time.monotonic() + delay > self._deadline:
                    within = f"{LOGIN_GRACE:g} s of refusals" if late else f"{self.backend.ready_timeout:g} s"
                    raise ClusterError(
                        f"the worker instance {self.instance_id} ({target.host}) did not accept SSH within "
                        f"{within}: {exc}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 5.0)
        try:
            if self.backend.bootstrap:
                self._install(link)
        except BaseException:
            link.close()
            raise
        return link

    def _install(self, link: SSHLink) -> None:
        """remrepl (this head's, as a wheel) and Dask at the head's versions, into a venv on the worker."""
        import importlib.metadata

        from ...ssh.bootstrap import bootstrap, shell_path
        from ...ssh.remote import run_remote

        remaining = max(self._deadline - time.monotonic(), 1.0)
        run_remote(link, "command -v cloud-init >/dev/null && cloud-init status --wait >/dev/null || true", remaining)
        bootstrap(link, self.backend.image.python, self.backend.venv)
        pins = []
        for package in WORKER_PACKAGES:
            try:
                pins.append(f"{package}=={importlib.metadata.version(package)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        python = shell_path(f"{self.backend.venv}/bin/python")
        remaining = max(self._deadline - time.monotonic(), 1.0)
        status, output = run_remote(
            link, f"{python} {shlex.join([*python_words(module='pip'), *PIP_INSTALL, *pins])}", remaining
        )
        if status != 0:
            tail = "\n".join(output.strip().splitlines()[-10:])
            raise ClusterError(f"installing Dask on the worker instance {self.instance_id} failed:\n{tail}")

    def _check_host_key(self, hop: HostSettings, key: Any) -> None:
        """The console's keys when the instance printed them; else the first key seen, for this instance."""
        from ...ssh.hostkeys import fingerprint

        if self._console is None and self.instance_id is not None:
            printed = self.backend.console_keys(self.instance_id)
            if printed:
                lines = {" ".join(p.split()[:2]) for p in printed if not p.startswith("SHA256:")}
                self._console = (lines, {p for p in printed if p.startswith("SHA256:")})
        line = f"{key.get_name()} {key.get_base64()}"
        if self._console is not None:
            lines, prints = self._console
            if line in lines or fingerprint(key) in prints:
                return
            raise HostKeyError(
                f"the host key of worker instance {self.instance_id} ({key.get_name()} {fingerprint(key)}) is not "
                "one the instance printed on its console: refusing to connect"
            )
        if self._pinned is None:
            self._pinned = key.asbytes()  # a new instance: trust on first use, for it alone, in memory
        elif self._pinned != key.asbytes():
            raise HostKeyError(
                f"the host key of worker instance {self.instance_id} changed between two logins "
                f"(now {key.get_name()} {fingerprint(key)}): refusing to connect"
            )

    def _stop(self) -> None:
        """Terminate the instance first: only once AWS took that is the worker told to stop on purpose.
        If AWS refused (credentials expired, say), its dead man's switch stays armed and the instance ends
        itself once the scheduler is gone."""
        terminated = self._terminate()
        self._stop_worker(disarm=terminated)

    def _release(self) -> None:
        self._terminate()

    def _terminate(self) -> bool:
        instance_id, self.instance_id = self.instance_id, None
        if instance_id is None:
            return True
        try:
            self.backend.terminate([instance_id])
        except CloudError as exc:  # close() tries again, and says so if that fails too
            log.warning("terminating worker instance %s: %s", instance_id, exc)
            return False
        return True

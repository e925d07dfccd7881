"""The cluster's own certificate authority: made on the head node, held in memory.

Scheduler, workers and the client all present a certificate signed by this CA and accept only peers
that do (Dask's TLS contexts require client certificates), so nothing without the CA's blessing can talk
to the cluster — a plain-TCP client, or a TLS client with some other certificate, is refused. The PEMs
never touch a command line or the environment: local workers get them through the pipe that starts them;
a remote host's worker over its SSH channel's stdin (``remote_worker.py``). Dask loads an in-memory
certificate and key through a ``tempfile.TemporaryDirectory`` (0700, removed at once: ``ssl`` reads only
files), so the key is on disk only there and only for that moment.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from distributed.security import Security

VALIDITY = datetime.timedelta(days=30)  # a cluster lives for a session; a month is plenty
ROLES = ("scheduler", "worker", "client")


@dataclass(frozen=True)
class Certificate:
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class ClusterCertificates:
    """A CA and one certificate per role, as PEM text."""

    ca_pem: str
    scheduler: Certificate
    worker: Certificate
    client: Certificate

    @classmethod
    def generate(cls, name: str = "remrepl-cluster") -> ClusterCertificates:
        # EC P-256: as strong as RSA-3072 for this purpose and ~100x faster to generate
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        leaves = {role: _leaf(ca_key, ca_name, f"{name} {role}", now) for role in ROLES}
        return cls(
            ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
            scheduler=leaves["scheduler"],
            worker=leaves["worker"],
            client=leaves["client"],
        )

    def security(self) -> Security:
        """A Dask ``Security`` with every role's certificate in memory, TLS required."""
        from distributed.security import Security

        return Security(
            require_encryption=True,
            tls_ca_file=self.ca_pem,
            tls_scheduler_cert=self.scheduler.cert_pem,
            tls_scheduler_key=self.scheduler.key_pem,
            tls_worker_cert=self.worker.cert_pem,
            tls_worker_key=self.worker.key_pem,
            tls_client_cert=self.client.cert_pem,
            tls_client_key=self.client.key_pem,
        )

    def worker_files(self) -> dict[str, str]:
        """What a remote worker needs, by file name (written 0600 on the remote host)."""
        return {"ca.pem": self.ca_pem, "worker.pem": self.worker.cert_pem, "worker.key": self.worker.key_pem}


def _leaf(ca_key: ec.EllipticCurvePrivateKey, issuer: x509.Name, name: str, now: datetime.datetime) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # every Dask process is both a TLS server and a TLS client (workers connect to each other)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return Certificate(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)

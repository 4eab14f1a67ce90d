"""Real X.509 certificates for the test environment, made with `cryptography`.

A small CA (created once under state_dir()/pki) signs the leaf certificates that go into
the QSIGN TLS Secrets, so a check that parses `tls.crt` sees an ordinary server
certificate: subject CN = the Service DNS name, SANs for the short names, a real expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testenv.paths import state_dir

CA_NAME = "opscheck testenv CA"


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _pki_dir() -> Path:
    d = state_dir() / "pki"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ca() -> KeyPair:
    """The test environment's CA, created on first use and reused afterwards."""
    d = _pki_dir()
    crt, key = d / "ca.crt", d / "ca.key"
    if crt.exists() and key.exists():
        return KeyPair(crt.read_bytes(), key.read_bytes())
    k = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opscheck"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
        .sign(k, hashes.SHA256())
    )
    pair = KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(k))
    _write_private(key, pair.key_pem)
    crt.write_bytes(pair.cert_pem)
    return pair


def service_dns_name(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def server_cert(
    common_name: str,
    sans: list[str] | None = None,
    days_valid: int = 365,
    not_before: dt.datetime | None = None,
) -> KeyPair:
    """A server certificate signed by the test CA.

    `days_valid` counts from now; zero or negative gives a certificate that has already
    expired (its notBefore is then moved back so the validity window stays one day long
    or more), which is what an expiry check must flag.
    """
    authority = ca()
    ca_cert = authority.cert
    ca_key = serialization.load_pem_private_key(authority.key_pem, password=None)
    k = _new_key()
    now = _now()
    not_after = now + dt.timedelta(days=days_valid)
    if not_before is None:
        not_before = now - dt.timedelta(hours=1)
    if not_before >= not_after:
        not_before = not_after - dt.timedelta(days=max(1, 365 - days_valid))
    names = [common_name, *(sans or [])]
    san_entries: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):
        try:
            san_entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            san_entries.append(x509.DNSName(n))
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qsign"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san_entries), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(k))


def service_cert(service: str, namespace: str, days_valid: int = 365, extra_sans: list[str] | None = None) -> KeyPair:
    """Certificate for a Service: CN = its cluster DNS name, SANs = the usual short forms."""
    fqdn = service_dns_name(service, namespace)
    sans = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", fqdn, *(extra_sans or [])]
    return server_cert(fqdn, sans, days_valid=days_valid)


def tls_secret_data(pair: KeyPair) -> dict[str, bytes]:
    """The data of a kubernetes.io/tls Secret (plus ca.crt, as cert-manager writes it)."""
    return {"tls.crt": pair.cert_pem, "tls.key": pair.key_pem, "ca.crt": ca().cert_pem}

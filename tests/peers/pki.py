"""Certificates made on the spot for TLS tests: a CA, a server certificate for
``localhost`` / ``127.0.0.1``, a client certificate, an unrelated CA, and server
certificates a client must refuse: expired, for another name, from the unrelated CA."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["make_pki"]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


LOCAL_NAMES = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


def _cert(
    subject: str,
    issuer_key: Any,
    issuer_name: x509.Name,
    key: Any,
    *,
    ca: bool,
    san: Sequence[x509.GeneralName] | None = None,
    expired: bool = False,
) -> Any:
    now = datetime.datetime.now(datetime.timezone.utc)
    # An expired certificate was valid for a day that ended an hour ago.
    end = now - datetime.timedelta(hours=1) if expired else now + datetime.timedelta(days=1)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(end - datetime.timedelta(days=2 if expired else 1, minutes=5))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(obj: Any) -> bytes:
    if hasattr(obj, "private_bytes"):
        out: bytes = obj.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return out
    pem: bytes = obj.public_bytes(serialization.Encoding.PEM)
    return pem


def make_pki(directory: Path) -> dict[str, Path]:
    """Write PEM files into ``directory``; returns their paths by name: ``ca``,
    ``server`` + ``server_key`` (signed by ``ca``), ``client`` + ``client_key`` (signed
    by ``ca``), ``other_ca`` + ``other_key`` (a CA that signed none of the above), and
    certificates for ``server_key`` that a client trusting ``ca`` must refuse:
    ``expired`` (by ``ca``, expired an hour ago), ``wrong_name`` (by ``ca``, for
    ``collector.example`` only) and ``rogue`` (for localhost, by ``other_ca``)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, _name("test-ca"), ca_key, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("other-ca", other_key, _name("other-ca"), other_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("localhost", ca_key, ca.subject, server_key, ca=False, san=LOCAL_NAMES)
    expired = _cert("localhost", ca_key, ca.subject, server_key, ca=False, san=LOCAL_NAMES, expired=True)
    other_name = [x509.DNSName("collector.example")]
    wrong_name = _cert("collector.example", ca_key, ca.subject, server_key, ca=False, san=other_name)
    rogue = _cert("localhost", other_key, other_ca.subject, server_key, ca=False, san=LOCAL_NAMES)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("client", ca_key, ca.subject, client_key, ca=False)
    files = {
        "ca": _pem(ca),
        "other_ca": _pem(other_ca),
        "server": _pem(server),
        "server_key": _pem(server_key),
        "client": _pem(client),
        "client_key": _pem(client_key),
        "other_key": _pem(other_key),
        "expired": _pem(expired),
        "wrong_name": _pem(wrong_name),
        "rogue": _pem(rogue),
    }
    out = {}
    for name, data in files.items():
        p = directory / f"{name}.pem"
        p.write_bytes(data)
        out[name] = p
    return out

"""The embedded signing identity: a local CA, employer and TSA certificates, event certificates.

Created on first use under ``<data_dir>/contracts/ca`` (folder mode 0700, private keys
0600). A self-issued chain proves the document's integrity, not its legal validity: an
operator who needs that configures a CA-issued PKCS#12 and an RFC 3161 timestamp server
(see :mod:`contracts.signing`). Employee certificates are *event certificates*: one per
signing, issued to the signer's name, whose private key is used once and never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.clock import utcnow
from core.errors import SigningError

RSA_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_der(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str, org: str = "", unit: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit[:64]))
    return x509.Name(attrs)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: KeyPair | None,
    *,
    days: int,
    ca: bool = False,
    tsa: bool = False,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    start = (now or utcnow()) - dt.timedelta(minutes=10)
    issuer_name = issuer.cert.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True, digital_signature=True)
    else:
        # signing leaves need digitalSignature + nonRepudiation (contentCommitment)
        usage.update(digital_signature=True, content_commitment=not tsa)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(signing_key, hashes.SHA256())


def issue_event_certificate(ca: KeyPair, signer_name: str, purpose: str) -> KeyPair:
    """A fresh key and certificate for one signing by ``signer_name``."""
    key = _new_key()
    cert = _issue(_name(signer_name, unit=purpose), key, ca, days=3650)
    return KeyPair(cert, key)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # also when the file existed with wider permissions


def _save(folder: Path, stem: str, pair: KeyPair) -> None:
    pem_key = pair.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(folder / f"{stem}.key.pem", pem_key)
    (folder / f"{stem}.cert.pem").write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))


def _load(folder: Path, stem: str) -> KeyPair | None:
    cert_file, key_file = folder / f"{stem}.cert.pem", folder / f"{stem}.key.pem"
    if not (cert_file.exists() and key_file.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except ValueError as exc:
        raise SigningError(f"{folder}: unreadable {stem} key or certificate") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError(f"{key_file}: expected an RSA key")
    return KeyPair(cert, key)


class LocalCA:
    """The embedded default: root CA, TSA and per-employer seal certificates on disk."""

    def __init__(self, folder: Path, root: KeyPair, tsa: KeyPair) -> None:
        self.folder = folder
        self.root = root
        self.tsa = tsa

    @classmethod
    def load(cls, folder: Path) -> LocalCA | None:
        """The CA in ``folder`` if it has been created, without creating anything."""
        root, tsa = _load(folder, "root"), _load(folder, "tsa")
        return cls(folder, root, tsa) if root and tsa else None

    @classmethod
    def open(cls, folder: Path, *, name: str = "Chat Interviewer Local Contract CA") -> LocalCA:
        """Load the CA from ``folder``, creating it (and the folder, mode 0700) on first run."""
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        root = _load(folder, "root")
        if root is None:
            key = _new_key()
            root = KeyPair(
                _issue(_name(name, unit="local, self-issued"), key, None, days=7300, ca=True), key
            )
            _save(folder, "root", root)
        tsa = _load(folder, "tsa")
        if tsa is None:
            key = _new_key()
            tsa = KeyPair(
                _issue(
                    _name("Local Timestamp Authority", unit="local, not a trusted TSA"),
                    key,
                    root,
                    days=3650,
                    tsa=True,
                ),
                key,
            )
            _save(folder, "tsa", tsa)
        return cls(folder, root, tsa)

    def employer(self, employer_name: str) -> KeyPair:
        """The seal certificate of ``employer_name``, created on first use."""
        stem = "employer-" + hashlib.sha256(employer_name.encode("utf-8")).hexdigest()[:16]
        pair = _load(self.folder, stem)
        if pair is None:
            key = _new_key()
            subject = _name(f"{employer_name} 电子合同签章", org=employer_name, unit="local seal")
            pair = KeyPair(_issue(subject, key, self.root, days=3650), key)
            _save(self.folder, stem, pair)
        return pair

    def event_certificate(self, signer_name: str, purpose: str) -> KeyPair:
        """A one-signing certificate for ``signer_name`` (the key is not stored)."""
        return issue_event_certificate(self.root, signer_name, purpose)

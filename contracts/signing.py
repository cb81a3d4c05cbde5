"""Seal a signed contract with pyHanko, and validate sealed contracts.

Sealing takes the unsigned PDF the candidate reviewed (with its three empty signature
fields, see :mod:`contracts.render`) and, in order:

1. the employer's **certification** signature (DocMDP ``FILL_FORMS``, so the later
   signatures are permitted changes), PAdES, SHA-256, timestamped;
2. the employee's **approval** signature (PAdES, SHA-256, timestamped) with the drawn or
   typed signature as its appearance, made with a one-signing event certificate;
3. the **audit seal** on the last page: its appearance *is* the audit trail (document
   SHA-256 before signing and after the employee's signature, every event with time, IP,
   user agent and verification method), and the signature covers the whole file, so the
   audit page is sealed too.

Every step fails closed: a timestamp server that does not answer, a signature without a
timestamp, a PDF that already carries a signature, all raise :class:`SigningError` and
nothing is returned. Backends are pluggable through the :class:`Signer` protocol.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import struct
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from PIL import Image, ImageFilter
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from contracts.fonts import stamp_font
from contracts.messages import AUDIT, AUDIT_EVENTS
from contracts.pki import KeyPair, LocalCA
from contracts.render import FIELD_AUDIT, FIELD_EMPLOYEE, FIELD_EMPLOYER, wrap_lines
from core.clock import Clock, SystemClock
from core.errors import ConfigError, SigningError
from core.settings import ContractSettings

MAX_SIGNATURE_BYTES = 1_500_000
MAX_SIGNATURE_PIXELS = 2000 * 1000
# The pad sends at most ~900 x 400; anything beyond this is refused before decoding.
MAX_SIGNATURE_WIDTH, MAX_SIGNATURE_HEIGHT = 2000, 1000
MIN_SIGNATURE_WIDTH, MIN_SIGNATURE_HEIGHT = 100, 40
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INK_DARKNESS = 40  # a pixel is ink when it is this much darker than white (of 255)
MIN_INK, MAX_INK = 0.005, 0.40  # share of the pad inked by a plausible signature
MIN_STROKE_SHARE = 0.6  # share of the ink that survives a 3x3 median (strokes, not dots)
AUDIT_FONT_SIZE, AUDIT_TEXT_WIDTH = 8, 460  # points; the audit box is ~480 pt wide


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit trail.

    ``kind`` is one of the keys of ``messages.AUDIT[lang]["events"]`` (sent, opened,
    code_sent, code_failed, verified, confirmed, declined, employer_certified,
    employee_signed, sealed ...).
    """

    at: dt.datetime
    kind: str
    ip: str = ""
    user_agent: str = ""
    method: str = ""
    detail: str = ""


@dataclass(frozen=True)
class SignatureMark:
    """What the employee drew or typed; exactly one of the two."""

    typed_name: str | None = None
    image_png: bytes | None = None

    def __post_init__(self) -> None:
        if (self.typed_name is None) == (self.image_png is None):
            raise SigningError("a signature is either drawn or typed")

    @property
    def kind(self) -> str:
        return "typed" if self.typed_name is not None else "drawn"


@dataclass(frozen=True)
class SealRequest:
    """Everything sealing needs besides the unsigned PDF."""

    contract_no: str
    employer_name: str
    employee_name: str
    mark: SignatureMark
    events: tuple[AuditEvent, ...] = ()
    location: str = ""


@dataclass(frozen=True)
class SealedContract:
    """The sealed PDF, its hashes and the full event list (sealing steps included)."""

    pdf: bytes
    sha256_before: str
    sha256_after_employee: str
    sha256_final: str
    events: tuple[AuditEvent, ...]
    timestamp_source: str


class Signer(Protocol):
    """A signing backend: seals a contract and says which roots validate its output."""

    def seal(self, unsigned_pdf: bytes, request: SealRequest) -> SealedContract:
        """Apply the employer, employee and audit signatures, or raise SigningError."""
        ...

    def trust_roots(self) -> list[x509.Certificate]:
        """Root certificates a validator should trust for this backend's signatures."""
        ...


# --- signature images --------------------------------------------------------------


class SignatureImageError(SigningError):
    """A drawn signature was refused; ``reason`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, before anything is decoded."""
    if len(png) < 33 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise SignatureImageError("invalid", "the signature image is not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _decode_png(png: bytes) -> Image.Image:
    """The decoded image; any error of the decoder is a refusal, never a crash."""
    if len(png) > MAX_SIGNATURE_BYTES:
        raise SignatureImageError("too_large", "signature image too large")
    width, height = _png_size(png)
    if (
        width > MAX_SIGNATURE_WIDTH
        or height > MAX_SIGNATURE_HEIGHT
        or width * height > MAX_SIGNATURE_PIXELS
    ):
        raise SignatureImageError("too_large", f"signature image too large ({width}x{height})")
    if width < MIN_SIGNATURE_WIDTH or height < MIN_SIGNATURE_HEIGHT:
        raise SignatureImageError("faint", f"signature image too small ({width}x{height})")
    try:
        image = Image.open(io.BytesIO(png), formats=["PNG"])
        if image.size != (width, height):
            raise SignatureImageError("invalid", "the PNG header and the image disagree")
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SignatureImageError("too_large", "signature image too large") from exc
    except SignatureImageError:
        raise
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, EOFError ...
        raise SignatureImageError("invalid", "the signature image is not a valid PNG") from exc
    return image


def prepare_signature_image(png: bytes) -> Image.Image:
    """Decode a drawn signature, flatten it on white and crop it to the ink.

    The size comes from the PNG header and is checked before decoding; then the ink must
    look like handwriting: some of the pad inked, not most of it, in strokes rather than
    scattered dots.

    Raises:
        SignatureImageError: ``reason`` is ``invalid`` (not a whole PNG), ``too_large``,
            ``blank`` (no ink), ``faint`` (too little ink or a tiny image), ``heavy``
            (most of the pad inked) or ``noise`` (dots, not strokes).
    """
    image = _decode_png(png)
    rgba = _from_16bit(image) if image.mode.startswith("I") else image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("RGB")
    ink = flat.convert("L").point(lambda v: 255 if v < 255 - INK_DARKNESS else 0)
    inked = ink.histogram()[255]
    pixels = ink.width * ink.height
    if inked == 0:
        raise SignatureImageError("blank", "the signature is blank")
    if inked < MIN_INK * pixels:
        raise SignatureImageError("faint", f"too little ink ({inked / pixels:.2%} of the pad)")
    if inked > MAX_INK * pixels:
        raise SignatureImageError("heavy", f"too much ink ({inked / pixels:.0%} of the pad)")
    # A pen stroke is at least two pixels wide, so a 3x3 median keeps nearly all of it;
    # it wipes out scattered dots (noise) however many there are.
    kept = ink.filter(ImageFilter.MedianFilter(3)).histogram()[255]
    if kept < MIN_STROKE_SHARE * inked:
        raise SignatureImageError("noise", "the ink is scattered dots, not strokes")
    bbox = ink.getbbox()
    assert bbox is not None  # there is ink
    pad = 8
    box = (
        max(0, bbox[0] - pad),
        max(0, bbox[1] - pad),
        min(flat.width, bbox[2] + pad),
        min(flat.height, bbox[3] + pad),
    )
    return flat.crop(box)


def _from_16bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale (Pillow's ``I;16``) as 8-bit RGBA: Pillow's own convert clips
    every value above 255 to white instead of scaling it."""
    return image.point(lambda v: v / 257, "I").convert("L").convert("RGBA")


# --- the pyHanko backend -----------------------------------------------------------


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _store(certs: Sequence[x509.Certificate]) -> SimpleCertificateStore:
    store: SimpleCertificateStore = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
        [_asn1_cert(c) for c in certs]
    )
    return store


def _simple_signer(pair: KeyPair, chain: Sequence[x509.Certificate]) -> SimpleSigner:
    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(pair.cert_der()),
        signing_key=asn1_keys.PrivateKeyInfo.load(pair.key_der()),
        cert_registry=_store(chain),
    )


@lru_cache(maxsize=2)
def _font_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@dataclass(frozen=True)
class _FontFactory(GlyphAccumulatorFactory):
    """pyHanko's factory opens the font file and never closes it; read it once instead."""

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: object = None
    ) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(_font_bytes(self.font_file)),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )


def _text_width(size: float) -> Callable[[str], float]:
    def width(text: str) -> float:
        return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.56 for ch in text)

    return width


@dataclass
class PyHankoSigner:
    """pyHanko with a local CA (embedded default) or an operator's PKCS#12 and TSA.

    Attributes:
        ca: the local CA; it issues employee event certificates in every mode.
        employer_signer: returns the employer's signer for an employer name.
        timestamper: RFC 3161 client, or the local TSA.
        timestamp_source: how the audit page names the timestamp source.
        extra_roots: further roots that validate the employer's chain (operator mode).
    """

    ca: LocalCA
    employer_signer: Callable[[str], SimpleSigner]
    timestamper: TimeStamper
    timestamp_source: str
    extra_roots: list[x509.Certificate] = field(default_factory=list)
    clock: Clock = field(default_factory=SystemClock)
    timezone: str = "Asia/Shanghai"
    font: Path | None = None

    def trust_roots(self) -> list[x509.Certificate]:
        return [self.ca.root.cert, *self.extra_roots]

    def _font(self) -> str:
        return str(self.font or stamp_font())

    def _local(self, when: dt.datetime) -> str:
        return when.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M:%S %z")

    def _sign(
        self,
        pdf: bytes,
        *,
        field_name: str,
        signer: SimpleSigner,
        style: TextStampStyle,
        params: dict[str, str],
        certify: bool = False,
        reason: str = "",
        location: str = "",
    ) -> bytes:
        meta = PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            certify=certify,
            docmdp_permissions=MDPPerm.FILL_FORMS,
            reason=reason or None,
            location=location or None,
        )
        pdf_signer = PdfSigner(meta, signer=signer, timestamper=self.timestamper, stamp_style=style)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = pdf_signer.sign_pdf(writer, existing_fields_only=True, appearance_text_params=params)
        data: bytes = out.getvalue()
        return data

    def _text_style(
        self,
        text: str,
        size: int,
        *,
        top_left: bool = False,
        border: int = 1,
        leading: int | None = None,
    ) -> TextStampStyle:
        inner = None
        if top_left:
            inner = layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MAX,
                margins=layout.Margins(left=8, right=8, top=8, bottom=8),
            )
        return TextStampStyle(
            stamp_text=text,
            text_box_style=TextBoxStyle(
                font=_FontFactory(self._font(), font_size=size),
                font_size=size,
                leading=leading,
            ),
            inner_content_layout=inner,
            border_width=border,
        )

    def _employee_style(self, mark: SignatureMark) -> TextStampStyle:
        text = AUDIT["stamp.employee"]
        if mark.typed_name is not None:
            return self._text_style("%(typed)s\n" + text, 12)
        assert mark.image_png is not None
        image = prepare_signature_image(mark.image_png)
        return TextStampStyle(
            stamp_text=text,
            text_box_style=TextBoxStyle(font=_FontFactory(self._font(), font_size=7), font_size=7),
            inner_content_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MIN,
                margins=layout.Margins(left=4, right=4, top=4, bottom=4),
            ),
            background=PdfImage(image),
            background_opacity=1.0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MAX,
                margins=layout.Margins(left=4, right=4, top=4, bottom=26),
            ),
            border_width=1,
        )

    def audit_text(
        self,
        request: SealRequest,
        before: str,
        after: str,
        events: Sequence[AuditEvent],
        certs: Sequence[tuple[str, x509.Certificate]],
    ) -> str:
        """The audit trail as the audit page shows it (bilingual labels)."""
        labels = AUDIT
        lines = [
            labels["contract"].format(no=request.contract_no),
            labels["parties"].format(
                employer=request.employer_name, employee=request.employee_name
            ),
            labels["before"].format(sha=before),
            labels["after"].format(sha=after),
            labels["final"],
            labels["tsa"].format(source=self.timestamp_source),
        ]
        for role, cert in certs:
            fp = cert.fingerprint(hashes.SHA256()).hex()
            subject = cert.subject.rfc4514_string()
            lines.append(
                labels["cert"].format(
                    role=role, subject=subject, serial=f"{cert.serial_number:x}", fp=fp
                )
            )
        lines.append(labels["events_title"])
        for event in events:
            name = AUDIT_EVENTS.get(event.kind, event.kind)
            line = f"{self._local(event.at)}  {name}"
            if event.method:
                line += f"  | {labels['method']}: {event.method}"
            if event.ip:
                line += f"  | IP {event.ip}"
            if event.user_agent:
                line += f"  | UA {event.user_agent[:200]}"
            if event.detail:
                line += f"  | {event.detail[:300]}"
            lines.append(line)
        width = _text_width(AUDIT_FONT_SIZE)
        wrapped: list[str] = []
        for line in lines:
            wrapped.extend(wrap_lines(width, line, AUDIT_TEXT_WIDTH) or [""])
        return "\n".join(wrapped)

    def seal(self, unsigned_pdf: bytes, request: SealRequest) -> SealedContract:
        try:
            return self._seal(unsigned_pdf, request)
        except SigningError:
            raise
        except Exception as exc:  # pyHanko, the TSA client, fonts: any failure fails closed
            raise SigningError(f"sealing failed: {exc}") from exc

    def _seal(self, unsigned_pdf: bytes, request: SealRequest) -> SealedContract:
        _check_unsigned(unsigned_pdf)
        before = sha256_hex(unsigned_pdf)
        events = list(request.events)
        employer = self.employer_signer(request.employer_name)
        now = self.clock.now()
        stamp = {"name": request.employer_name, "when": self._local(now)}
        pdf = self._sign(
            unsigned_pdf,
            field_name=FIELD_EMPLOYER,
            signer=employer,
            style=self._text_style(AUDIT["stamp.employer"], 9),
            params=stamp,
            certify=True,
            reason=AUDIT["reason.employer"],
            location=request.location,
        )
        events.append(AuditEvent(now, "employer_certified", method="PAdES / DocMDP FILL_FORMS"))

        employee_pair = self.ca.event_certificate(
            request.employee_name, f"contract {request.contract_no}"
        )
        employee = _simple_signer(employee_pair, [self.ca.root.cert])
        now = self.clock.now()
        params = {"name": request.employee_name, "when": self._local(now)}
        if request.mark.typed_name is not None:
            params["typed"] = request.mark.typed_name
        pdf = self._sign(
            pdf,
            field_name=FIELD_EMPLOYEE,
            signer=employee,
            style=self._employee_style(request.mark),
            params=params,
            reason=AUDIT["reason.employee"],
            location=request.location,
        )
        after = sha256_hex(pdf)
        events.append(
            AuditEvent(now, "employee_signed", method=f"PAdES, {request.mark.kind} signature")
        )

        now = self.clock.now()
        events.append(AuditEvent(now, "sealed", method="PAdES"))
        if employer.signing_cert is None:
            raise SigningError("the employer signer has no certificate")
        employer_cert = x509.load_der_x509_certificate(employer.signing_cert.dump())
        text = self.audit_text(
            request,
            before,
            after,
            events,
            [("employer", employer_cert), ("employee", employee_pair.cert)],
        )
        pdf = self._sign(
            pdf,
            field_name=FIELD_AUDIT,
            signer=employer,
            style=self._text_style(
                "%(audit)s", AUDIT_FONT_SIZE, top_left=True, border=0, leading=11
            ),
            params={"audit": text},
            reason=AUDIT["reason.audit"],
        )
        _check_timestamps(pdf)
        return SealedContract(
            pdf=pdf,
            sha256_before=before,
            sha256_after_employee=after,
            sha256_final=sha256_hex(pdf),
            events=tuple(events),
            timestamp_source=self.timestamp_source,
        )


def _check_unsigned(pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf))
    fields = {name: value for name, value, _ref in enumerate_sig_fields(reader)}
    for name in (FIELD_EMPLOYER, FIELD_EMPLOYEE, FIELD_AUDIT):
        if name not in fields:
            raise SigningError(f"the contract has no {name!r} signature field")
        if fields[name] is not None:
            raise SigningError(f"the {name!r} field is already signed")


def _check_timestamps(pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf))
    for sig in reader.embedded_signatures:
        attrs = sig.signer_info["unsigned_attrs"].native or []
        if not any(attr["type"] == "signature_time_stamp_token" for attr in attrs):
            raise SigningError(f"signature {sig.field_name!r} has no timestamp")


# --- building a signer from the settings -------------------------------------------


def _load_p12(path: Path, password: str | None) -> tuple[KeyPair, list[x509.Certificate]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"contracts.p12_path: cannot read {path}: {exc}") from exc
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, password.encode("utf-8") if password else None
        )
    except ValueError as exc:
        raise ConfigError(
            "contracts.p12_path: cannot open the PKCS#12 file (wrong password?)"
        ) from exc
    if cert is None or not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            "contracts.p12_path: the PKCS#12 file needs an RSA key and its certificate"
        )
    return KeyPair(cert, key), list(extra)


def ca_folder(data_dir: Path) -> Path:
    """Where the embedded CA lives."""
    return data_dir / "contracts" / "ca"


def configured_trust_roots(settings: ContractSettings, data_dir: Path) -> list[x509.Certificate]:
    """The roots that validate this installation's contracts, creating nothing.

    The local root (employee event certificates, and the employer seal without a PKCS#12)
    plus the self-signed certificates in the operator's PKCS#12 chain.
    """
    roots: list[x509.Certificate] = []
    ca = LocalCA.load(ca_folder(data_dir))
    if ca is not None:
        roots.append(ca.root.cert)
    if settings.p12_path is not None:
        password = settings.p12_password.get_secret_value() if settings.p12_password else None
        _, chain = _load_p12(settings.p12_path, password)
        roots += [c for c in chain if c.issuer == c.subject]
    return roots


def build_signer(
    settings: ContractSettings,
    data_dir: Path,
    *,
    clock: Clock | None = None,
    timezone: str = "Asia/Shanghai",
    timestamper: TimeStamper | None = None,
) -> PyHankoSigner:
    """The signer the settings describe.

    Without ``p12_path`` the employer's seal comes from the local CA; without ``tsa_url``
    timestamps come from the local TSA (integrity only, not a trusted time source). With a
    ``tsa_url`` every signature must get a token from that server or sealing fails.

    Args:
        settings: the ``[contracts]`` section.
        data_dir: the application's data folder (the CA lives in ``contracts/ca``).
        clock: the time source for the audit trail.
        timezone: how times are shown on stamps and the audit page.
        timestamper: override the timestamp client (tests).
    """
    ca = LocalCA.open(ca_folder(data_dir))
    extra_roots: list[x509.Certificate] = []
    employer_signer: Callable[[str], SimpleSigner]
    if settings.p12_path is not None:
        password = settings.p12_password.get_secret_value() if settings.p12_password else None
        pair, chain = _load_p12(settings.p12_path, password)
        operator = _simple_signer(pair, chain)
        extra_roots = [c for c in chain if c.issuer == c.subject]
        employer_signer = lambda _name: operator  # noqa: E731
    else:
        employer_signer = lambda name: _simple_signer(ca.employer(name), [ca.root.cert])  # noqa: E731

    if timestamper is not None:
        source = "custom timestamper"
    elif settings.tsa_url:
        timestamper = RequestsHTTPTimeStamper(settings.tsa_url, timeout=15)  # type: ignore[no-untyped-call]
        source = f"RFC 3161 TSA {settings.tsa_url}"
    else:
        timestamper = DummyTimeStamper(
            tsa_cert=_asn1_cert(ca.tsa.cert),
            tsa_key=asn1_keys.PrivateKeyInfo.load(ca.tsa.key_der()),
            certs_to_embed=_store([ca.root.cert]),
        )
        source = AUDIT["local_tsa"]
    return PyHankoSigner(
        ca=ca,
        employer_signer=employer_signer,
        timestamper=timestamper,
        timestamp_source=source,
        extra_roots=extra_roots,
        clock=clock or SystemClock(),
        timezone=timezone,
    )


# --- validation --------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureCheck:
    """The validation result of one embedded signature."""

    field: str
    intact: bool
    valid: bool
    trusted: bool
    timestamped: bool
    docmdp_ok: bool | None
    coverage: str
    bottom_line: bool
    summary: str


@dataclass(frozen=True)
class ValidationReport:
    """All signatures of a sealed contract."""

    signatures: tuple[SignatureCheck, ...]
    certified: bool

    @property
    def ok(self) -> bool:
        """True when the employer certified first, all three signed, all validate, and
        the last signature covers the entire file."""
        names = [s.field for s in self.signatures]
        return (
            self.certified
            and names == [FIELD_EMPLOYER, FIELD_EMPLOYEE, FIELD_AUDIT]
            and all(s.bottom_line and s.timestamped for s in self.signatures)
            and self.signatures[-1].coverage == "ENTIRE_FILE"
        )


def validate_contract(pdf: bytes, trust_roots: Sequence[x509.Certificate]) -> ValidationReport:
    """Validate every signature offline against ``trust_roots`` (no network fetching).

    A damaged file yields a report whose :attr:`ValidationReport.ok` is False rather than
    an exception, so callers can show the result.
    """
    roots = [_asn1_cert(c) for c in trust_roots]
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        sigs = list(reader.embedded_signatures)
    except Exception as exc:  # an unreadable file is simply not valid
        return ValidationReport(
            (SignatureCheck("?", False, False, False, False, None, "NONE", False, repr(exc)),),
            False,
        )
    checks: list[SignatureCheck] = []
    certified = False
    for index, sig in enumerate(sigs):
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        try:
            status = validate_pdf_signature(sig, signer_validation_context=context)
        except Exception as exc:
            checks.append(
                SignatureCheck(
                    str(sig.field_name), False, False, False, False, None, "NONE", False, repr(exc)
                )
            )
            continue
        if index == 0:
            certified = sig.docmdp_level is not None
        coverage = status.coverage.name if status.coverage is not None else "NONE"
        checks.append(
            SignatureCheck(
                field=str(sig.field_name),
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted),
                timestamped=status.timestamp_validity is not None
                and bool(status.timestamp_validity.valid),
                docmdp_ok=status.docmdp_ok,
                coverage=coverage,
                bottom_line=bool(status.bottom_line),
                summary=status.summary(),
            )
        )
    return ValidationReport(tuple(checks), certified)

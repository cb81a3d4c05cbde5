"""Drawn signatures: the size is read from the PNG header before decoding, every PNG
flavour a browser or an app can send is read, and implausible ink is refused."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from contracts.signing import (
    MAX_SIGNATURE_HEIGHT,
    MAX_SIGNATURE_WIDTH,
    SignatureImageError,
    prepare_signature_image,
)

STROKES = [(40, 160), (160, 50), (260, 170), (380, 60), (470, 150), (560, 80)]


def _png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_only(width: int, height: int) -> bytes:
    """A greyscale PNG that claims ``width`` x ``height`` but carries almost no data: what
    a decompression bomb looks like before it is decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * min(width + 1, 100_001) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    )


def pad(mode: str = "RGBA", size: tuple[int, int] = (600, 220), width: int = 6) -> Image.Image:
    """What the signing pad sends: black strokes on a transparent (or white) pad."""
    strokes = [(x * size[0] // 600, y * size[1] // 220) for x, y in STROKES]
    if mode == "RGBA":
        image = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(image).line(strokes, fill=(0, 0, 0, 255), width=width)
        return image
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).line(strokes, fill="black", width=width)
    return image


def sixteen_bit(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale copy (white is 65535)."""
    return image.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")


def noise(density: float, size: tuple[int, int] = (600, 220)) -> Image.Image:
    rng = random.Random(7)
    pixels = bytes(0 if rng.random() < density else 255 for _ in range(size[0] * size[1]))
    return Image.frombytes("L", size, pixels)


FLAVOURS: dict[str, Callable[[], bytes]] = {
    "pad (RGBA, transparent)": lambda: _png(pad()),
    "RGB on white": lambda: _png(pad("RGB")),
    "greyscale": lambda: _png(pad("RGB").convert("L")),
    "greyscale with alpha": lambda: _png(pad().convert("LA")),
    "palette with transparency": lambda: _png(pad().convert("P"), transparency=0),
    "palette on white": lambda: _png(pad("RGB").convert("P")),
    "1-bit": lambda: _png(pad("RGB").convert("1")),
    "16-bit greyscale": lambda: _png(sixteen_bit(pad("RGB"))),
    "largest pad": lambda: _png(pad(size=(MAX_SIGNATURE_WIDTH, MAX_SIGNATURE_HEIGHT), width=14)),
    "thin strokes": lambda: _png(pad(width=2)),
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_png_flavour_of_a_real_signature_is_read(flavour: str) -> None:
    image = prepare_signature_image(FLAVOURS[flavour]())
    assert image.mode == "RGB"
    assert image.getbbox() is not None
    assert image.width < MAX_SIGNATURE_WIDTH  # cropped to the ink


REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "transparent, empty": (lambda: _png(Image.new("RGBA", (600, 220), (0, 0, 0, 0))), "blank"),
    "white, empty": (lambda: _png(Image.new("RGB", (600, 220), "white")), "blank"),
    "black ink at zero alpha": (lambda: _png(Image.new("RGBA", (600, 220))), "blank"),
    "white ink on transparent": (lambda: _png(_drawn([(0, 0)], (255, 255, 255, 255))), "blank"),
    "all black": (lambda: _png(Image.new("RGB", (600, 220), "black")), "heavy"),
    "all black, 1-bit": (lambda: _png(Image.new("1", (600, 220), 0)), "heavy"),
    "all black, 16-bit": (lambda: _png(Image.new("I;16", (600, 220), 0)), "heavy"),
    "all black, palette": (lambda: _png(Image.new("RGB", (600, 220)).convert("P")), "heavy"),
    "half inked": (lambda: _png(_half_black()), "heavy"),
    "dense noise": (lambda: _png(noise(0.5)), "heavy"),
    "sparse noise": (lambda: _png(noise(0.08)), "noise"),
    "medium noise": (lambda: _png(noise(0.3)), "noise"),
    "a dot": (lambda: _png(_drawn([(300, 100), (302, 101)])), "faint"),
    "a short tick": (lambda: _png(_drawn([(300, 100), (320, 110)])), "faint"),
}


def _drawn(points: list[tuple[int, int]], ink: tuple[int, ...] = (0, 0, 0, 255)) -> Image.Image:
    image = Image.new("RGBA", (600, 220), (0, 0, 0, 0))
    if len(points) > 1:
        ImageDraw.Draw(image).line(points, fill=ink, width=4)
    else:
        ImageDraw.Draw(image).line(STROKES, fill=ink, width=6)
    return image


def _half_black() -> Image.Image:
    image = Image.new("RGB", (600, 220), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 299, 219), fill="black")
    return image


@pytest.mark.parametrize("case", REFUSED)
def test_implausible_ink_is_refused(case: str) -> None:
    make, reason = REFUSED[case]
    with pytest.raises(SignatureImageError) as caught:
        prepare_signature_image(make())
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (100_000, 100_000),  # Pillow itself would raise DecompressionBombError
        (10_000, 10_000),  # ... or warn (an error under pytest)
        (4000, 4000),
        (MAX_SIGNATURE_WIDTH + 1, 200),
        (600, MAX_SIGNATURE_HEIGHT + 1),
        (2**31 - 1, 1),
    ],
)
def test_the_size_is_checked_before_decoding(width: int, height: int) -> None:
    with pytest.raises(SignatureImageError) as caught:
        prepare_signature_image(header_only(width, height))
    assert caught.value.reason == "too_large"


def test_a_real_4000_pixel_signature_is_refused_unread() -> None:
    image = Image.new("RGB", (4000, 4000), "white")
    ImageDraw.Draw(image).line([(100, 100), (3900, 3000), (200, 3900)], fill="black", width=14)
    with pytest.raises(SignatureImageError) as caught:
        prepare_signature_image(_png(image))
    assert caught.value.reason == "too_large"


def _truncated() -> bytes:
    data = _png(pad())
    return data[: len(data) // 2]


def _bad_crc() -> bytes:
    data = bytearray(_png(pad()))
    data[40] ^= 0xFF
    return bytes(data)


def _other(kind: str) -> bytes:
    out = io.BytesIO()
    pad("RGB").save(out, kind)
    return out.getvalue()


NOT_PNG: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "text": lambda: b"hello, I agree",
    "just the signature bytes": lambda: b"\x89PNG\r\n\x1a\n",
    "GIF": lambda: _other("GIF"),
    "JPEG": lambda: _other("JPEG"),
    "BMP": lambda: _other("BMP"),
    "truncated": _truncated,
    "bad CRC": _bad_crc,
    "no image data": lambda: header_only(600, 220)[:33] + _chunk(b"IEND", b""),
    "text-chunk bomb": lambda: (
        header_only(600, 220)[:33]
        + _chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 20_000_000))
        + header_only(600, 220)[33:]
    ),
}


@pytest.mark.parametrize("case", NOT_PNG)
def test_anything_but_a_whole_png_is_refused(case: str) -> None:
    with pytest.raises(SignatureImageError) as caught:
        prepare_signature_image(NOT_PNG[case]())
    assert caught.value.reason == "invalid"

"""Where the CJK fonts are: Noto Sans SC from the ``pylopdf-fonts-zh-cn`` package, or Debian's.

fpdf2 can use an OTF or a TrueType collection face; pyHanko's stamps need a plain OTF/TTF,
so the packaged OTF comes first. Droid Sans Fallback is never used: it has no ASCII digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import ContractError

# Debian fonts-noto-cjk: in the collection face 2 is Simplified Chinese (0 is Japanese).
DEBIAN_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEBIAN_SC_FACE = 2


@dataclass(frozen=True)
class FontFile:
    """A font file and, for a collection, the face to use."""

    path: Path
    face: int | None = None

    @property
    def is_collection(self) -> bool:
        return self.face is not None


def packaged_otf() -> Path | None:
    """Noto Sans SC from ``pylopdf-fonts-zh-cn``, if installed."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return path if path.is_file() else None


def cjk_font(override: Path | None = None) -> FontFile:
    """The font the contract is rendered with.

    Raises:
        ContractError: no Simplified Chinese font is installed.
    """
    if override is not None:
        if not override.is_file():
            raise ContractError(f"font file not found: {override}")
        face = DEBIAN_SC_FACE if override.suffix.lower() == ".ttc" else None
        return FontFile(override, face)
    otf = packaged_otf()
    if otf is not None:
        return FontFile(otf)
    if DEBIAN_TTC.is_file():
        return FontFile(DEBIAN_TTC, DEBIAN_SC_FACE)
    raise ContractError(
        "no Simplified Chinese font: install the PyPI package pylopdf-fonts-zh-cn "
        "or the Debian package fonts-noto-cjk"
    )


def stamp_font() -> Path:
    """An OTF with CJK glyphs for pyHanko signature appearances.

    Raises:
        ContractError: the packaged OTF is missing (a TTC cannot be used by pyHanko).
    """
    otf = packaged_otf()
    if otf is None:
        raise ContractError("signature stamps need pylopdf-fonts-zh-cn (Noto Sans SC OTF)")
    return otf

"""Each feature keeps its texts in its own package; a key defined twice is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogs.kernel.catalog import LANGUAGES, catalogue_files, keys, load_catalogue, t


def _write(root: Path, folder: str, lang: str, text: str) -> None:
    path = root / folder / "locales" / f"{lang}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_features_bring_their_own_catalogues(tmp_path: Path) -> None:
    _write(tmp_path, "kernel", "en", '[common]\nhello = "Hello"\n')
    _write(tmp_path, "toy", "en", '[toy]\nwave = "Wave, {name}"\n')
    files = catalogue_files("en", tmp_path)
    assert [f.parent.parent.name for f in files] == ["kernel", "toy"]
    assert load_catalogue(files) == {"common.hello": "Hello", "toy.wave": "Wave, {name}"}


def test_a_key_defined_in_two_catalogues_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "kernel", "zh", '[common]\nhello = "你好"\n')
    _write(tmp_path, "toy", "zh", '[common]\nhello = "嗨"\n')
    with pytest.raises(ValueError, match="'common.hello' is defined in"):
        load_catalogue(catalogue_files("zh", tmp_path))


def test_the_products_features_keep_their_texts_beside_them() -> None:
    for lang in LANGUAGES:
        owners = {f.parent.parent.name for f in catalogue_files(lang)}
        assert {"kernel", "interview", "scheduling", "hiring", "contracting"} <= owners
    assert keys("zh") == keys("en")
    assert t("zh", "schedule.btn_reschedule") == "改期"  # read from scheduling/locales

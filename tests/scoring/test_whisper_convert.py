"""CTranslate2 -> openai-whisper conversion: fused attention split, projection tied."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from scoring.whisper_convert import read_ct2, to_openai_state
from scoring.whisper_install import missing_files
from tests.fixtures.speech.clips import speech_settings

D, FF, VOCAB, MELS, AUDIO_CTX, TEXT_CTX = 8, 16, 11, 4, 6, 5


def _string(value: str) -> bytes:
    raw = value.encode() + b"\0"
    return struct.pack("H", len(raw)) + raw


def write_ct2(
    path: Path, variables: dict[str, npt.NDArray[np.float16] | int], aliases: dict[str, str]
) -> None:
    out = [
        struct.pack("I", 6),
        _string("WhisperSpec"),
        struct.pack("I", 3),
        struct.pack("I", len(variables)),
    ]
    for name, value in variables.items():
        arr = np.array(value, dtype=np.int16) if isinstance(value, int) else value
        type_id = 2 if arr.dtype == np.int16 else 4
        out += [
            _string(name),
            struct.pack("B", arr.ndim),
            *(struct.pack("I", d) for d in arr.shape),
        ]
        out += [struct.pack("B", type_id), struct.pack("I", arr.nbytes), arr.tobytes()]
    out.append(struct.pack("I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    path.write_bytes(b"".join(out))


def tiny_model() -> dict[str, npt.NDArray[np.float16] | int]:
    rng = np.random.default_rng(0)

    def arr(*shape: int) -> npt.NDArray[np.float16]:
        return rng.normal(size=shape).astype(np.float16)

    v: dict[str, npt.NDArray[np.float16] | int] = {"encoder/num_heads": 2, "decoder/num_heads": 2}
    v["encoder/conv1/weight"], v["encoder/conv1/bias"] = arr(D, MELS, 3), arr(D)
    v["encoder/conv2/weight"], v["encoder/conv2/bias"] = arr(D, D, 3), arr(D)
    v["encoder/position_encodings/encodings"] = arr(AUDIO_CTX, D)
    v["decoder/position_encodings/encodings"] = arr(TEXT_CTX, D)
    v["decoder/embeddings/weight"] = arr(VOCAB, D)
    for side in ("encoder", "decoder"):
        v[f"{side}/layer_norm/gamma"], v[f"{side}/layer_norm/beta"] = arr(D), arr(D)
        p = f"{side}/layer_0"
        v[f"{p}/self_attention/linear_0/weight"], v[f"{p}/self_attention/linear_0/bias"] = (
            arr(3 * D, D),
            arr(3 * D),
        )
        v[f"{p}/self_attention/linear_1/weight"], v[f"{p}/self_attention/linear_1/bias"] = (
            arr(D, D),
            arr(D),
        )
        v[f"{p}/self_attention/layer_norm/gamma"], v[f"{p}/self_attention/layer_norm/beta"] = (
            arr(D),
            arr(D),
        )
        v[f"{p}/ffn/linear_0/weight"], v[f"{p}/ffn/linear_0/bias"] = arr(FF, D), arr(FF)
        v[f"{p}/ffn/linear_1/weight"], v[f"{p}/ffn/linear_1/bias"] = arr(D, FF), arr(D)
        v[f"{p}/ffn/layer_norm/gamma"], v[f"{p}/ffn/layer_norm/beta"] = arr(D), arr(D)
    p = "decoder/layer_0/attention"
    v[f"{p}/linear_0/weight"], v[f"{p}/linear_0/bias"] = arr(D, D), arr(D)
    v[f"{p}/linear_1/weight"], v[f"{p}/linear_1/bias"] = arr(2 * D, D), arr(2 * D)
    v[f"{p}/linear_2/weight"], v[f"{p}/linear_2/bias"] = arr(D, D), arr(D)
    v[f"{p}/layer_norm/gamma"], v[f"{p}/layer_norm/beta"] = arr(D), arr(D)
    return v


def test_reader_and_mapping_split_fused_attention(tmp_path: Path) -> None:
    variables = tiny_model()
    write_ct2(
        tmp_path / "model.bin",
        variables,
        {"decoder/projection/weight": "decoder/embeddings/weight"},
    )
    ct2 = read_ct2(tmp_path / "model.bin")
    assert ct2["decoder/projection/weight"] is ct2["decoder/embeddings/weight"]
    dims, state = to_openai_state(ct2)
    assert dims == {
        "n_mels": MELS, "n_audio_ctx": AUDIO_CTX, "n_audio_state": D, "n_audio_head": 2, "n_audio_layer": 1,
        "n_vocab": VOCAB, "n_text_ctx": TEXT_CTX, "n_text_state": D, "n_text_head": 2, "n_text_layer": 1,
    }  # fmt: skip
    fused = variables["decoder/layer_0/self_attention/linear_0/weight"]
    assert isinstance(fused, np.ndarray)
    assert np.array_equal(state["decoder.blocks.0.attn.query.weight"], fused[:D])
    assert np.array_equal(state["decoder.blocks.0.attn.key.weight"], fused[D : 2 * D])
    assert np.array_equal(state["decoder.blocks.0.attn.value.weight"], fused[2 * D :])
    assert "decoder.blocks.0.attn.key.bias" not in state
    kv = variables["decoder/layer_0/attention/linear_1/weight"]
    assert isinstance(kv, np.ndarray)
    assert np.array_equal(state["decoder.blocks.0.cross_attn.value.weight"], kv[D:])
    assert "encoder.blocks.0.cross_attn.query.weight" not in state
    assert not any("projection" in name for name in state)


@pytest.mark.slow
def test_real_base_model_matches_openai_whisper_layout() -> None:
    pytest.importorskip("torch")
    whisper_model = pytest.importorskip("whisper.model")
    model_dir = speech_settings().speech.model_dir
    if missing_files(model_dir):
        pytest.skip("Whisper base not installed (python main.py models install)")
    dims, state = to_openai_state(read_ct2(model_dir / "model.bin"))
    reference = whisper_model.Whisper(whisper_model.ModelDimensions(**dims)).state_dict()
    assert set(state) == set(reference)
    assert all(tuple(state[k].shape) == tuple(reference[k].shape) for k in reference)

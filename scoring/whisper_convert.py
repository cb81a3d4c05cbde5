"""Convert a CTranslate2 Whisper model into an openai-whisper checkpoint.

This lets the PyTorch reference implementation run on exactly the weights the
default backend uses (for ``bench asr`` and for operators who prefer it).

CTranslate2 stores Whisper as converted from Hugging Face: attention
projections are fused (self-attention ``linear_0`` is Q|K|V, cross-attention
``linear_1`` is K|V, with zero key biases), layer norms are ``gamma``/``beta``,
and the output projection is tied to the token embedding. openai-whisper wants
separate ``query``/``key``/``value`` layers (``key`` without bias) and ties the
projection itself. The ``model.bin`` layout (binary version 6) is read with
numpy; only ``torch.save`` needs torch.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ModelNotInstalledError

_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16)  # CTranslate2 type ids 0-4


def read_ct2(path: Path) -> dict[str, npt.NDArray[Any]]:
    """All variables of a CTranslate2 ``model.bin`` as numpy arrays (aliases resolved)."""
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return int(value)

    def text() -> str:
        nonlocal pos
        size = take("H")
        value = data[pos : pos + size - 1].decode("utf-8")
        pos += size
        return value

    version = take("I")
    if version != 6:
        raise ModelNotInstalledError(
            f"{path}: CTranslate2 binary version {version} is not supported (6 is)"
        )
    text()  # spec name
    take("I")  # spec revision
    out: dict[str, npt.NDArray[Any]] = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        type_id = take("B")
        size = take("I")
        if type_id >= len(_DTYPES):
            raise ModelNotInstalledError(
                f"{path}: variable {name} has unsupported type id {type_id}"
            )
        out[name] = np.frombuffer(
            data,
            dtype=_DTYPES[type_id],
            count=size // np.dtype(_DTYPES[type_id]).itemsize,
            offset=pos,
        ).reshape(shape)
        pos += size
    for _ in range(take("I")):
        alias, target = text(), text()
        out[alias] = out[target]
    return out


def _layers(names: dict[str, Any], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for n in names if (m := pattern.match(n))})


def to_openai_state(
    ct2: dict[str, npt.NDArray[Any]],
) -> tuple[dict[str, int], dict[str, npt.NDArray[Any]]]:
    """Map CTranslate2 Whisper variables to openai-whisper ``dims`` and ``state_dict``."""
    state: dict[str, npt.NDArray[Any]] = {}

    def linear(dst: str, src: str, rows: slice | None = None, bias: bool = True) -> None:
        weight = ct2[f"{src}/weight"]
        state[f"{dst}.weight"] = weight[rows] if rows is not None else weight
        if bias:
            b = ct2[f"{src}/bias"]
            state[f"{dst}.bias"] = b[rows] if rows is not None else b

    def norm(dst: str, src: str) -> None:
        state[f"{dst}.weight"] = ct2[f"{src}/gamma"]
        state[f"{dst}.bias"] = ct2[f"{src}/beta"]

    def attention(dst: str, src: str, fused_qkv: bool) -> None:
        width = ct2[f"{src}/linear_0/weight"].shape[1]
        q, k, v = slice(0, width), slice(width, 2 * width), slice(2 * width, 3 * width)
        if fused_qkv:  # self-attention: linear_0 = Q|K|V, linear_1 = out
            linear(f"{dst}.query", f"{src}/linear_0", q)
            linear(f"{dst}.key", f"{src}/linear_0", k, bias=False)
            linear(f"{dst}.value", f"{src}/linear_0", v)
            linear(f"{dst}.out", f"{src}/linear_1")
        else:  # cross-attention: linear_0 = Q, linear_1 = K|V, linear_2 = out
            linear(f"{dst}.query", f"{src}/linear_0")
            linear(f"{dst}.key", f"{src}/linear_1", slice(0, width), bias=False)
            linear(f"{dst}.value", f"{src}/linear_1", slice(width, 2 * width))
            linear(f"{dst}.out", f"{src}/linear_2")
        norm(f"{dst}_ln", f"{src}/layer_norm")

    def block(dst: str, src: str, cross: bool) -> None:
        attention(f"{dst}.attn", f"{src}/self_attention", fused_qkv=True)
        if cross:
            attention(f"{dst}.cross_attn", f"{src}/attention", fused_qkv=False)
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    for conv in ("conv1", "conv2"):
        linear(f"encoder.{conv}", f"encoder/{conv}")
    state["encoder.positional_embedding"] = ct2["encoder/position_encodings/encodings"]
    n_audio_layer, n_text_layer = _layers(ct2, "encoder"), _layers(ct2, "decoder")
    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    state["decoder.token_embedding.weight"] = ct2["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = ct2["decoder/position_encodings/encodings"]
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    # The projection is tied to the token embedding in both formats: nothing to copy.
    dims = {
        "n_mels": int(ct2["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(ct2["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(ct2["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(ct2["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(ct2["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(ct2["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    return dims, state


def convert(model_dir: Path, out: Path) -> Path:
    """Write an openai-whisper checkpoint for the CTranslate2 model in ``model_dir``.

    Skips the work when ``out`` is newer than ``model.bin``.

    Raises:
        ModelNotInstalledError: torch is missing or the model cannot be read.
    """
    src = model_dir / "model.bin"
    if out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    try:
        import torch
    except ImportError as exc:
        raise ModelNotInstalledError(
            "converting needs torch: pip install '.[openai-whisper]'"
        ) from exc
    dims, state = to_openai_state(read_ct2(src))
    tensors = {name: torch.from_numpy(np.array(value)) for name, value in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save({"dims": dims, "model_state_dict": tensors}, tmp)
    tmp.replace(out)
    return out

"""A tiny model with SenseVoice's interface, for testing the sherpa-onnx backend offline.

No registry ships SenseVoice weights, so the backend's load and decode path is
tested on this: an ONNX graph with SenseVoice's four inputs, its metadata and its
output layout (four query frames - language, emotion, event, text norm - then one
CTC frame per low-frame-rate step). It recognises nothing: every frame whose mean
log-mel energy is above a threshold is the token ``好``, every other frame is blank,
so each burst of speech comes out as ``好`` at its start time, silence as nothing.
That is enough to check loading, batching, timestamps, segmenting and the gate.

Needs the ``onnx`` package (the ``dev`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOKENS = (
    "<blank>",
    "<s>",
    "</s>",
    "<|zh|>",
    "<|en|>",
    "<|NEUTRAL|>",
    "<|Speech|>",
    "<|withitn|>",
    "<|woitn|>",
    "好",
    "<|BGM|>",
)
SPEECH_TOKEN = "好"  # noqa: S105 (a vocabulary entry, not a secret)
FEATURES = 560  # 80 mel bins x an LFR window of 7
# Mean log-mel energy (samples scaled to 16-bit) above which a frame is "speech":
# espeak-ng speech is about 10-14, digital silence far below 5.
THRESHOLD = 9.0


def build(folder: Path, *, event: str = "<|Speech|>", threshold: float = THRESHOLD) -> Path:
    """Write ``model.onnx`` and ``tokens.txt`` into ``folder``.

    Args:
        folder: created when missing.
        event: the event token the model reports (``<|BGM|>`` to imitate music).
        threshold: the energy above which a frame becomes ``好``.

    Returns:
        ``folder``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    vocab = len(TOKENS)
    ids = {tok: i for i, tok in enumerate(TOKENS)}
    scale, speech = 4.0, ids[SPEECH_TOKEN]
    weight = np.zeros((1, 1, vocab), np.float32)
    bias = np.full((1, 1, vocab), -100.0, np.float32)
    bias[0, 0, 0] = 0.0
    weight[0, 0, speech] = scale
    bias[0, 0, speech] = -scale * threshold
    query = np.full((1, 4, vocab), -100.0, np.float32)
    for row, tok in enumerate(("<|zh|>", "<|NEUTRAL|>", event, "<|withitn|>")):
        query[0, row, ids[tok]] = 0.0
    nodes = [
        helper.make_node("ReduceMean", ["x", "axis2"], ["energy"], keepdims=1),
        helper.make_node("Mul", ["energy", "weight"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["frames"]),
        helper.make_node("ReduceMean", ["x", "axis12"], ["mean"], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "query"], ["queries"]),
        helper.make_node("Concat", ["queries", "frames"], ["logits"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(query, "query"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axis12"),
        numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "zero"),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", FEATURES]),
        helper.make_tensor_value_info("x_length", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info("language", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info("text_norm", TensorProto.INT32, ["N"]),
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "U", vocab])
    graph = helper.make_graph(nodes, "tiny_sensevoice", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    metadata = {
        "vocab_size": vocab,
        "blank_id": 0,
        "lfr_window_size": 7,
        "lfr_window_shift": 6,
        "normalize_samples": 0,
        "with_itn": ids["<|withitn|>"],
        "without_itn": ids["<|woitn|>"],
        "lang_auto": 0,
        "lang_zh": ids["<|zh|>"],
        "lang_en": ids["<|en|>"],
        "lang_ja": 0,
        "lang_ko": 0,
        "lang_yue": 0,
        "neg_mean": ",".join(["0"] * FEATURES),
        "inv_stddev": ",".join(["1"] * FEATURES),
        "comment": "tiny test model with SenseVoice's interface (recognises nothing)",
    }
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "tokens.txt").write_text(
        "".join(f"{tok} {i}\n" for i, tok in enumerate(TOKENS)), encoding="utf-8"
    )
    return folder

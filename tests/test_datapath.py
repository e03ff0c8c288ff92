"""The hosts' data path: frames over real TCP on 127.0.0.1, errors, deadlines, lost hosts."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from orbitmesh.links.datapath import DataPathClient, DataPathServer, RemoteError


class _Satellites:
    """A stand-in host: echoes, refuses, or waits, and remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, float, float | None, float]] = []
        self.cancelled = 0

    async def serve(
        self, sid: str, request: bytes, deliver_at: float, time_remaining_s: float | None
    ) -> bytes:
        self.seen.append((sid, request, deliver_at, time_remaining_s, time.time()))
        if sid == "refusing":
            raise RemoteError(grpc.StatusCode.RESOURCE_EXHAUSTED, "battery low", "power")
        if sid == "broken":
            raise ZeroDivisionError("a bug")
        if sid == "slow":
            try:
                await asyncio.sleep(5.0)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return sid.encode() + b":" + request


async def _pair() -> tuple[_Satellites, DataPathServer, DataPathClient, str]:
    host = _Satellites()
    server = DataPathServer(host.serve)
    port = await server.start("127.0.0.1")
    return host, server, DataPathClient(), f"127.0.0.1:{port}"


def test_requests_reach_their_satellite_and_replies_come_back_in_any_order() -> None:
    async def main() -> None:
        host, server, client, address = await _pair()
        big = bytes(range(256)) * 40_000  # 10 MiB: split over many TCP reads
        replies = await asyncio.gather(
            client.call(address, "a", b"one"),
            client.call(address, "b", big),
            client.call(address, "c", b""),
        )
        assert list(replies) == [b"a:one", b"b:" + big, b"c:"]
        assert [s[0] for s in host.seen] == ["a", "b", "c"]
        await client.close()
        await server.stop()

    asyncio.run(main())


def test_refusals_carry_code_details_and_cause_and_bugs_are_internal() -> None:
    async def main() -> None:
        _host, server, client, address = await _pair()
        with pytest.raises(RemoteError) as refused:
            await client.call(address, "refusing", b"x")
        assert (refused.value.code, refused.value.details, refused.value.cause) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "battery low",
            "power",
        )
        with pytest.raises(RemoteError) as bug:
            await client.call(address, "broken", b"x")
        assert (bug.value.code, bug.value.cause) == (grpc.StatusCode.INTERNAL, "internal")
        assert bug.value.details == "internal error on the host of satellite broken (logged)"
        assert await client.call(address, "a", b"still") == b"a:still"
        await client.close()
        await server.stop()

    asyncio.run(main())


def test_deliver_at_and_deadline_travel_with_the_request() -> None:
    async def main() -> None:
        host, server, client, address = await _pair()
        at = time.time() + 0.25
        await client.call(address, "a", b"x", deliver_at=at, timeout_s=3.0)
        _sid, _req, deliver_at, remaining, _seen = host.seen[0]
        assert deliver_at == at  # exact: a double on the wire
        assert remaining is not None and 2.9 < remaining <= 3.0
        await client.call(address, "a", b"x")
        assert host.seen[1][2] == 0.0 and host.seen[1][3] is None
        await client.close()
        await server.stop()

    asyncio.run(main())


def test_a_deadline_cancels_the_call_on_the_far_side() -> None:
    async def main() -> None:
        host, server, client, address = await _pair()
        started = time.monotonic()
        with pytest.raises(RemoteError) as late:
            await client.call(address, "slow", b"x", timeout_s=0.2)
        assert late.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 1.0
        for _ in range(100):
            if host.cancelled:
                break
            await asyncio.sleep(0.01)
        assert host.cancelled == 1
        await client.close()
        await server.stop()

    asyncio.run(main())


def test_a_host_that_goes_away_fails_calls_unavailable_without_a_cause() -> None:
    async def main() -> None:
        _host, server, client, address = await _pair()
        pending = asyncio.ensure_future(client.call(address, "slow", b"x"))
        await asyncio.sleep(0.1)
        # As when the host's process ends: its sockets close under the calls.
        await server.stop()
        with pytest.raises(RemoteError) as lost:
            await pending
        assert lost.value.code is grpc.StatusCode.UNAVAILABLE and lost.value.cause is None
        with pytest.raises(RemoteError) as refused:
            await client.call(address, "a", b"x")
        assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        assert "cannot reach" in refused.value.details
        await client.close()

    asyncio.run(main())

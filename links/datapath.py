"""The data path between hosts: inference requests to satellites, one TCP connection per
pair of processes.

A gateway forwarding a request to a satellite, or a satellite forwarding a pipeline stage
to another, does not go through the satellite's public gRPC server: a gRPC call costs
about 0.3 ms of CPU in the caller and 0.45 ms in the callee here, more than the rest of
the satellite's work, and on a small machine that CPU is the emulation's error. Instead
every satellite host listens on one port for length-prefixed frames naming the
satellite, the instant the request reaches it in the model (so the transfer itself
overlaps the emulated uplink instead of adding to it) and the caller's deadline; the
satellite answers with the same serialized ``ModelInferResponse`` or the same status
code, details and cause its gRPC endpoint would (measured: 0.04 ms of CPU per round trip
on each side). The satellites' gRPC endpoints stay what users and stock clients call.

Frames (network byte order), after a ``u32`` length of the rest:

- request: ``u64 call id, u8 kind, f64 deliver at (Unix s, 0: now), f64 timeout (s, <0:
  none), u16 satellite id length``, the id (UTF-8), the serialized request;
- cancel: the same header with kind 2 and nothing after the id;
- reply: ``u64 call id, u8 status code (gRPC's number, 0 OK), u16 cause length, u32
  details length``, cause, details (UTF-8), the serialized response;
- auth: the request header with kind 3 and call id 0, the run's bearer token in place of
  the satellite id, nothing after it.

Secured (a run with a :class:`~orbitmesh.protos.serving.Security`, docs/security.md), the
connection is TLS with the run's certificate (and the caller's, where client certificates
are required), and its first frame must be the auth frame: anything else, or a wrong
token, is answered with a reply to call 0 (UNAUTHENTICATED) and the connection closed,
before any request is read. Unsecured, neither exists and the frames are as above.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Final

import grpc

from orbitmesh.protos.contract import Cause
from orbitmesh.protos.serving import Credentials, Security

__all__ = ["DataPathClient", "DataPathServer", "RemoteError", "Serve"]

_LENGTH: Final = struct.Struct("!I")
_REQUEST: Final = struct.Struct("!QBddH")
_REPLY: Final = struct.Struct("!QBHI")
_INFER, _CANCEL, _AUTH = 1, 2, 3
#: The call id of the auth frame and of the reply refusing it (requests count from 1).
_AUTH_CALL: Final = 0
#: Seconds a peer has to complete the TLS handshake.
_HANDSHAKE_TIMEOUT_S: Final = 10.0
#: A frame larger than this is a broken peer, not a request (requests are capped far
#: lower by the satellites' own message limit).
_MAX_FRAME_BYTES: Final = 1 << 30
_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}

_log = logging.getLogger(__name__)


class RemoteError(Exception):
    """A call that failed on the far side (or on the way): its gRPC status code, details
    and machine-readable cause (None when the far side gave none, e.g. it is gone)."""

    def __init__(self, code: grpc.StatusCode, details: str, cause: str | None = None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.cause = cause


#: What a satellite host does with one request: (satellite id, request bytes, deliver
#: at, seconds left before the caller's deadline or None) -> response bytes; raises
#: RemoteError.
Serve = Callable[[str, bytes, float, float | None], Awaitable[bytes]]


class _Frames:
    """Cuts a byte stream into length-prefixed frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > _MAX_FRAME_BYTES:
                raise ValueError(f"frame of {size:,} bytes")
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return frames


def _frame(*parts: bytes) -> bytes:
    return _LENGTH.pack(sum(len(p) for p in parts)) + b"".join(parts)


# --------------------------------------------------------------------------- server


class _ServerConnection(asyncio.Protocol):
    def __init__(
        self, serve: Serve, open_connections: set[_ServerConnection], token: bytes | None
    ) -> None:
        self._serve = serve
        self._open = open_connections
        #: The token the first frame must carry (None: no auth frame expected).
        self._token = token
        self._refused = False
        self._frames = _Frames()
        self._calls: dict[int, asyncio.Task[None]] = {}
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._open.add(self)
        if self._token is not None:  # a peer that never authenticates is not kept open
            asyncio.get_running_loop().call_later(_HANDSHAKE_TIMEOUT_S, self._unauthenticated)

    def _unauthenticated(self) -> None:
        if self._token is not None and not self._refused:
            self._refuse()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        try:
            frames = self._frames.feed(data)
        except ValueError:
            self.abort()
            return
        for frame in frames:
            if len(frame) < _REQUEST.size:  # not our peer: nothing to answer
                self.abort()
                return
            call_id, kind, deliver_at, timeout, sid_len = _REQUEST.unpack_from(frame)
            start = _REQUEST.size
            if self._token is not None:
                given = frame[start : start + sid_len]
                # Constant time: how much of a guess matched must not show in the timing.
                if kind != _AUTH or not hmac.compare_digest(given, self._token):
                    self._refuse()
                    return
                self._token = None  # authenticated: requests follow
                continue
            if kind == _CANCEL:
                task = self._calls.pop(call_id, None)
                if task is not None:
                    task.cancel()
                continue
            sid = frame[start : start + sid_len].decode("utf-8", "replace")
            payload = frame[start + sid_len :]
            task = asyncio.get_running_loop().create_task(
                self._answer(call_id, sid, payload, deliver_at, timeout if timeout >= 0 else None)
            )
            self._calls[call_id] = task

    async def _answer(
        self, call_id: int, sid: str, payload: bytes, deliver_at: float, timeout: float | None
    ) -> None:
        code, cause, details, body = 0, b"", b"", b""
        try:
            body = await self._serve(sid, payload, deliver_at, timeout)
        except RemoteError as error:
            code, cause = error.code.value[0], (error.cause or "").encode()
            details = error.details.encode()
        except asyncio.CancelledError:
            return  # the caller gave up (or went away): nobody to answer
        except Exception:  # a bug: logged here, answered with a cause, not silently
            _log.exception("data path: a request to satellite %s failed", sid)
            code, cause = grpc.StatusCode.INTERNAL.value[0], Cause.INTERNAL.value.encode()
            details = f"internal error on the host of satellite {sid} (logged)".encode()
        finally:
            self._calls.pop(call_id, None)
        if self._transport is not None and not self._transport.is_closing():
            header = _REPLY.pack(call_id, code, len(cause), len(details))
            self._transport.write(_frame(header, cause, details, body))

    def _refuse(self) -> None:
        """Answer a peer that did not authenticate first, and close."""
        self._refused = True
        if self._transport is None:
            return
        details = b"the data path answers only peers that send the run's token first"
        code = grpc.StatusCode.UNAUTHENTICATED.value[0]
        self._transport.write(_frame(_REPLY.pack(_AUTH_CALL, code, 0, len(details)), details))
        self._transport.close()  # after the reply is flushed

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._open.discard(self)
        for task in self._calls.values():
            task.cancel()
        self._calls.clear()


class DataPathServer:
    """A satellite host's data-path listener (TLS and the token first with a
    ``security``)."""

    def __init__(self, serve: Serve, security: Security | None = None) -> None:
        self._serve = serve
        self._security = security
        self._server: asyncio.Server | None = None
        self._connections: set[_ServerConnection] = set()
        self.port: int | None = None

    async def start(self, bind: str, port: int = 0) -> int:
        """Listen on ``port`` of ``bind`` (0: any free one); returns the port."""
        loop = asyncio.get_running_loop()
        security = self._security
        token = None if security is None else security.token.encode()
        self._server = await loop.create_server(
            lambda: _ServerConnection(self._serve, self._connections, token),
            bind,
            port,
            reuse_port=False,
            ssl=None if security is None else security.server_ssl_context(),
            ssl_handshake_timeout=None if security is None else _HANDSHAKE_TIMEOUT_S,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every connection: callers' calls in flight fail
        UNAVAILABLE, as they would if the host's process had ended."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.abort()


# --------------------------------------------------------------------------- client


class _ClientConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self._frames = _Frames()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._frames.feed(data)
        except ValueError:
            assert self.transport is not None
            self.transport.abort()
            return
        for frame in frames:
            call_id, code, cause_len, details_len = _REPLY.unpack_from(frame)
            if call_id == _AUTH_CALL:  # the host refused us: every call fails with its word
                details = frame[_REPLY.size + cause_len :][:details_len].decode("utf-8", "replace")
                self.fail_all(RemoteError(_CODES.get(code, grpc.StatusCode.INTERNAL), details))
                continue
            future = self.pending.pop(call_id, None)
            if future is None or future.done():
                continue  # cancelled meanwhile
            at = _REPLY.size
            if code == 0:
                future.set_result(frame[at + cause_len + details_len :])
                continue
            cause = frame[at : at + cause_len].decode("utf-8", "replace") or None
            details = frame[at + cause_len : at + cause_len + details_len].decode(
                "utf-8", "replace"
            )
            status = _CODES.get(code, grpc.StatusCode.INTERNAL)
            future.set_exception(RemoteError(status, details, cause))

    def fail_all(self, error: RemoteError) -> None:
        self.lost = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        reason = f"connection to the satellite host lost ({exc or 'closed'})"
        self.fail_all(RemoteError(grpc.StatusCode.UNAVAILABLE, reason))


class DataPathClient:
    """Calls satellites on their hosts' data paths; one per process, one connection per
    host address, opened on first use and again after it broke (TLS and the token first
    with ``credentials``)."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials
        self._ssl = None if credentials is None else credentials.ssl_context()
        self._connections: dict[str, _ClientConnection] = {}
        self._opening: dict[str, asyncio.Future[_ClientConnection]] = {}
        self._next_id = 0

    async def _connection(self, address: str) -> _ClientConnection:
        connection = self._connections.get(address)
        if connection is not None and not connection.lost:
            return connection
        opening = self._opening.get(address)
        if opening is not None:
            return await asyncio.shield(opening)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_ClientConnection] = loop.create_future()
        self._opening[address] = future
        host, _, port = address.rpartition(":")
        secure = self._ssl is not None
        try:
            _transport, connection = await loop.create_connection(
                _ClientConnection,
                host.strip("[]"),
                int(port),
                ssl=self._ssl,
                server_hostname=host.strip("[]") if secure else None,
                ssl_handshake_timeout=_HANDSHAKE_TIMEOUT_S if secure else None,
            )
        except OSError as exc:  # ssl.SSLError included: the host is not the run's
            error = RemoteError(grpc.StatusCode.UNAVAILABLE, f"cannot reach {address}: {exc}")
            future.set_exception(error)
            future.exception()  # retrieved: a later caller gets its own attempt
            raise error from None
        finally:
            self._opening.pop(address, None)
        if self._credentials is not None and connection.transport is not None:
            token = self._credentials.token.encode()
            header = _REQUEST.pack(_AUTH_CALL, _AUTH, 0.0, -1.0, len(token))
            connection.transport.write(_frame(header, token))  # before any request
        future.set_result(connection)
        self._connections[address] = connection
        return connection

    async def call(
        self,
        address: str,
        satellite_id: str,
        request: bytes,
        *,
        deliver_at: float = 0.0,
        timeout_s: float | None = None,
    ) -> bytes:
        """Send a serialized ModelInferRequest to ``satellite_id`` on the host at
        ``address``; it reaches the satellite at ``deliver_at`` (Unix seconds; 0: now).
        Raises RemoteError (DEADLINE_EXCEEDED once ``timeout_s`` passes)."""
        started = time.monotonic()
        connection = await self._connection(address)
        transport = connection.transport
        if transport is None:
            raise RemoteError(grpc.StatusCode.UNAVAILABLE, f"connection to {address} closed")
        self._next_id += 1
        call_id = self._next_id
        sid = satellite_id.encode()
        left = -1.0 if timeout_s is None else max(0.0, timeout_s - (time.monotonic() - started))
        header = _REQUEST.pack(call_id, _INFER, deliver_at, left, len(sid))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        connection.pending[call_id] = future
        transport.write(_frame(header, sid, request))
        try:
            if timeout_s is None:
                return await future
            return await asyncio.wait_for(future, timeout=max(0.0, left))
        except TimeoutError:
            self._cancel(connection, call_id)
            raise RemoteError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded") from None
        except asyncio.CancelledError:
            self._cancel(connection, call_id)
            raise

    @staticmethod
    def _cancel(connection: _ClientConnection, call_id: int) -> None:
        connection.pending.pop(call_id, None)
        if connection.transport is not None:
            header = _REQUEST.pack(call_id, _CANCEL, 0.0, -1.0, 0)
            connection.transport.write(_frame(header))

    async def close(self) -> None:
        for connection in self._connections.values():
            if connection.transport is not None:
                connection.transport.close()
        self._connections.clear()

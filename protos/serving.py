"""Serving gRPC the way every orbitmesh server does: its options and limits, one front
for all its handlers, where it publishes itself, a host's own small server, and
reflection that loads its machinery on the first reflection call.

``server_options``: gRPC's transport limit above the configured message limit (so that a
handler answers ``too-large`` with a cause), room for bursts of calls, a bound on streams
per connection. ``ServerGuard``: every handler of a server registered through it parses
its own request (malformed bytes: INVALID_ARGUMENT, ``invalid``), answers an unexpected
failure INTERNAL with ``internal`` (logged, never an exception's name), and is bounded:
unary calls in progress per server (``too-many-calls``), streams open per client and per
server and the messages they send per second (``too-many-streams``; docs/emulation.md,
"Limits"). ``advertised_address``: a server bound to a wildcard publishes this machine's
outward address. ``start_host_server``: the ``orbitmesh.v1.Host`` service of a host
process.

Security (docs/security.md): :class:`Security` is what a run's servers need to serve TLS
and answer only calls carrying its bearer token (the guard refuses the others
UNAUTHENTICATED before anything else), :func:`bind_port` binds a server with it or
without; :class:`Credentials` is what a client presents, :func:`channel_to` and
:func:`aio_channel_to` open a channel with them or without. Without a ``Security`` every
server is exactly what it was: plaintext, no check on any call.

Reflection:

grpc_reflection costs about 2 MiB per process at import; a hundred satellites pay that
for a service that is asked only when someone points grpcurl at one of them. The
handler is registered up front (so reflection always answers) and imports the real
servicer when a call arrives.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import os
import re
import secrets
import ssl
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

import grpc
from google.protobuf.message import DecodeError

from orbitmesh.protos.contract import Cause, abort_with_cause
from orbitmesh.protos.orbitmesh.v1 import host_pb2_grpc

__all__ = [
    "AUTHORIZATION_KEY",
    "BEARER_PREFIX",
    "DEFAULT_LIMITS",
    "MIN_TOKEN_CHARS",
    "REFLECTION_SERVICE",
    "TRANSPORT_LIMIT_FACTOR",
    "CallLimits",
    "Credentials",
    "LazyReflection",
    "Security",
    "ServerGuard",
    "advertised_address",
    "aio_channel_to",
    "bind_port",
    "channel_to",
    "client_of",
    "is_loopback",
    "new_token",
    "read_token",
    "server_options",
    "start_host_server",
    "token_problem",
    "write_token",
]

_log = logging.getLogger(__name__)

#: gRPC's transport refuses a message beyond this multiple of a server's configured
#: limit before any handler sees it (RESOURCE_EXHAUSTED without a cause, details
#: "Received message larger than max"); up to it, the handler reads the size and answers
#: ``too-large``. Above the limit rather than at it: the cause is what clients act on.
TRANSPORT_LIMIT_FACTOR: Final = 4


@dataclass(frozen=True)
class CallLimits:
    """What one server takes on at once (docs/emulation.md, "Limits").

    A client is an IP address: its connections and processes count together.
    """

    #: Unary calls in progress; the next is refused ``too-many-calls``.
    max_calls: int = 4096
    #: Streams open on the server, and from one client; the next is refused
    #: ``too-many-streams``.
    max_streams: int = 32
    max_streams_per_client: int = 8
    #: Messages per second sent on one stream, on one client's streams together and on
    #: all the server's streams together: a stream waits for the smallest share.
    stream_messages_per_s: float = 20.0
    client_messages_per_s: float = 40.0
    server_messages_per_s: float = 100.0
    #: Messages a stream may send at once (after a quiet spell) before the rates apply:
    #: a contact stream opens with a rise for every satellite in view.
    stream_burst: int = 16
    #: Calls gRPC holds for the server before its handlers take them; beyond this gRPC
    #: itself cancels new calls (CANCELLED, no cause). gRPC's own default (1,000 with
    #: random early refusals up to 3,000) cancelled part of a burst of 2,000 calls.
    max_waiting_calls: int = 16384
    #: HTTP/2 streams open at once on one connection; more wait in the client.
    max_streams_per_connection: int = 4096


DEFAULT_LIMITS: Final = CallLimits()


def server_options(
    max_message_bytes: int | None = None, limits: CallLimits = DEFAULT_LIMITS
) -> list[tuple[str, Any]]:
    """The options of every orbitmesh gRPC server: no port sharing (a second server on
    the same port would split the calls), the transport's message limit
    (:data:`TRANSPORT_LIMIT_FACTOR` times ``max_message_bytes``; gRPC's defaults without
    one), and room for bursts of calls (:class:`CallLimits`)."""
    options: list[tuple[str, Any]] = [
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", limits.max_waiting_calls),
        ("grpc.server.max_pending_requests_hard_limit", limits.max_waiting_calls),
        ("grpc.max_concurrent_streams", limits.max_streams_per_connection),
    ]
    if max_message_bytes is not None:
        transport = min(2**31 - 1, max_message_bytes * TRANSPORT_LIMIT_FACTOR)
        options += [
            ("grpc.max_receive_message_length", transport),
            ("grpc.max_send_message_length", transport),
        ]
    return options


def client_of(peer: str) -> str:
    """The client a call comes from: its peer without the port (``ipv4:10.0.0.7``), so
    that several connections from one machine count as one client."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return f"{kind}:{rest.rpartition(':')[0]}"
    return peer


# --------------------------------------------------------------------------- security

#: The call metadata key (and HTTP header) carrying the bearer token to secured servers:
#: ``authorization: Bearer <token>``, as gRPC's access-token credentials send it.
AUTHORIZATION_KEY: Final = "authorization"
BEARER_PREFIX: Final = "Bearer "
#: A token is RFC 6750's ``b64token`` (so it travels in a header as it is) and this long
#: at least: a short one could be guessed by a client that can try many calls.
MIN_TOKEN_CHARS: Final = 16
_TOKEN_PATTERN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a bearer token, or None when it can."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"the token has {len(token)} characters; use at least {MIN_TOKEN_CHARS}"
    if not _TOKEN_PATTERN.fullmatch(token):
        return "the token may hold only letters, digits and -._~+/ (and = at its end)"
    return None


def new_token() -> str:
    """A fresh random token (32 bytes from the OS's generator, URL-safe base64)."""
    return secrets.token_urlsafe(32)


def read_token(path: Path | str) -> str:
    """The token in a token file (surrounding whitespace ignored); ValueError says why
    the file does not hold one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {_reason(exc)}") from None
    token = text.strip()
    problem = token_problem(token)
    if problem is not None:
        raise ValueError(f"{path}: {problem}")
    return token


def write_token(path: Path | str, token: str) -> Path:
    """Write ``token`` to a new file at ``path`` that only its owner can read (0600),
    replacing any file there (a new file: an old one's mode is not inherited)."""
    target = Path(path)
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return target


def is_loopback(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only."""
    import ipaddress

    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _no_passphrase() -> bytes:
    """The passphrase given for a key: none (an encrypted key fails instead of making
    OpenSSL ask for one on the terminal; gRPC could not read it anyway)."""
    return b""


def _tls_context(purpose: int) -> ssl.SSLContext:
    """A context that trusts nothing until told: the system's CAs would let any
    certificate a public CA signed pass as one of the run's."""
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class Credentials:
    """What a client presents to secured orbitmesh servers: the CA certificates it trusts
    (``ca_file``), the bearer token, and its own certificate and key when the servers
    require client certificates. Files are named, not held: they are read when a channel
    or connection is opened (the token is held; it is never written anywhere else)."""

    ca_file: str
    token: str = field(repr=False)
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        problem = token_problem(self.token)
        if problem is not None:
            raise ValueError(f"token: {problem}")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file: give both or neither")

    @classmethod
    def from_files(
        cls,
        ca_file: str,
        token_file: str,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> Credentials:
        """Credentials with the token read from ``token_file``; ValueError says why not."""
        return cls(ca_file, read_token(token_file), cert_file, key_file)

    @property
    def authorization(self) -> str:
        """The ``authorization`` header's value."""
        return BEARER_PREFIX + self.token

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS to the run's servers (the token is added to each call by
        :func:`channel_to`'s interceptors)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file) if self.key_file else None,
            certificate_chain=_read(self.cert_file) if self.cert_file else None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A client's TLS context (the host-to-host data path, HTTPS): the server's
        certificate must chain to ``ca_file`` and name the address dialled."""
        context = _tls_context(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file, _no_passphrase)
        return context


@dataclass(frozen=True)
class Security:
    """TLS and a bearer token for every server of a run (docs/security.md).

    Each server proves itself with the certificate chain in ``cert_file`` and the key in
    ``key_file`` (read on the machine it runs on, when it starts) and answers only calls
    that carry ``token``; with ``client_ca_file`` it also demands a client certificate
    signed by one of those CAs. The run's own calls to its servers trust ``ca_file``
    (None: ``cert_file`` itself, right for a self-signed certificate or a chain up to its
    root) and, where client certificates are demanded, present ``cert_file`` as theirs.
    """

    cert_file: str
    key_file: str
    token: str = field(repr=False)
    ca_file: str | None = None
    client_ca_file: str | None = None

    def __post_init__(self) -> None:
        problem = token_problem(self.token)
        if problem is not None:
            raise ValueError(f"token: {problem}")

    def check(self, labels: Mapping[str, str] | None = None) -> None:
        """Read every file as the servers will; ValueError naming the first that does not
        serve (as ``labels`` names the field, e.g. by its command-line option)."""

        def fail(name: str, what: str) -> NoReturn:
            raise ValueError(f"{(labels or {}).get(name, name)}: {what}")

        for name in ("cert_file", "key_file", "ca_file", "client_ca_file"):
            path = getattr(self, name)
            if path is not None:
                try:
                    _read(path)
                except OSError as exc:
                    fail(name, f"cannot read {path}: {_reason(exc)}")
        for name in ("cert_file", "ca_file", "client_ca_file"):
            path = getattr(self, name)
            if path is not None:
                try:
                    _tls_context(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
                except ssl.SSLError:
                    fail(name, f"{path} holds no PEM certificate")
        try:
            _tls_context(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
                self.cert_file, self.key_file, _no_passphrase
            )
        except ssl.SSLError:
            fail(
                "key_file",
                f"{self.key_file} is not the PEM private key of {self.cert_file} "
                "(or it is encrypted)",
            )

    @property
    def authorization(self) -> str:
        """The ``authorization`` value every call must carry."""
        return BEARER_PREFIX + self.token

    def credentials(self) -> Credentials:
        """What the run's own processes present when they call its servers."""
        mutual = self.client_ca_file is not None
        return Credentials(
            ca_file=self.ca_file or self.cert_file,
            token=self.token,
            cert_file=self.cert_file if mutual else None,
            key_file=self.key_file if mutual else None,
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        client_ca = _read(self.client_ca_file) if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(_read(self.key_file), _read(self.cert_file))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server's TLS context (the host-to-host data path, the metrics endpoint)."""
        context = _tls_context(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file, _no_passphrase)
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=self.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def bind_port(server: grpc.aio.Server, address: str, security: Security | None) -> int:
    """Bind ``server`` to ``address`` (``host:port``), with TLS when ``security`` is
    given, plaintext otherwise; the port bound (0: none)."""
    if security is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, security.server_credentials()))


# The token goes into each call's metadata by an interceptor rather than by gRPC's
# access-token call credentials: those run a Python plugin on a thread of its own for
# every call, measured here to double a TLS call's round trip (0.5 -> 1.0 ms); the
# interceptor's cost did not show above the noise.


# grpc has no type stubs (its classes are Any to mypy): hence the ignores below.
class _Bearer(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds the token to every call of a blocking channel."""

    def __init__(self, authorization: str) -> None:
        self._pair = (AUTHORIZATION_KEY, authorization)

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), self._pair))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


class _AioBearer:
    """Adds the bearer token to a call's metadata. grpc.aio files each interceptor under
    one kind of call only, so each kind below is a class of its own."""

    def __init__(self, pair: tuple[str, str]) -> None:
        self._pair = pair

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=grpc.aio.Metadata(*(details.metadata or ()), self._pair))


class _AioBearerUnaryUnary(_AioBearer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AioBearerUnaryStream(_AioBearer, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AioBearerStreamUnary(_AioBearer, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _AioBearerStreamStream(_AioBearer, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def channel_to(
    address: str, credentials: Credentials | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """A blocking channel to one of the run's servers: TLS and the token on every call
    with ``credentials``, plaintext without."""
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    channel = grpc.secure_channel(address, credentials.channel_credentials(), options=options)
    return grpc.intercept_channel(channel, _Bearer(credentials.authorization))


def aio_channel_to(
    address: str, credentials: Credentials | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """The asyncio twin of :func:`channel_to` (open it on the loop that uses it)."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    pair = (AUTHORIZATION_KEY, credentials.authorization)
    interceptors: list[grpc.aio.ClientInterceptor] = [
        _AioBearerUnaryUnary(pair),
        _AioBearerUnaryStream(pair),
        _AioBearerStreamUnary(pair),
        _AioBearerStreamStream(pair),
    ]
    return grpc.aio.secure_channel(
        address, credentials.channel_credentials(), options=options, interceptors=interceptors
    )


class _Malformed(Exception):
    """A request's bytes that do not parse (answered INVALID_ARGUMENT)."""


class _Pacer:
    """A token bucket for one stream: its rate is re-read at each message, so a stream
    slows as more streams open on its client or server."""

    def __init__(self, guard: ServerGuard, client: str) -> None:
        self._guard = guard
        self._client = client
        self._tokens = float(guard.limits.stream_burst)
        self._last = time.monotonic()

    async def take(self) -> None:
        burst = self._guard.limits.stream_burst
        while True:
            now = time.monotonic()
            rate = self._guard.stream_rate(self._client)
            self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / rate)


async def _settled(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


class ServerGuard:
    """One front for every handler of one gRPC server (see the module's docstring).

    Register through it: generated code as ``add_XServicer_to_server(servicer, guard)``
    (it offers the two registration calls that code makes), hand-built handlers with
    :meth:`add_service`. ``on_refused(method, cause)`` hears of every call the guard
    refuses before its handler runs (a gateway counts its refused ModelInfer calls).
    With a ``token``, a call without ``authorization: Bearer <token>`` is refused
    UNAUTHENTICATED before anything else (not counted by ``on_refused``: it is not a call
    of the emulation's, only one in ``unauthenticated``).
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        limits: CallLimits = DEFAULT_LIMITS,
        *,
        on_refused: Callable[[str, Cause], None] | None = None,
        token: str | None = None,
    ) -> None:
        self._server = server
        self.limits = limits
        self._on_refused = on_refused
        self._authorization = None if token is None else (BEARER_PREFIX + token).encode()
        #: Calls refused for want of the token.
        self.unauthenticated = 0
        #: Unary calls in progress, streams open (all, and by client).
        self.calls = 0
        self.streams = 0
        self.client_streams: Counter[str] = Counter()
        #: Calls refused or failed by the guard itself, by cause.
        self.refused: Counter[str] = Counter()

    # ------------------------------------------------------------------ registration

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_GuardedGeneric(self, h) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        # Generated code registers its methods twice, generic and registered; the generic
        # handler serves them all. Registered methods cost every server memory (a
        # satellite host of 300 measured 93.5 KiB per satellite with them, 36.7 without)
        # for a lookup the guard's per-method cache already makes a dict hit.
        return

    def add_service(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        """Serve hand-built method handlers (method name -> handler) as ``service``."""
        wrapped = self._wrapped(service, handlers)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, wrapped),)
        )

    def _wrapped(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> dict[str, grpc.RpcMethodHandler]:
        return {name: self.wrap(f"/{service}/{name}", h) for name, h in handlers.items()}

    # ------------------------------------------------------------------ the front

    def stream_rate(self, client: str) -> float:
        """Messages per second one stream of ``client`` may send now."""
        limits = self.limits
        return min(
            limits.stream_messages_per_s,
            limits.client_messages_per_s / max(1, self.client_streams[client]),
            limits.server_messages_per_s / max(1, self.streams),
        )

    async def _authenticate(self, context: Any) -> None:
        """Refuse a call that does not carry this server's bearer token."""
        expected = self._authorization
        assert expected is not None
        for key, value in context.invocation_metadata() or ():
            if key == AUTHORIZATION_KEY:
                given = value if isinstance(value, bytes) else str(value).encode()
                # Constant time: how much of a guess matched must not show in the timing.
                if hmac.compare_digest(given, expected):
                    return
                break
        self.unauthenticated += 1
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            f"this server answers only calls with '{AUTHORIZATION_KEY}: {BEARER_PREFIX}<token>' "
            "(the run's token; docs/security.md)",
        )

    async def _refuse(self, method: str, context: Any, cause: Cause, message: str) -> NoReturn:
        self.refused[cause.value] += 1
        if self._on_refused is not None:
            self._on_refused(method, cause)
        await abort_with_cause(context, cause, message)

    async def _admit_call(self, method: str, context: Any) -> None:
        if self.calls >= self.limits.max_calls:
            await self._refuse(
                method,
                context,
                Cause.TOO_MANY_CALLS,
                f"this server has {self.calls:,} calls in progress, its most; try again later",
            )

    async def _admit_stream(self, method: str, context: Any) -> Callable[[], None]:
        """Take a stream slot for the call (refused beyond the bounds); returns what
        gives it back, once, whichever way the stream ends."""
        client = client_of(context.peer())
        limits = self.limits
        if self.client_streams[client] >= limits.max_streams_per_client:
            await self._refuse(
                method,
                context,
                Cause.TOO_MANY_STREAMS,
                f"{client} has {limits.max_streams_per_client} streams open on this server, "
                "the most one client may",
            )
        if self.streams >= limits.max_streams:
            await self._refuse(
                method,
                context,
                Cause.TOO_MANY_STREAMS,
                f"this server has {limits.max_streams} streams open, its most",
            )
        self.streams += 1
        self.client_streams[client] += 1
        held = True

        def release(*_: Any) -> None:
            nonlocal held
            if held:
                held = False
                self.streams -= 1
                self.client_streams[client] -= 1
                if not self.client_streams[client]:
                    del self.client_streams[client]

        context.add_done_callback(release)
        return release

    async def _parsed(
        self, method: str, parse: Callable[[bytes], Any], data: bytes, context: Any
    ) -> Any:
        try:
            return parse(data)
        except Exception as exc:
            # DecodeError's text says which message and what broke; others say nothing
            # a client can use.
            what = f": {exc}" if isinstance(exc, DecodeError) else ""
            await self._refuse(method, context, Cause.INVALID, f"malformed request{what}")

    async def _failed(self, method: str, context: Any) -> None:
        """An exception nobody answered: logged here, answered INTERNAL with a cause
        (NotImplementedError, a generated servicer's method nobody wrote: UNIMPLEMENTED)."""
        if context.done():  # the call is over (cancelled, or answered): nobody to tell
            return
        if isinstance(sys.exc_info()[1], NotImplementedError):
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
        _log.exception("unexpected failure in %s", method)
        self.refused[Cause.INTERNAL.value] += 1
        await abort_with_cause(
            context, Cause.INTERNAL, f"internal error in {method} (the server logged it)"
        )

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` behind the front: it receives the raw bytes and parses them itself."""
        parse: Callable[[bytes], Any] = handler.request_deserializer or _same
        serialize = handler.response_serializer
        if handler.request_streaming:
            return self._wrap_client_streaming(method, handler, parse, serialize)
        if handler.response_streaming:
            inner_stream = handler.unary_stream

            async def unary_stream(data: bytes, context: Any) -> AsyncIterator[Any]:
                if self._authorization is not None:
                    await self._authenticate(context)
                release = await self._admit_stream(method, context)
                try:
                    request = await self._parsed(method, parse, data, context)
                    async for message in self._paced(inner_stream(request, context), context):
                        yield message
                except grpc.aio.AbortError:
                    raise
                except Exception:
                    await self._failed(method, context)
                finally:
                    release()

            return grpc.unary_stream_rpc_method_handler(unary_stream, response_serializer=serialize)
        inner = handler.unary_unary

        async def unary_unary(data: bytes, context: Any) -> Any:
            if self._authorization is not None:
                await self._authenticate(context)
            await self._admit_call(method, context)
            self.calls += 1
            try:
                request = await self._parsed(method, parse, data, context)
                return await _settled(inner(request, context))
            except grpc.aio.AbortError:
                raise
            except Exception:
                await self._failed(method, context)
            finally:
                self.calls -= 1

        return grpc.unary_unary_rpc_method_handler(unary_unary, response_serializer=serialize)

    def _wrap_client_streaming(
        self,
        method: str,
        handler: grpc.RpcMethodHandler,
        parse: Callable[[bytes], Any],
        serialize: Any,
    ) -> grpc.RpcMethodHandler:
        def parsed(requests: AsyncIterator[bytes]) -> AsyncIterator[Any]:
            async def each() -> AsyncIterator[Any]:
                async for data in requests:
                    try:
                        yield parse(data)
                    except Exception as exc:
                        raise _Malformed(str(exc) if isinstance(exc, DecodeError) else "") from exc

            return each()

        async def answered(failure: Exception, context: Any) -> None:
            if isinstance(failure, _Malformed):
                what = f": {failure}" if str(failure) else ""
                await self._refuse(method, context, Cause.INVALID, f"malformed request{what}")
            await self._failed(method, context)

        if handler.response_streaming:
            inner_stream = handler.stream_stream

            async def stream_stream(
                requests: AsyncIterator[bytes], context: Any
            ) -> AsyncIterator[Any]:
                if self._authorization is not None:
                    await self._authenticate(context)
                release = await self._admit_stream(method, context)
                try:
                    async for message in self._paced(
                        inner_stream(parsed(requests), context), context
                    ):
                        yield message
                except grpc.aio.AbortError:
                    raise
                except Exception as failure:
                    await answered(failure, context)
                finally:
                    release()

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, response_serializer=serialize
            )
        inner = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[bytes], context: Any) -> Any:
            if self._authorization is not None:
                await self._authenticate(context)
            release = await self._admit_stream(method, context)
            try:
                return await _settled(inner(parsed(requests), context))
            except grpc.aio.AbortError:
                raise
            except Exception as failure:
                await answered(failure, context)
            finally:
                release()

        return grpc.stream_unary_rpc_method_handler(stream_unary, response_serializer=serialize)

    async def _paced(self, result: Any, context: Any) -> AsyncIterator[Any]:
        """The messages of a streaming handler, each taken only when the stream's share of
        the rates allows. A handler that writes through ``context.write`` instead of
        yielding is awaited (bounded in number, not paced)."""
        if not hasattr(result, "__aiter__"):
            await _settled(result)
            return
        pacer = _Pacer(self, client_of(context.peer()))
        iterator = aiter(result)
        try:
            while True:
                await pacer.take()
                try:
                    message = await anext(iterator)
                except StopAsyncIteration:
                    return
                yield message
        finally:
            close: Callable[[], Awaitable[None]] | None = getattr(iterator, "aclose", None)
            if close is not None:
                await close()


class _GuardedGeneric:
    """A generic handler's methods behind a guard (wrapped once per method)."""

    def __init__(self, guard: ServerGuard, inner: grpc.GenericRpcHandler) -> None:
        self._guard = guard
        self._inner = inner
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            found = self._inner.service(handler_call_details)
            if found is None:  # not cached: a client may try any number of names
                return None
            wrapped = self._wrapped[method] = self._guard.wrap(method, found)
        return wrapped


def _same(data: bytes) -> bytes:
    return data


REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"


class _OursThenDefault:
    """Descriptor lookups in orbitmesh's pool (our services: protos/pool.py says why it is
    not the default one), then in protobuf's default pool (health, reflection itself)."""

    def __getattr__(self, name: str) -> Any:
        from google.protobuf import descriptor_pool

        from orbitmesh.protos.pool import POOL

        ours, default = getattr(POOL, name), getattr(descriptor_pool.Default(), name)

        def find(*args: Any) -> Any:
            try:
                return ours(*args)
            except KeyError:
                return default(*args)

        return find


class LazyReflection:
    def __init__(self, service_names: Sequence[str]) -> None:
        self.service_names = (*service_names, REFLECTION_SERVICE)
        self._servicer: Any = None

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """The service's method handlers, for :meth:`ServerGuard.add_service`."""
        # No (de)serializers: the handler sees raw bytes, so nothing is imported yet.
        return {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(self._info)}

    async def _info(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        from grpc_reflection.v1alpha import reflection_pb2
        from grpc_reflection.v1alpha.reflection import aio

        if self._servicer is None:
            self._servicer = aio.ReflectionServicer(self.service_names, pool=_OursThenDefault())

        async def parsed() -> AsyncIterator[Any]:
            async for raw in requests:
                try:
                    yield reflection_pb2.ServerReflectionRequest.FromString(raw)
                except DecodeError as exc:
                    raise _Malformed(str(exc)) from None

        async for response in self._servicer.ServerReflectionInfo(parsed(), context):
            yield response.SerializeToString()


async def start_host_server(
    servicer: Any, bind: str, port: int = 0, security: Security | None = None
) -> tuple[Any, str]:
    """A host's own small server (``orbitmesh.v1.Host``, behind a :class:`ServerGuard`),
    on ``port`` of ``bind`` (0: any free one), secured by ``security`` when given;
    returns the server and its published address."""
    server = grpc.aio.server(options=server_options())
    token = None if security is None else security.token
    host_pb2_grpc.add_HostServicer_to_server(servicer, ServerGuard(server, token=token))
    bound = bind_port(server, f"{bind}:{port}", security)
    if bound == 0:
        raise OSError(f"cannot bind {bind}:{port}")
    port = bound
    await server.start()
    return server, advertised_address(bind, port)


def advertised_address(host: str, port: int) -> str:
    """The address others should dial for a server bound to ``host:port``: a wildcard
    bind is published as this machine's outward address, so that clients on other
    machines of a cluster can reach it."""
    return f"{_local_ip() if host in ('0.0.0.0', '::', '[::]') else host}:{port}"


def _local_ip() -> str:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"

"""TLS and a bearer token on every server of a secured run (docs/security.md).

Real servers in this process (no Ray): two satellites on a satellite host, a gateway on a
gateway host, both hosts' own services, the host-to-host data path and the metrics
endpoint, with a certificate authority, certificates and keys made for the test by
``openssl``. What a client without the token, with a wrong one, without TLS or without a
required client certificate gets is checked against what each protocol says it must get
(UNAUTHENTICATED, a failed handshake, HTTP 401), and a client with the CA and the token
gets real answers: an inference travels the whole secured path (client -> gateway -> data
path -> satellite). Then ``orbitmesh up``'s refusals, which start nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from conftest import ORBITMESH, orbitmesh_up

from orbitmesh.clock import SimClock
from orbitmesh.ground.client import Client
from orbitmesh.ground.endpoints import Endpoints, EndpointSecurity, load_endpoints
from orbitmesh.ground.errors import EndpointsError
from orbitmesh.ground.gateway import GatewayConfig, GatewayServer
from orbitmesh.ground.host import GatewayHost, GatewayHostConfig
from orbitmesh.ground.load.loadgen import LoadOptions, build_request, run_load
from orbitmesh.links.datapath import DataPathClient, DataPathServer, RemoteError
from orbitmesh.links.fleet import FleetStatus, SatelliteInfo
from orbitmesh.links.linkstate import StationLinks, TickLinks, Topology
from orbitmesh.links.model import LinkParams
from orbitmesh.node.host import HostConfig, SatelliteHost
from orbitmesh.node.server import NodeConfig
from orbitmesh.orchestrator import GeometryEngine, load_scenario
from orbitmesh.orchestrator.cli import main
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.orchestrator.live import collect_status
from orbitmesh.orchestrator.metrics import serve_metrics
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.orbitmesh.v1 import host_pb2, satellite_pb2
from orbitmesh.protos.serving import (
    Credentials,
    Security,
    channel_to,
    is_loopback,
    new_token,
    read_token,
    token_problem,
    write_token,
)

T = TypeVar("T")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

INFERENCE = "/inference.GRPCInferenceService"
SATELLITE_STATUS = "/orbitmesh.v1.Satellite/Status"
HOST_MEMBERS = "/orbitmesh.v1.Host/Members"
HEALTH = "/grpc.health.v1.Health/Check"


# --------------------------------------------------------------------------- certificates


@dataclasses.dataclass(frozen=True)
class Pki:
    """A CA and the server certificate it signed (for 127.0.0.1 and localhost), a second
    CA for clients and a client certificate it signed, and a client certificate signed
    by a CA nobody trusts."""

    ca: str
    server_cert: str
    server_key: str
    client_ca: str
    client_cert: str
    client_key: str
    stranger_cert: str
    stranger_key: str
    token: str
    token_file: str

    def security(self, *, client_ca: str | None = None) -> Security:
        return Security(
            self.server_cert, self.server_key, self.token, ca_file=self.ca, client_ca_file=client_ca
        )

    def credentials(self, *, token: str | None = None, client: str | None = None) -> Credentials:
        cert, key = {
            None: (None, None),
            "client": (self.client_cert, self.client_key),
            "stranger": (self.stranger_cert, self.stranger_key),
        }[client]
        return Credentials(self.ca, token or self.token, cert, key)


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _key_and_csr(folder: Path, name: str) -> None:
    _openssl(
        folder,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}"),
    )


def _ca(folder: Path, name: str) -> None:
    _openssl(
        folder,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign"),
    )


def _leaf(folder: Path, name: str, ca: str, extensions: str, serial: int) -> None:
    _key_and_csr(folder, name)
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(
        folder,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key"),
        *("-set_serial", str(serial), "-days", "2", "-out", f"{name}.pem"),
        *("-extfile", f"{name}.ext"),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    _ca(folder, "ca")
    _leaf(
        folder,
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        # Also a client's: the run's own processes present it where client certificates
        # are required.
        "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
        1,
    )
    _ca(folder, "client-ca")
    _leaf(folder, "client", "client-ca", "extendedKeyUsage=clientAuth\n", 2)
    _ca(folder, "stranger-ca")
    _leaf(folder, "stranger", "stranger-ca", "extendedKeyUsage=clientAuth\n", 3)
    token = new_token()
    token_file = write_token(folder / "token", token)
    return Pki(
        ca=str(folder / "ca.pem"),
        server_cert=str(folder / "server.pem"),
        server_key=str(folder / "server.key"),
        client_ca=str(folder / "client-ca.pem"),
        client_cert=str(folder / "client.pem"),
        client_key=str(folder / "client.key"),
        stranger_cert=str(folder / "stranger.pem"),
        stranger_key=str(folder / "stranger.key"),
        token=token,
        token_file=str(token_file),
    )


# --------------------------------------------------------------------------- the rig


def _tick(*, ground: bool) -> TickLinks:
    """Station 0 sees satellite 0 (2 ms); satellites 0 and 1 share a laser link."""
    f = np.array([2.0], dtype=np.float64)
    i = np.array([0], dtype=np.int32)
    links = StationLinks(i, i, np.array([60.0]), np.array([10.0]), np.array([600.0]), f)
    return TickLinks(
        0, 0.0, 1e9, i, np.array([1], np.int32), f, links if ground else StationLinks.empty()
    )


class Rig:
    """Secured hosts on an event loop of their own (a thread)."""

    def __init__(self, configs: list[NodeConfig], security: Security) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        configs = [dataclasses.replace(c, security=security) for c in configs]
        sids = [c.satellite_id for c in configs]
        self.sids = sids
        topology = Topology(tuple(sids), ("st",), np.arange(len(sids), dtype=np.intp), 1e3, 1e3)
        threshold = gc.get_threshold()  # the hosts tune the collector; this is pytest's
        self.sat_host = SatelliteHost(HostConfig("sats", tuple(configs), topology))
        self.satellites = self.run(self.sat_host.start())
        gateway = GatewayConfig(
            "st", 50.0, 8.0, 100.0, 10.0, configs[0].clock, LinkParams(), security=security
        )
        self.gw_host = GatewayHost(GatewayHostConfig("gws", (gateway,), topology))
        self.station = self.run(self.gw_host.start())["st"]
        gc.set_threshold(*threshold)
        gc.unfreeze()
        fleet = FleetStatus.from_infos(
            [
                SatelliteInfo(
                    sid,
                    self.satellites[sid],
                    self.sat_host.datapath_address or "",
                    tuple(self.sat_host.members[sid].model_names),
                )
                for sid in sids
            ]
        )
        self.sat_host.publish([_tick(ground=False)])
        self.gw_host.publish([_tick(ground=True)])
        self.sat_host.update_fleet(fleet)
        self.gw_host.update_fleet(fleet)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    @property
    def satellite(self) -> str:
        return self.satellites[self.sids[0]]

    def endpoints(self, security: EndpointSecurity | None = None) -> dict[str, Any]:
        """The endpoints document ``up`` would write."""
        return {
            "ground_stations": {"st": self.station},
            "satellites": dict(self.satellites),
            "hosts": {
                "sats": {"address": self.sat_host.address, "satellites": list(self.sids)},
                "gws": {"address": self.gw_host.address, "stations": ["st"]},
            },
            **({} if security is None else {"security": security.to_json()}),
        }

    def close(self) -> None:
        self.run(self.gw_host.stop(0))
        self.run(self.sat_host.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def configs() -> list[NodeConfig]:
    engine = GeometryEngine(load_scenario("demo"))
    clock = SimClock.starting_now(engine.start, 1.0)
    chosen = list(engine.catalog.compute_indices)[:2]
    return node_configs(engine, clock, satellites=chosen, duration_s=900.0)


@pytest.fixture(scope="module")
def rig(configs: list[NodeConfig], pki: Pki) -> Iterator[Rig]:
    rig = Rig(configs, pki.security())
    yield rig
    rig.close()


def digits(n: int = 1) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(
        model_name="digits",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[n, 64])
        ],
        raw_input_contents=[np.zeros((n, 64), np.float32).tobytes()],
    )


def _code(channel: grpc.Channel, method: str, data: bytes = b"") -> grpc.StatusCode:
    """The status a raw call ends with (OK when it is answered)."""
    try:
        channel.unary_unary(method)(data, timeout=10.0)
    except grpc.RpcError as err:
        code: grpc.StatusCode = err.code()
        return code
    return grpc.StatusCode.OK


def _calls(rig: Rig) -> list[tuple[str, str, bytes]]:
    """One call to every server of the rig: (address, method, request)."""
    live = pb.ServerLiveRequest().SerializeToString()
    return [
        (rig.station, f"{INFERENCE}/ServerLive", live),
        (rig.station, f"{INFERENCE}/ModelInfer", digits().SerializeToString()),
        (rig.station, HEALTH, b""),
        (rig.satellite, f"{INFERENCE}/ServerLive", live),
        (rig.satellite, SATELLITE_STATUS, satellite_pb2.StatusRequest().SerializeToString()),
        (rig.sat_host.address or "", HOST_MEMBERS, host_pb2.MembersRequest().SerializeToString()),
        (rig.gw_host.address or "", HOST_MEMBERS, host_pb2.MembersRequest().SerializeToString()),
    ]


# --------------------------------------------------------------------------- gRPC servers


def test_every_server_answers_with_the_ca_and_the_token(rig: Rig, pki: Pki) -> None:
    for address, method, data in _calls(rig):
        with channel_to(address, pki.credentials()) as channel:
            assert _code(channel, method, data) is grpc.StatusCode.OK, (address, method)


def test_a_call_without_the_token_is_unauthenticated(rig: Rig, pki: Pki) -> None:
    tls_only = grpc.ssl_channel_credentials(Path(pki.ca).read_bytes())
    before = rig.gw_host.members["st"].stats.requests
    for address, method, data in _calls(rig):
        with grpc.secure_channel(address, tls_only) as channel:
            assert _code(channel, method, data) is grpc.StatusCode.UNAUTHENTICATED, method
    # Refused before the gateway saw a request of the emulation's.
    assert rig.gw_host.members["st"].stats.requests == before


def test_a_wrong_token_is_unauthenticated(rig: Rig, pki: Pki) -> None:
    wrong = pki.credentials(token=new_token())
    # The right token with one more character is wrong too (no prefix match).
    longer = pki.credentials(token=pki.token + "A")
    for credentials in (wrong, longer):
        for address, method, data in _calls(rig):
            with channel_to(address, credentials) as channel:
                assert _code(channel, method, data) is grpc.StatusCode.UNAUTHENTICATED, method


def test_plaintext_to_a_tls_port_fails(rig: Rig) -> None:
    for address, method, data in _calls(rig):
        with grpc.insecure_channel(address) as channel:
            # The server speaks TLS first: a plaintext HTTP/2 preface is no handshake.
            assert _code(channel, method, data) is grpc.StatusCode.UNAVAILABLE, method


def test_a_server_certificate_the_client_does_not_trust_fails(rig: Rig, pki: Pki) -> None:
    # A client trusting only another CA cannot verify the server: no call is made.
    mistrust = Credentials(pki.client_ca, pki.token)
    with channel_to(rig.station, mistrust) as channel:
        assert _code(channel, f"{INFERENCE}/ServerLive") is grpc.StatusCode.UNAVAILABLE


def test_an_inference_crosses_the_secured_path(rig: Rig, pki: Pki) -> None:
    # Client -> gateway (TLS + token) -> data path (TLS + token) -> satellite host.
    with Client.connect({"st": rig.station}, credentials=pki.credentials()) as client:
        result = client.infer("st", "digits", np.zeros((1, 64), np.float32))
    assert result.satellite == rig.sids[0]
    assert result["label"].shape == (1,)


def test_clients_follow_the_endpoints_file(rig: Rig, pki: Pki, tmp_path: Path) -> None:
    security = EndpointSecurity(ca_file=pki.ca, token_file=pki.token_file)
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(rig.endpoints(security)))
    endpoints = load_endpoints(path)
    assert endpoints.security == security
    assert endpoints.to_json()["security"] == {"ca_file": pki.ca, "token_file": pki.token_file}
    assert pki.token not in path.read_text()  # files are named, the token is not written
    with Client.from_endpoints(path) as client:
        assert client.server_live("st")
    # `orbitmesh status` reads the hosts with the endpoints' credentials, and without
    # them finds everything down.
    doc = rig.endpoints()
    status = collect_status(doc, credentials=endpoints.credentials())
    assert [s["up"] for s in status["stations"]] == [True]
    assert all(s["up"] for s in status["satellites"]) and len(status["satellites"]) == 2
    refused = collect_status(doc)
    assert not any(s["up"] for s in (*refused["stations"], *refused["satellites"]))


def test_the_load_generator_follows_the_credentials(rig: Rig, pki: Pki) -> None:
    options = LoadOptions(model="digits", stations=("st",), concurrency=1, duration_s=0.3)
    payload = build_request("digits", {"input": np.zeros((1, 64), np.float32)}, {"input": "FP32"})

    def go(credentials: Credentials | None) -> list[str]:
        run = asyncio.run(
            run_load(options, {"st": rig.station}, {"st": payload}, credentials=credentials)
        )
        return [r.outcome for r in run.records if r.outcome != "cancelled"]

    outcomes = go(pki.credentials())
    assert outcomes and set(outcomes) == {"ok"}
    # Plaintext against the TLS port: every request fails, none is served.
    assert "ok" not in go(None)


def test_an_unreadable_token_file_is_an_endpoints_error(pki: Pki, tmp_path: Path) -> None:
    endpoints = Endpoints(
        ground_stations={"st": "127.0.0.1:1"},
        security=EndpointSecurity(ca_file=pki.ca, token_file=str(tmp_path / "missing")),
    )
    with pytest.raises(EndpointsError, match="missing"):
        endpoints.credentials()
    with pytest.raises(EndpointsError, match="missing"):
        Client(endpoints)


# --------------------------------------------------------------------------- client certs


@pytest.fixture
def mutual_gateway(configs: list[NodeConfig], pki: Pki) -> Iterator[str]:
    """A gateway alone that requires client certificates from the client CA, or the
    server's own CA (its own processes present the server's certificate)."""
    bundle = Path(pki.ca).with_name("clients.pem")
    bundle.write_bytes(Path(pki.client_ca).read_bytes() + Path(pki.ca).read_bytes())
    security = pki.security(client_ca=str(bundle))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    config = GatewayConfig(
        "st", 50.0, 8.0, 100.0, 10.0, configs[0].clock, LinkParams(), security=security
    )
    gateway = GatewayServer(config)
    # Its start measures its own round trip through itself: with the server's certificate
    # as its client certificate, and the token.
    address = asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(60.0)
    assert gateway.rpc_credit_s > 0
    yield address
    asyncio.run_coroutine_threadsafe(gateway.stop(0), loop).result(60.0)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_client_certificates_are_required_with_a_client_ca(mutual_gateway: str, pki: Pki) -> None:
    address = mutual_gateway
    live = f"{INFERENCE}/ServerLive"
    with channel_to(address, pki.credentials(client="client")) as channel:
        assert _code(channel, live) is grpc.StatusCode.OK
    # No certificate, or one from a CA the server does not trust: no handshake.
    for refused in (pki.credentials(), pki.credentials(client="stranger")):
        with channel_to(address, refused) as channel:
            assert _code(channel, live) is grpc.StatusCode.UNAVAILABLE
    # A trusted certificate does not stand in for the token.
    with channel_to(address, pki.credentials(client="client", token=new_token())) as channel:
        assert _code(channel, live) is grpc.StatusCode.UNAUTHENTICATED


# --------------------------------------------------------------------------- data path


async def _echo(satellite_id: str, request: bytes, deliver_at: float, left: float | None) -> bytes:
    return satellite_id.encode() + b":" + request


def _datapath_call(security: Security, credentials: Credentials | None) -> bytes | RemoteError:
    """One call to a secured data path; the reply or the error."""

    async def go() -> bytes | RemoteError:
        server = DataPathServer(_echo, security)
        port = await server.start("127.0.0.1")
        client = DataPathClient(credentials)
        try:
            return await client.call(f"127.0.0.1:{port}", "sat-7", b"ping", timeout_s=10.0)
        except RemoteError as error:
            return error
        finally:
            await client.close()
            await server.stop()

    return asyncio.run(go())


def test_the_data_path_refuses_unauthenticated_peers(pki: Pki) -> None:
    security = pki.security()
    assert _datapath_call(security, pki.credentials()) == b"sat-7:ping"
    wrong = _datapath_call(security, pki.credentials(token=new_token()))
    assert isinstance(wrong, RemoteError) and wrong.code is grpc.StatusCode.UNAUTHENTICATED
    # Plaintext frames are no TLS handshake: the connection ends, the call fails.
    plain = _datapath_call(security, None)
    assert isinstance(plain, RemoteError) and plain.code is grpc.StatusCode.UNAVAILABLE


def test_the_data_path_requires_client_certificates_with_a_client_ca(pki: Pki) -> None:
    security = pki.security(client_ca=pki.client_ca)
    assert _datapath_call(security, pki.credentials(client="client")) == b"sat-7:ping"
    for refused in (pki.credentials(), pki.credentials(client="stranger")):
        failed = _datapath_call(security, refused)
        assert isinstance(failed, RemoteError), failed
        assert failed.code is grpc.StatusCode.UNAVAILABLE


def test_an_unsecured_data_path_is_unchanged() -> None:
    async def go() -> bytes:
        server = DataPathServer(_echo)
        port = await server.start("127.0.0.1")
        client = DataPathClient()
        try:
            return await client.call(f"127.0.0.1:{port}", "sat-7", b"ping", timeout_s=10.0)
        finally:
            await client.close()
            await server.stop()

    assert asyncio.run(go()) == b"sat-7:ping"


# --------------------------------------------------------------------------- metrics


def _get(url: str, context: ssl.SSLContext | None, token: str | None) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10.0, context=context) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_metrics_endpoint_is_https_with_the_token(rig: Rig, pki: Pki) -> None:
    with serve_metrics(rig.endpoints(), security=pki.security()) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = pki.credentials().ssl_context()
        status, body = _get(server.url, context, pki.token)
        assert status == 200
        # The collector read the secured hosts: both satellites and the station are up.
        for sid in rig.sids:
            assert f'orbitmesh_satellite_up{{satellite="{sid}"}} 1.0' in body
        assert 'orbitmesh_station_up{station="st"} 1.0' in body
        assert _get(server.url, context, None)[0] == 401
        assert _get(server.url, context, new_token())[0] == 401
        # Plaintext HTTP to the TLS port gets no answer.
        plain = server.url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
            _get(plain, None, pki.token)
        # A stalled handshake holds up nobody: another client is answered meanwhile.
        with _silent_connection(server.port):
            assert _get(server.url, context, pki.token)[0] == 200


@contextlib.contextmanager
def _silent_connection(port: int) -> Iterator[None]:
    """A client that connects and never starts its TLS handshake."""
    with socket.create_connection(("127.0.0.1", port)):
        yield


def test_the_metrics_endpoint_requires_client_certificates_with_a_client_ca(pki: Pki) -> None:
    empty = Endpoints(ground_stations={})
    with serve_metrics(empty, security=pki.security(client_ca=pki.client_ca)) as server:
        with_cert = pki.credentials(client="client").ssl_context()
        assert _get(server.url, with_cert, pki.token)[0] == 200
        for refused in (pki.credentials(), pki.credentials(client="stranger")):
            with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                _get(server.url, refused.ssl_context(), pki.token)


# --------------------------------------------------------------------------- settings


def test_tokens() -> None:
    token = new_token()
    assert token_problem(token) is None and len(token) >= 43  # 32 bytes in base64
    assert new_token() != token
    assert token_problem("short") is not None
    assert token_problem("has a space in it, sixteen+") is not None
    assert token_problem("a" * 16) is None


def test_a_token_file_is_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old")
    path.chmod(0o644)
    write_token(path, "t" * 20)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_token(path) == "t" * 20
    path.write_text("  x\n")
    with pytest.raises(ValueError, match="characters"):
        read_token(path)


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "10.0.0.7", "example.org")))


def test_security_check_names_the_field(pki: Pki, tmp_path: Path) -> None:
    labels = {"cert_file": "--tls-cert", "key_file": "--tls-key", "ca_file": "--tls-ca"}
    pki.security().check(labels)
    other_key = Security(pki.server_cert, pki.client_key, pki.token)
    with pytest.raises(ValueError, match=r"^--tls-key: .* is not the PEM private key"):
        other_key.check(labels)
    encrypted = tmp_path / "encrypted.key"
    _openssl(
        tmp_path,
        *("pkey", "-in", pki.server_key, "-aes256", "-passout", "pass:secret"),
        *("-out", str(encrypted)),
    )
    with pytest.raises(ValueError, match=r"^--tls-key: .* \(or it is encrypted\)$"):
        Security(pki.server_cert, str(encrypted), pki.token).check(labels)
    missing = Security(str(tmp_path / "nope.pem"), pki.server_key, pki.token)
    with pytest.raises(ValueError, match=r"^--tls-cert: cannot read"):
        missing.check(labels)
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    bad_ca = Security(pki.server_cert, pki.server_key, pki.token, ca_file=str(not_pem))
    with pytest.raises(ValueError, match=r"^--tls-ca: .* holds no PEM certificate"):
        bad_ca.check(labels)


def test_the_endpoints_security_is_checked() -> None:
    base: dict[str, Any] = {"ground_stations": {}, "satellites": {}}
    with pytest.raises(ValueError, match=r"security\.token_file: missing"):
        Endpoints.from_json({**base, "security": {"ca_file": "/ca.pem"}})
    with pytest.raises(ValueError, match="cert_file and key_file together"):
        Endpoints.from_json(
            {**base, "security": {"ca_file": "/c", "token_file": "/t", "cert_file": "/x"}}
        )
    with pytest.raises(ValueError, match="unknown key 'token'"):
        Endpoints.from_json({**base, "security": {"ca_file": "/c", "token_file": "/t", "token": 1}})


def test_the_secrets_stay_out_of_reprs(pki: Pki) -> None:
    assert pki.token not in repr(pki.security())
    assert pki.token not in repr(pki.credentials())


# --------------------------------------------------------------------------- orbitmesh up


def _up(args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[int, str]:
    endpoints = tmp_path / "endpoints.json"
    status = main(["up", "demo", "--endpoints", str(endpoints), *args])
    _, err = capsys.readouterr()
    assert not endpoints.exists()  # nothing started
    return status, err


def test_up_on_a_public_host_without_tls_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, err = _up(["--host", "0.0.0.0"], capsys, tmp_path)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("orbitmesh: --host 0.0.0.0: ")
    assert "--tls-cert" in err and "--insecure" in err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--host", "0.0.0.0", "--tls-cert", "{server_cert}"], "--tls-key"),
        (["--host", "0.0.0.0", "--insecure", "--tls-cert", "{server_cert}"], "--insecure"),
        (["--token-file", "{token_file}"], "--token-file"),
        (["--tls-cert", "{server_cert}", "--tls-key", "{client_key}"], "--tls-key"),
        (
            ["--tls-cert", "{server_cert}", "--tls-key", "{server_key}", "--token-file", "{ca}"],
            "--token-file",
        ),
    ],
)
def test_up_refuses_security_it_cannot_run(
    args: list[str],
    field: str,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    files = dataclasses.asdict(pki)
    status, err = _up([a.format(**files) for a in args], capsys, tmp_path)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"orbitmesh: {field}: "), err


def test_up_secured_from_start_to_down(pki: Pki, tmp_path: Path) -> None:
    """A secured `up` as a user runs it (its own processes and Ray): the token made for
    the run, the endpoints file, `status` and `infer` following it, refusals, metrics."""
    endpoints = tmp_path / "endpoints.json"
    token_file = tmp_path / "endpoints.token"
    np.save(tmp_path / "x.npy", np.zeros((1, 64), np.float32))
    tls = ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca]
    with orbitmesh_up(
        "demo",
        "--speed",
        "5",
        "--duration",
        "3600",
        *tls,
        "--metrics-port",
        "0",
        endpoints=endpoints,
    ) as up:
        doc = json.loads(endpoints.read_text())
        assert doc["security"] == {"ca_file": pki.ca, "token_file": str(token_file)}
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = read_token(token_file)
        assert token not in endpoints.read_text()

        status = _run("status", "--endpoints", str(endpoints), "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert all(s["up"] for s in (*report["satellites"], *report["stations"]))
        answer = _run(
            "infer",
            "--station",
            "tokyo",
            "--model",
            "digits",
            "--input",
            str(tmp_path / "x.npy"),
            "--endpoints",
            str(endpoints),
            "--json",
        )
        assert answer.returncode == 0, answer.stderr

        right = Credentials(pki.ca, token)
        station = doc["ground_stations"]["tokyo"]
        host = next(h["address"] for h in doc["hosts"].values() if "satellites" in h)
        for address, method in ((station, f"{INFERENCE}/ServerLive"), (host, HOST_MEMBERS)):
            with channel_to(address, right) as channel:
                assert _code(channel, method) is grpc.StatusCode.OK
            with channel_to(address, Credentials(pki.ca, new_token())) as channel:
                assert _code(channel, method) is grpc.StatusCode.UNAUTHENTICATED
            with grpc.insecure_channel(address) as channel:
                assert _code(channel, method) is grpc.StatusCode.UNAVAILABLE
        context = right.ssl_context()
        assert _get(doc["metrics"], context, token)[0] == 200
        assert _get(doc["metrics"], context, None)[0] == 401

        down = _run("down", "--endpoints", str(endpoints), timeout_s=180)
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=120) == 0
    assert not endpoints.exists() and not token_file.exists()


def _run(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORBITMESH, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _session_pids() -> set[int]:
    """This process, and the Ray session it started: its gcs_server and raylet (and
    everything under them: workers, agents)."""
    from pathlib import Path

    import ray

    node: Any = ray._private.worker._global_node
    roots = {os.getpid()}
    for infos in node.all_processes.values():
        roots.update(info.process.pid for info in infos if info.process is not None)
    parent: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.parent.name)] = int(fields[1])
    pids = set(roots)
    for pid in parent:
        ancestor = pid
        while ancestor > 1 and ancestor not in roots:
            ancestor = parent.get(ancestor, 1)
        if ancestor in roots:
            pids.add(pid)
    return pids


def test_the_private_ray_listens_on_loopback_only(ray_local: Any) -> None:
    """Every socket of the test session's private Ray (started as `up` starts it) and of
    this process listens on 127.0.0.1 (``ss`` lists them with their owners)."""
    import re
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2) to list listening sockets")
    ours = _session_pids()
    listing = subprocess.run(
        ["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    mine = [line for line in listing if ours & {int(p) for p in re.findall(r"pid=(\d+),", line)}]
    assert any('"gcs_server"' in line for line in mine), listing
    for line in mine:
        host = line.split()[3].rsplit(":", 1)[0]
        assert host in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"), line

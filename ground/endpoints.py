"""The endpoints file ``orbitmesh up`` writes, so that clients find the running gateways.

A JSON object (default name ``orbitmesh-endpoints.json``)::

    {"scenario": "demo",
     "ground_stations": {"frankfurt": "127.0.0.1:50051", ...},
     "satellites": {"shell1-0-0": "127.0.0.1:50061", ...},
     "pid": 12345, "started_utc": "2026-03-20T12:00:00Z",
     "speed": 1.0, "sim_start": "2026-03-20T12:00:00Z"}

``ground_stations`` and ``satellites`` are required; every other key is optional
(``terminals``, the same map for a scenario's direct-to-device terminals), and
keys this module does not know are kept in :attr:`Endpoints.extra`. Addresses are
``host:port`` (IPv6 hosts in brackets: ``[::1]:50051``).

An emulation whose servers are secured (docs/security.md) adds what a client needs to
call them, as files, never the secrets themselves::

    "security": {"ca_file": "/etc/orbitmesh/ca.pem",
                 "token_file": "/home/me/orbitmesh-endpoints.token",
                 "cert_file": "...", "key_file": "..."}

(``cert_file`` and ``key_file``: a client certificate, where the servers require one.)
Every client of this package follows it: TLS trusting ``ca_file``, the token in every call.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from orbitmesh.ground.errors import EndpointsError
from orbitmesh.protos.serving import Credentials

__all__ = [
    "DEFAULT_ENDPOINTS_FILE",
    "ENDPOINTS_ENV",
    "EndpointSecurity",
    "Endpoints",
    "EndpointsError",
    "default_endpoints_path",
    "load_endpoints",
    "write_endpoints",
]

#: File name `orbitmesh up` writes in its working directory unless told otherwise.
DEFAULT_ENDPOINTS_FILE: Final = "orbitmesh-endpoints.json"
#: Environment variable naming the endpoints file, read when no path is given.
ENDPOINTS_ENV: Final = "ORBITMESH_ENDPOINTS"

_ADDRESS_MAPS: Final = ("ground_stations", "satellites")
_KNOWN_KEYS: Final = frozenset(
    {
        *_ADDRESS_MAPS,
        "terminals",
        "scenario",
        "pid",
        "started_utc",
        "speed",
        "sim_start",
        "security",
    }
)
_SECURITY_FILES: Final = ("ca_file", "token_file", "cert_file", "key_file")


@dataclass(frozen=True)
class EndpointSecurity:
    """Where a client finds what secured servers ask of it: the CA certificates to trust,
    the file holding the bearer token, and a client certificate and key where the servers
    require one (paths on the client's machine)."""

    ca_file: str
    token_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k in _SECURITY_FILES if (v := getattr(self, k)) is not None}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> EndpointSecurity:
        problems = _security_problems(document)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{k: document[k] for k in _SECURITY_FILES if k in document})

    def credentials(self) -> Credentials:
        """The credentials, the token read from its file; ValueError says why not."""
        return Credentials.from_files(self.ca_file, self.token_file, self.cert_file, self.key_file)


def _security_problems(value: object) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"security: must be an object of file paths, not {type(value).__name__}"]
    problems = [
        f"security.{k}: missing (required)" for k in ("ca_file", "token_file") if k not in value
    ]
    for key, path in value.items():
        if key not in _SECURITY_FILES:
            problems.append(f"security: unknown key {key!r}")
        elif not isinstance(path, str) or not path:
            problems.append(f"security.{key}: must be a file path, not {path!r}")
    if ("cert_file" in value) != ("key_file" in value):
        problems.append("security: give cert_file and key_file together, or neither")
    return problems


def _address_problem(address: object) -> str | None:
    """Why ``address`` is not ``host:port``, or None when it is."""
    if not isinstance(address, str):
        return f"address must be a string 'host:port', not {type(address).__name__}"
    host, colon, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return f"address {address!r}: write an IPv6 host in brackets, as '[::1]:50051'"
    if not colon or not host or any(c.isspace() for c in host):
        return f"address {address!r} is not 'host:port'"
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"address {address!r}: port {port!r} is not a number from 1 to 65535"
    return None


def _address_map_problems(name: str, value: object) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{name}: must be an object of name -> 'host:port', not {type(value).__name__}"]
    problems: list[str] = []
    for key, address in value.items():
        if not isinstance(key, str) or not key:
            problems.append(f"{name}: names must be non-empty strings, got {key!r}")
            continue
        problem = _address_problem(address)
        if problem is not None:
            problems.append(f"{name}.{key}: {problem}")
    return problems


def _format_time(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


@dataclass(frozen=True)
class Endpoints:
    """Where a running emulation serves: gateway and satellite addresses, and its clock.

    ``ground_stations`` and ``satellites`` map names to ``host:port``. ``speed`` is the
    simulated clock's rate (1.0 real time) and ``sim_start`` its simulated start;
    ``started_utc`` is the wall time ``orbitmesh up`` started. ``extra`` holds the
    file's other keys, written back unchanged.
    """

    ground_stations: Mapping[str, str]
    satellites: Mapping[str, str] = field(default_factory=dict)
    scenario: str | None = None
    pid: int | None = None
    started_utc: datetime | None = None
    speed: float | None = None
    sim_start: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: What a client needs to call the servers (None: they are plaintext, no token).
    security: EndpointSecurity | None = None
    #: Direct-to-device terminals' gateways (``[[terminal]]``), beside the stations'.
    terminals: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [
            problem
            for name in (*_ADDRESS_MAPS, "terminals")
            for problem in _address_map_problems(name, getattr(self, name))
        ]
        shadowed = sorted(_KNOWN_KEYS & set(self.extra))
        if shadowed:
            problems.append(f"extra: keys {shadowed} are fields of Endpoints")
        if problems:
            raise ValueError("; ".join(problems))
        for name in (*_ADDRESS_MAPS, "terminals", "extra"):
            object.__setattr__(self, name, dict(getattr(self, name)))

    @property
    def gateways(self) -> dict[str, str]:
        """Every gateway a client may send through: stations, then terminals."""
        return {**self.ground_stations, **self.terminals}

    def to_json(self) -> dict[str, Any]:
        """The endpoints file's JSON object (optional fields that are None are left out)."""
        document: dict[str, Any] = {}
        if self.scenario is not None:
            document["scenario"] = self.scenario
        document["ground_stations"] = dict(self.ground_stations)
        document["satellites"] = dict(self.satellites)
        if self.terminals:
            document["terminals"] = dict(self.terminals)
        if self.pid is not None:
            document["pid"] = self.pid
        if self.started_utc is not None:
            document["started_utc"] = _format_time(self.started_utc)
        if self.speed is not None:
            document["speed"] = self.speed
        if self.sim_start is not None:
            document["sim_start"] = _format_time(self.sim_start)
        if self.security is not None:
            document["security"] = self.security.to_json()
        document.update(self.extra)
        return document

    def credentials(self) -> Credentials | None:
        """What a client presents to these servers (None: nothing, they are plaintext);
        :class:`~orbitmesh.ground.errors.EndpointsError` when a file it names fails."""
        if self.security is None:
            return None
        try:
            return self.security.credentials()
        except ValueError as exc:
            raise EndpointsError(f"security: {exc}") from None

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Endpoints:
        """Endpoints from the file's JSON object; ValueError lists every problem."""
        problems = _document_problems(document)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(
            ground_stations=document["ground_stations"],
            satellites=document["satellites"],
            terminals=document.get("terminals") or {},
            scenario=document.get("scenario"),
            pid=document.get("pid"),
            started_utc=_optional_time(document.get("started_utc")),
            speed=None if document.get("speed") is None else float(document["speed"]),
            sim_start=_optional_time(document.get("sim_start")),
            extra={k: v for k, v in document.items() if k not in _KNOWN_KEYS},
            security=(
                None
                if document.get("security") is None
                else EndpointSecurity.from_json(document["security"])
            ),
        )


def _optional_time(value: str | None) -> datetime | None:
    return None if value is None else _parse_time(value)


def _document_problems(document: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for name in _ADDRESS_MAPS:
        if name not in document:
            problems.append(f"{name}: missing (required)")
        else:
            problems.extend(_address_map_problems(name, document[name]))
    if document.get("terminals") is not None:
        problems.extend(_address_map_problems("terminals", document["terminals"]))
    scenario = document.get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        problems.append(f"scenario: must be a string, not {type(scenario).__name__}")
    pid = document.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        problems.append(f"pid: must be an integer, not {pid!r}")
    speed = document.get("speed")
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, int | float) or not speed > 0
    ):
        problems.append(f"speed: must be a positive number, not {speed!r}")
    for name in ("started_utc", "sim_start"):
        value = document.get(name)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ValueError
            _parse_time(value)
        except ValueError:
            problems.append(f"{name}: {value!r} is not an ISO 8601 time")
    if document.get("security") is not None:
        problems.extend(_security_problems(document["security"]))
    return problems


def default_endpoints_path() -> Path:
    """``$ORBITMESH_ENDPOINTS`` when set, else ``./orbitmesh-endpoints.json``."""
    return Path(os.environ.get(ENDPOINTS_ENV) or DEFAULT_ENDPOINTS_FILE)


def load_endpoints(path: Path | str | None = None) -> Endpoints:
    """Read an endpoints file; None reads :func:`default_endpoints_path`.

    Raises :class:`~orbitmesh.ground.errors.EndpointsError` naming the file when it is missing,
    unreadable, not JSON, or lacks or misstates a field (one line per problem).
    """
    chosen = Path(path) if path is not None else default_endpoints_path()
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path is not None else f" (pass a path or set ${ENDPOINTS_ENV})"
        raise EndpointsError(
            f"{chosen}: no endpoints file; is `orbitmesh up` running?{hint}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EndpointsError(f"{chosen}: cannot read the endpoints file: {exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EndpointsError(
            f"{chosen}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise EndpointsError(
            f"{chosen}: the endpoints file must hold a JSON object, not {type(document).__name__}"
        )
    problems = _document_problems(document)
    if problems:
        raise EndpointsError("\n".join(f"{chosen}: {problem}" for problem in problems))
    return Endpoints.from_json(document)


def write_endpoints(path: Path | str, endpoints: Endpoints) -> Path:
    """Write ``endpoints`` to ``path`` atomically; returns the path.

    The JSON goes to a temporary file beside ``path``, which then replaces ``path`` in
    one step, so a reader sees the old file or the new one, never half of one.
    """
    target = Path(path)
    text = json.dumps(endpoints.to_json(), indent=2) + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target

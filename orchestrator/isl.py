"""Inter-satellite link topologies and the line-of-sight test.

``plus-grid`` is fixed by the Walker structure (each satellite links to the next one in
its plane and to the same slot in the next plane), so it is built once and each tick
only decides which candidate links are usable. ``nearest`` links each satellite to its
k nearest neighbours in sight and within range, recomputed every tick with a k-d tree.
A formation cluster's members link to each other within the cluster's own range
(:class:`ClusterLinks`), whatever the topology of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from orbitmesh.constants import C_KM_PER_S, EARTH_EQUATORIAL_RADIUS_KM, ISL_ATMOSPHERE_KM
from orbitmesh.orchestrator.catalog import SatelliteCatalog
from orbitmesh.orchestrator.scenario import ShellSpec

__all__ = [
    "ClusterLinks",
    "IslLinks",
    "PlusGrid",
    "candidate_distances_km",
    "clears_earth",
    "merged_links",
    "nearest_links",
    "plus_grid_pairs",
    "usable_links",
]

#: A laser link must pass at least this far from the Earth's centre.
LOS_RADIUS_KM = EARTH_EQUATORIAL_RADIUS_KM + ISL_ATMOSPHERE_KM


@dataclass(frozen=True)
class IslLinks:
    """Undirected inter-satellite links usable at one instant (a < b)."""

    a: NDArray[np.int32]
    b: NDArray[np.int32]
    distance_km: NDArray[np.float64]

    @property
    def delay_ms(self) -> NDArray[np.float64]:
        return self.distance_km / C_KM_PER_S * 1e3

    def __len__(self) -> int:
        return len(self.a)


def _is_delta(shell: ShellSpec) -> bool:
    return shell.raan_spread_deg >= 360.0 - 1e-9


def _shell_pairs(shell: ShellSpec, start: int) -> list[NDArray[np.int32]]:
    """In-plane ring, cross-plane and (Walker delta) seam pairs, in that order."""
    planes, per_plane = shell.planes, shell.sats_per_plane
    grid = np.arange(planes * per_plane, dtype=np.int32).reshape(planes, per_plane) + start
    out: list[NDArray[np.int32]] = []
    if per_plane > 1:
        out.append(np.stack([grid, np.roll(grid, -1, axis=1)], axis=-1).reshape(-1, 2))
    if planes > 1:
        out.append(np.stack([grid[:-1], grid[1:]], axis=-1).reshape(-1, 2))
        if _is_delta(shell) and planes > 2:
            out.append(np.stack([grid[-1], np.roll(grid[0], -shell.phasing)], axis=-1))
    return out


def plus_grid_pairs(catalog: SatelliteCatalog) -> NDArray[np.int32]:
    """Candidate +grid links of every Walker shell, shape (E, 2), each pair once.

    In-plane: slot s to s+1 (cyclic). Cross-plane: plane p to p+1 at the same slot; the
    seam between the last and first plane of a Walker delta shell joins slot s to slot
    s+F, the satellite in the same phase. Walker star shells have no cross-seam links
    (the planes either side of the seam counter-rotate).
    """
    return PlusGrid(catalog).pairs


@njit(nogil=True, cache=True)
def _length_km(
    ax: float, ay: float, az: float, bx: float, by: float, bz: float, range_km: float
) -> float:
    """Length of the link a-b seen from a, or inf: out of range or out of sight (see
    :func:`_clears`); NaN ends (no position) give inf too. Scalars only: a compiled
    call that takes arrays pays reference counting, which cost more than the
    arithmetic here (85 ms against 15 ms for 2 million links)."""
    dx = bx - ax
    dy = by - ay
    dz = bz - az
    d2 = dx * dx + dy * dy + dz * dz
    dist = float(np.sqrt(d2))
    if not dist <= range_km:
        return np.inf
    a2 = ax * ax + ay * ay + az * az
    a_dot_d = ax * dx + ay * dy + az * dz
    t = -a_dot_d / d2 if d2 > 0.0 else 0.0
    t = min(max(t, 0.0), 1.0)
    if not a2 + t * (2.0 * a_dot_d + t * d2) >= LOS_RADIUS_KM**2:
        return np.inf
    return dist


@njit(nogil=True, cache=True)
def _shell_lengths(
    p: NDArray[np.float64],
    valid: NDArray[np.bool_],
    start: int,
    planes: int,
    per_plane: int,
    phasing: int,
    delta: bool,
    range_km: float,
    out: NDArray[np.float64],
) -> int:
    """One shell's candidates in :func:`_shell_pairs` order into ``out``; returns how
    many were written."""
    k = 0
    for plane in range(planes + planes - 1 + (1 if delta else 0)):
        for s in range(per_plane):
            if plane < planes:  # in-plane ring
                a = start + plane * per_plane + s
                b = start + plane * per_plane + (s + 1) % per_plane
            elif plane < 2 * planes - 1:  # cross-plane, same slot
                a = start + (plane - planes) * per_plane + s
                b = a + per_plane
            else:  # the seam: last plane to the first, same phase
                a = start + (planes - 1) * per_plane + s
                b = start + (s + phasing) % per_plane
            if valid[a] and valid[b]:
                out[k] = _length_km(p[a, 0], p[a, 1], p[a, 2], p[b, 0], p[b, 1], p[b, 2], range_km)
            else:
                out[k] = np.inf
            k += 1
    return k


class PlusGrid:
    """The +grid candidates of a catalog and a fast way to measure them each tick.

    For shells of at least 3 x 3 the candidates are laid out shell by shell as in-plane,
    cross-plane and seam blocks, so that one compiled pass measures them from the
    position array without a gather per link (the gather dominates at 10^6 links).
    """

    def __init__(self, catalog: SatelliteCatalog) -> None:
        self.shells = [(b.shell, b.start) for b in catalog.walker]
        self.structured = all(s.planes >= 3 and s.sats_per_plane >= 3 for s, _ in self.shells)
        blocks = [p for shell, start in self.shells for p in _shell_pairs(shell, start)]
        pairs = np.concatenate(blocks) if blocks else np.empty((0, 2), dtype=np.int32)
        if self.structured:
            # Same order as the structured blocks; only normalise each pair to a < b.
            self.pairs = np.sort(pairs, axis=1).astype(np.int32)
        else:
            # Tiny shells (two slots or two planes) produce each link twice; keep one.
            self.pairs = np.unique(np.sort(pairs, axis=1), axis=0).astype(np.int32)

    def candidate_distances_km(
        self,
        positions_km: NDArray[np.float64],
        range_km: float,
        valid: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.float64]:
        """Length of each candidate link, or inf where it is out of sight or out of range."""
        if not self.structured or len(self.pairs) == 0:
            return candidate_distances_km(self.pairs, positions_km, range_km, valid)
        positions = np.ascontiguousarray(positions_km, dtype=np.float64)
        ok = np.ones(len(positions), dtype=bool) if valid is None else valid
        out = np.empty(len(self.pairs))
        k = 0
        for shell, start in self.shells:
            k += _shell_lengths(
                positions,
                ok,
                start,
                shell.planes,
                shell.sats_per_plane,
                shell.phasing,
                _is_delta(shell),
                float(range_km),
                out[k:],
            )
        return out


def clears_earth(a_km: NDArray[np.float64], b_km: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether each segment a-b stays above the Earth plus 80 km of atmosphere."""
    d = b_km - a_km
    return _clears(
        np.einsum("ij,ij->i", a_km, a_km),
        np.einsum("ij,ij->i", a_km, d),
        np.einsum("ij,ij->i", d, d),
    )


def _clears(
    a2: NDArray[np.float64], a_dot_d: NDArray[np.float64], d2: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Line of sight from dot products: the closest point of a + t d (0 <= t <= 1) to the
    Earth's centre is at t = -a.d / d.d, where |a + t d|^2 = a.a + 2 t a.d + t^2 d.d."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.nan_to_num(np.clip(-a_dot_d / d2, 0.0, 1.0))
    return np.asarray(a2 + t * (2.0 * a_dot_d + t * d2) >= LOS_RADIUS_KM**2)


def candidate_distances_km(
    pairs: NDArray[np.int32],
    positions_km: NDArray[np.float64],
    range_km: float | NDArray[np.float64],
    valid: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Length of each candidate link, or inf where it is out of sight or out of range."""
    pa = positions_km[pairs[:, 0]]
    return _measure(pa, positions_km[pairs[:, 1]] - pa, range_km, pairs, valid)


def _measure(
    pa: NDArray[np.float64],
    d: NDArray[np.float64],
    range_km: float | NDArray[np.float64],
    pairs: NDArray[np.int32],
    valid: NDArray[np.bool_] | None,
) -> NDArray[np.float64]:
    d2 = np.einsum("ij,ij->i", d, d)
    dist = np.sqrt(d2)
    with np.errstate(invalid="ignore"):
        keep = (dist <= range_km) & _clears(
            np.einsum("ij,ij->i", pa, pa), np.einsum("ij,ij->i", pa, d), d2
        )
    if valid is not None and not valid.all():
        keep &= valid[pairs[:, 0]] & valid[pairs[:, 1]]
    return np.where(keep, dist, np.inf)


@njit(nogil=True, cache=True)
def _usable(
    pairs: NDArray[np.int32], candidate_km: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
    count = 0
    for k in range(candidate_km.shape[0]):
        if np.isfinite(candidate_km[k]):
            count += 1
    a = np.empty(count, dtype=np.int32)
    b = np.empty(count, dtype=np.int32)
    dist = np.empty(count, dtype=np.float64)
    j = 0
    for k in range(candidate_km.shape[0]):
        if np.isfinite(candidate_km[k]):
            a[j] = pairs[k, 0]
            b[j] = pairs[k, 1]
            dist[j] = candidate_km[k]
            j += 1
    return a, b, dist


def usable_links(pairs: NDArray[np.int32], candidate_km: NDArray[np.float64]) -> IslLinks:
    """The candidate pairs with a finite length (see candidate_distances_km)."""
    a, b, dist = _usable(
        np.ascontiguousarray(pairs, dtype=np.int32),
        np.ascontiguousarray(candidate_km, dtype=np.float64),
    )
    return IslLinks(a, b, dist)


def nearest_links(
    positions_km: NDArray[np.float64],
    k: int,
    range_km: float,
    valid: NDArray[np.bool_] | None = None,
) -> IslLinks:
    """Each satellite's k nearest neighbours in sight and in range (union, undirected)."""
    n = len(positions_km)
    idx = np.flatnonzero(valid) if valid is not None else np.arange(n)
    if len(idx) < 2:
        empty = np.empty(0, dtype=np.int32)
        return IslLinks(empty, empty, np.empty(0))
    pts = positions_km[idx]
    tree = cKDTree(pts)
    # Ask for extra candidates: some of the nearest may be hidden behind the Earth.
    want = min(len(idx), 3 * k + 1)
    dist, nbr = tree.query(pts, k=want, distance_upper_bound=range_km)
    src = np.repeat(np.arange(len(idx)), want)
    dst = nbr.ravel()
    dd = dist.ravel()
    ok = (dst < len(idx)) & (dst != src)
    src, dst, dd = src[ok], dst[ok], dd[ok]
    los = clears_earth(pts[src], pts[dst])
    src, dst, dd = src[los], dst[los], dd[los]
    # Keep the first k survivors per source (query returns them sorted by distance).
    order = np.lexsort((dd, src))
    src, dst, dd = src[order], dst[order], dd[order]
    first = np.searchsorted(src, src, side="left")
    rank = np.arange(len(src)) - first
    keep = rank < k
    a, b = idx[src[keep]], idx[dst[keep]]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    uniq, where = np.unique(np.stack([lo, hi], axis=1), axis=0, return_index=True)
    return IslLinks(uniq[:, 0].astype(np.int32), uniq[:, 1].astype(np.int32), dd[keep][where])


class ClusterLinks:
    """Every pair of a cluster's members is a candidate link, usable within the cluster's
    ``link_range_m`` and in sight (always, a kilometre apart in orbit)."""

    def __init__(self, catalog: SatelliteCatalog) -> None:
        pairs: list[NDArray[np.int32]] = [np.empty((0, 2), dtype=np.int32)]
        ranges: list[NDArray[np.float64]] = [np.empty(0)]
        for k, cluster in enumerate(catalog.clusters):
            members = catalog.cluster_members(k)
            a, b = np.triu_indices(len(members), 1)
            pairs.append(np.stack([members[a], members[b]], axis=1).astype(np.int32))
            ranges.append(np.full(len(a), cluster.link_range_m / 1e3))
        self.pairs = np.concatenate(pairs)
        self.range_km = np.concatenate(ranges)

    def __len__(self) -> int:
        return len(self.pairs)

    def candidate_distances_km(
        self, positions_km: NDArray[np.float64], valid: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """Length of each member pair, or inf where out of the cluster's range."""
        return candidate_distances_km(self.pairs, positions_km, self.range_km, valid)

    def links(
        self, positions_km: NDArray[np.float64], valid: NDArray[np.bool_] | None = None
    ) -> IslLinks:
        return usable_links(self.pairs, self.candidate_distances_km(positions_km, valid))


def merged_links(first: IslLinks, second: IslLinks) -> IslLinks:
    """Both sets of links, each pair once (the first's length where both have it)."""
    if len(second) == 0:
        return first
    a = np.concatenate([first.a, second.a])
    b = np.concatenate([first.b, second.b])
    dist = np.concatenate([first.distance_km, second.distance_km])
    _, keep = np.unique(np.stack([a, b], axis=1), axis=0, return_index=True)
    return IslLinks(a[keep], b[keep], dist[keep])

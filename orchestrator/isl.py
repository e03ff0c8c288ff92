"""Inter-satellite link topologies and the line-of-sight test.

``plus-grid`` is fixed by the Walker structure (each satellite links to the next one in
its plane and to the same slot in the next plane), so it is built once and each tick
only decides which candidate links are usable. ``nearest`` links each satellite to its
k nearest neighbours in sight and within range, recomputed every tick with a k-d tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .catalog import SatelliteCatalog
from .constants import C_KM_PER_S, EARTH_RADIUS_KM, ISL_ATMOSPHERE_KM

__all__ = [
    "IslLinks",
    "candidate_distances_km",
    "clears_earth",
    "nearest_links",
    "plus_grid_pairs",
    "usable_links",
]

#: A laser link must pass at least this far from the Earth's centre.
LOS_RADIUS_KM = EARTH_RADIUS_KM + ISL_ATMOSPHERE_KM


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


def plus_grid_pairs(catalog: SatelliteCatalog) -> NDArray[np.int32]:
    """Candidate +grid links of every Walker shell, shape (E, 2), each pair once.

    In-plane: slot s to s+1 (cyclic). Cross-plane: plane p to p+1 at the same slot; the
    seam between the last and first plane of a Walker delta shell joins slot s to slot
    s+F, the satellite in the same phase. Walker star shells have no cross-seam links
    (the planes either side of the seam counter-rotate).
    """
    pairs: list[NDArray[np.int32]] = []
    for shell, start in zip(catalog.shells, catalog.shell_start, strict=True):
        planes, per_plane = shell.planes, shell.sats_per_plane
        grid = np.arange(planes * per_plane, dtype=np.int32).reshape(planes, per_plane) + start
        if per_plane > 1:
            pairs.append(np.stack([grid, np.roll(grid, -1, axis=1)], axis=-1).reshape(-1, 2))
        if planes > 1:
            cross = np.stack([grid[:-1], grid[1:]], axis=-1).reshape(-1, 2)
            pairs.append(cross)
            is_delta = shell.raan_spread_deg >= 360.0 - 1e-9
            if is_delta and planes > 2:
                seam = np.stack([grid[-1], np.roll(grid[0], -shell.phasing)], axis=-1)
                pairs.append(seam)
    if not pairs:
        return np.empty((0, 2), dtype=np.int32)
    # Tiny shells (two slots or two planes) produce each link twice; keep one.
    return np.unique(np.sort(np.concatenate(pairs), axis=1), axis=0).astype(np.int32)


def clears_earth(a_km: NDArray[np.float64], b_km: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether each segment a-b stays above the Earth plus 80 km of atmosphere."""
    d = b_km - a_km
    dd = np.einsum("ij,ij->i", d, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(-np.einsum("ij,ij->i", a_km, d) / dd, 0.0, 1.0)
    t = np.nan_to_num(t)
    closest = a_km + t[:, None] * d
    return np.asarray(np.einsum("ij,ij->i", closest, closest) >= LOS_RADIUS_KM**2)


def candidate_distances_km(
    pairs: NDArray[np.int32],
    positions_km: NDArray[np.float64],
    range_km: float,
    valid: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Length of each candidate link, or inf where it is out of sight or out of range."""
    a, b = pairs[:, 0], pairs[:, 1]
    pa, pb = positions_km[a], positions_km[b]
    dist = np.linalg.norm(pb - pa, axis=1)
    with np.errstate(invalid="ignore"):
        keep = (dist <= range_km) & clears_earth(pa, pb)
    if valid is not None:
        keep &= valid[a] & valid[b]
    return np.where(keep, dist, np.inf)


def usable_links(pairs: NDArray[np.int32], candidate_km: NDArray[np.float64]) -> IslLinks:
    """The candidate pairs with a finite length (see candidate_distances_km)."""
    keep = np.isfinite(candidate_km)
    return IslLinks(pairs[keep, 0], pairs[keep, 1], candidate_km[keep])


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

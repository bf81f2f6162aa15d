"""Fastest paths on a road network held as a CSR matrix of travel times (scipy.sparse.csgraph)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from superapp.geo import haversine_many_m


@dataclass
class RoadGraph:
    """Nodes are intersections (row i = node_ids[i]); edges are directed segments."""

    node_ids: np.ndarray  # int64 [n]
    node_lat: np.ndarray
    node_lon: np.ndarray
    edge_ids: np.ndarray  # int64 [m] segment ids
    edge_from: np.ndarray  # node rows [m]
    edge_to: np.ndarray
    edge_length_m: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.size)

    def nearest_node(self, lat: float, lon: float) -> tuple[int, float]:
        """(row, distance in metres) of the intersection nearest to a point."""
        distances = haversine_many_m(lat, lon, self.node_lat, self.node_lon)
        row = int(np.argmin(distances))
        return row, float(distances[row])

    def travel_time_matrix(self, speeds_kmh: np.ndarray) -> csr_matrix:
        """CSR matrix of seconds per edge at the given speeds. Parallel edges keep the fastest."""
        seconds = edge_seconds(self, speeds_kmh)
        order = np.lexsort((seconds, self.edge_to, self.edge_from))
        keep = np.ones(order.size, dtype=bool)
        pairs = np.stack([self.edge_from[order], self.edge_to[order]], axis=1)
        keep[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
        chosen = order[keep]
        # csgraph treats explicit zeros as missing edges: a zero-length edge gets a tiny positive weight.
        weights = np.maximum(seconds[chosen], 1e-3)
        return csr_matrix((weights, (self.edge_from[chosen], self.edge_to[chosen])),
                          shape=(self.n_nodes, self.n_nodes))


@dataclass
class Path:
    node_rows: list[int]
    edge_indexes: list[int]  # positions in RoadGraph.edge_ids
    seconds: float
    length_m: float


def edge_seconds(graph: RoadGraph, speeds_kmh: np.ndarray) -> np.ndarray:
    return graph.edge_length_m / (np.maximum(speeds_kmh, 1.0) / 3.6)


def shortest_path(graph: RoadGraph, speeds_kmh: np.ndarray, *, source: int, target: int,
                  matrix: csr_matrix | None = None) -> Path | None:
    """The fastest path from node row `source` to `target` at the given edge speeds, or None when the
    target is unreachable. Pass `matrix` (from `travel_time_matrix`) to reuse it across queries."""
    if source == target:
        return Path(node_rows=[source], edge_indexes=[], seconds=0.0, length_m=0.0)
    if matrix is None:
        matrix = graph.travel_time_matrix(speeds_kmh)
    dist, predecessors = dijkstra(matrix, directed=True, indices=source, return_predecessors=True)
    if not math.isfinite(dist[target]):
        return None
    rows = [target]
    while rows[-1] != source:
        rows.append(int(predecessors[rows[-1]]))
    rows.reverse()
    seconds = edge_seconds(graph, speeds_kmh)
    edges = []
    for a, b in zip(rows[:-1], rows[1:], strict=True):
        candidates = np.flatnonzero((graph.edge_from == a) & (graph.edge_to == b))
        edges.append(int(candidates[np.argmin(seconds[candidates])]))  # the parallel edge the matrix kept
    return Path(node_rows=rows, edge_indexes=edges, seconds=float(dist[target]),
                length_m=float(graph.edge_length_m[edges].sum()) if edges else 0.0)

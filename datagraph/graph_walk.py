"""Breadth-first walks over adjacency lists: the hypernym queries of the label graph.

An adjacency ("step") is a dict from node to its neighbours, sorted, or a function giving
them; the walks visit neighbours in that order, so their results are deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable


def adjacency(edges: dict[str, list], key: str, value: str) -> dict[str, list[str]]:
    """``edges[key][i] -> edges[value][i]`` grouped by key, each neighbour list sorted."""
    index: dict[str, list[str]] = {}
    for k, v in zip(edges[key], edges[value], strict=True):
        index.setdefault(k, []).append(v)
    for values in index.values():
        values.sort()
    return index


Step = dict[str, list[str]] | Callable[[str], list[str]]


def neighbours(step: Step, node: str) -> Iterable[str]:
    """The nodes one step from ``node``."""
    return step.get(node, ()) if isinstance(step, dict) else step(node)


def bfs(start: str, step: Step) -> tuple[dict[str, int], dict[str, str]]:
    """Distances from ``start`` (itself at 0) and each node's predecessor on a shortest path;
    neighbours are visited in the order ``step`` gives them (sorted for the graph's indices)."""
    distance = {start: 0}
    predecessor: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in neighbours(step, node):
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                predecessor[nxt] = node
                queue.append(nxt)
    return distance, predecessor


def reachable(starts: Iterable[str], step: Step) -> set[str]:
    """The starts and everything reachable from them."""
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for nxt in neighbours(step, queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def by_distance(distance: dict[str, int], start: str) -> list[str]:
    """The nodes of a ``bfs`` distance map except the start, nearest first, ties by id."""
    return sorted((s for s in distance if s != start), key=lambda s: (distance[s], s))


def chain(node: str, predecessor: dict[str, str]) -> list[str]:
    """``node`` and its predecessors back to the BFS start."""
    chain = [node]
    while chain[-1] in predecessor:
        chain.append(predecessor[chain[-1]])
    return chain

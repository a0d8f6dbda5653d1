"""The lineage neighbourhood walk (signals/graph.py) on a graph built in memory.

Job l/ingest writes l/raw; job l/clean reads l/raw and writes the dataset l/clean (same
name as the job); job l/feat reads l/clean and writes l/f; the service ``scorer``, which
the job s/scorer declares (a JobEvent named like the service), reads l/f.
"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from loadsense.errors import NotFound
from loadsense.signals.graph import LineageGraph, neighbourhood

GRAPH = LineageGraph(
    produces=MappingProxyType(
        {"l/ingest": ("l/raw",), "l/clean": ("l/clean",), "l/feat": ("l/f",)}
    ),
    consumes=MappingProxyType(
        {"l/clean": ("l/raw",), "l/feat": ("l/clean",), "s/scorer": ("l/f",)}
    ),
    service_inputs=MappingProxyType({"scorer": ("l/f",)}),
    service_jobs=MappingProxyType({"s/scorer": "scorer"}),
)


def test_depth_counts_hops_in_both_directions() -> None:
    # From l/clean: 1 hop reaches its writer l/clean and its reader l/feat.
    near = neighbourhood(GRAPH, "dataset:l/clean", 1)
    assert near.nodes == ("dataset:l/clean", "job:l/clean", "job:l/feat")
    assert near.edges == (
        ("dataset:l/clean", "job:l/feat", "reads"),
        ("job:l/clean", "dataset:l/clean", "writes"),
    )
    # 2 hops add what those jobs read and write: l/raw and l/f.
    two = neighbourhood(GRAPH, "dataset:l/clean", 2)
    assert set(two.nodes) == set(near.nodes) | {"dataset:l/raw", "dataset:l/f"}
    assert neighbourhood(GRAPH, "dataset:l/clean", 0).nodes == ("dataset:l/clean",)
    assert neighbourhood(GRAPH, "dataset:l/clean", 0).edges == ()


def test_a_bare_name_starts_from_every_node_of_that_name() -> None:
    # "l/clean" is both a dataset and a job; "scorer" names only the service
    # (the job is "s/scorer").
    assert neighbourhood(GRAPH, "l/clean", 0).nodes == ("dataset:l/clean", "job:l/clean")
    assert neighbourhood(GRAPH, "scorer", 1).nodes == ("dataset:l/f", "service:scorer")


def test_no_node_means_the_whole_graph_and_an_unknown_one_is_not_found() -> None:
    whole = neighbourhood(GRAPH, None, 0)
    # Datasets raw, clean, f (3) + jobs ingest, clean, feat (3) + the service, which is
    # also the job s/scorer (1) = 7 nodes; 3 writes + 2 job reads + 1 service read = 6.
    assert len(whole.nodes) == 7 and len(whole.edges) == 6
    assert whole.edges == tuple(sorted(whole.edges))
    with pytest.raises(NotFound, match="node 'nothing' is not in the lineage graph"):
        neighbourhood(GRAPH, "nothing", 2)


def test_the_job_that_declares_a_service_is_the_service_node() -> None:
    # The job's own read of l/f and the service's are one edge; no job:s/scorer node.
    whole = neighbourhood(GRAPH, None, 0)
    assert "job:s/scorer" not in whole.nodes
    assert ("dataset:l/f", "service:scorer", "reads") in whole.edges
    # Its job id, its bare ns/name and the service name all start from that node.
    for name in ("job:s/scorer", "s/scorer", "scorer", "service:scorer"):
        near = neighbourhood(GRAPH, name, 1)
        assert near.nodes == ("dataset:l/f", "service:scorer"), name
        assert near.edges == (("dataset:l/f", "service:scorer", "reads"),), name


def test_a_declared_service_that_also_writes_keeps_its_writes() -> None:
    # s/scorer also declares an output l/scores: service:scorer -> l/scores.
    graph = LineageGraph(
        produces=MappingProxyType({"s/scorer": ("l/scores",)}),
        consumes=MappingProxyType({"s/scorer": ("l/f",)}),
        service_inputs=MappingProxyType({"scorer": ("l/f",)}),
        service_jobs=MappingProxyType({"s/scorer": "scorer"}),
    )
    near = neighbourhood(graph, "job:s/scorer", 1)
    assert near.nodes == ("dataset:l/f", "dataset:l/scores", "service:scorer")
    assert near.edges == (
        ("dataset:l/f", "service:scorer", "reads"),
        ("service:scorer", "dataset:l/scores", "writes"),
    )

"""The read replica: the recommendation read API served from memory, in its own process.

``loadsense replica --upstream http://primary:4318`` keeps a copy of the primary's
recommendation list and regime, fed by the primary's own long poll
(:mod:`loadsense.api.replica.follower`), and serves ``GET /api/v1/recommendations`` (filters,
ETag/304, long poll), ``/recommendations/{workload}``, ``/keda/{workload}`` and
``/regime`` with the primary's route code (api/routes/recommendations.py), so bodies and
ETags are the same. It imports neither storage nor the ingest path: the primary's
process holds the GIL for decoding and correlator ticks, the replica's event loop only
answers reads (docs/dispatch.md, "Read replica"; docs/performance.md).
"""

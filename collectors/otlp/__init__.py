"""OTLP/HTTP traces and metrics: wire formats to rows (docs/telemetry.md).

Modules of this package (``loadsense.collectors.otlp``):

- ``receiver``: the receivers (the contract of ``loadsense.collectors.contract``);
- ``traces``, ``metrics``: the row builders, with ``exphistogram`` (exponential buckets
  as explicit ones) and ``resources`` (the ``resources`` table and resource identity);
- ``semantic``: well-known metric names to host and queue samples;
- ``payload``, ``shadow``, ``anyvalue``, ``jsonpb``: bodies to messages, attributes to text;
- ``limits``, ``report``: what is rejected and how it is reported; ``http``: OTLP
  response and ``Status`` bodies.
"""

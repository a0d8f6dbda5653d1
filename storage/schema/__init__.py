"""Every table and view, declared once as data (``model``): ``lineage`` and ``telemetry``
(what the receivers write; they build rows from these declarations), ``state`` (what the
correlator writes). ``loadsense.storage.migrations`` renders them to DDL."""

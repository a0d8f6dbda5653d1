"""The ClickHouse layer: client factory, schema and migrations, and the batch writer.

Nothing outside this package issues DDL.
"""

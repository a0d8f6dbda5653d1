CREATE TABLE IF NOT EXISTS `loadsense`.`schema_migrations_local` ON CLUSTER `loadsense`
(
    `version` UInt32,
    `name` String,
    `applied_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/schema_migrations_local', '{replica}')
ORDER BY (version);

CREATE TABLE IF NOT EXISTS `loadsense`.`schema_migrations` ON CLUSTER `loadsense` AS `loadsense`.`schema_migrations_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `schema_migrations_local`, version);

CREATE TABLE IF NOT EXISTS `loadsense`.`backfill_progress_local` ON CLUSTER `loadsense`
(
    `version` UInt32,
    `target` String,
    `slice` UInt32,
    `done_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/backfill_progress_local', '{replica}')
ORDER BY (version, target, slice);

CREATE TABLE IF NOT EXISTS `loadsense`.`backfill_progress` ON CLUSTER `loadsense` AS `loadsense`.`backfill_progress_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `backfill_progress_local`, version);

CREATE TABLE IF NOT EXISTS `loadsense`.`lineage_events_local` ON CLUSTER `loadsense`
(
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `received_at` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `kind` LowCardinality(String),
    `event_type` LowCardinality(String),
    `event_key` String,
    `run_id` String,
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `producer` LowCardinality(String),
    `schema_url` LowCardinality(String),
    `raw` String CODEC(ZSTD(3)),
    `event_hash` UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/lineage_events_local', '{replica}', event_hash)
PARTITION BY toDate(event_time)
ORDER BY (kind, event_key)
TTL toDateTime(event_time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`lineage_events` ON CLUSTER `loadsense` AS `loadsense`.`lineage_events_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `lineage_events_local`, cityHash64(event_key));

CREATE TABLE IF NOT EXISTS `loadsense`.`run_events_local` ON CLUSTER `loadsense`
(
    `run_id` String,
    `event_type` LowCardinality(String),
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `nominal_start_time` Nullable(DateTime64(9, 'UTC')),
    `nominal_end_time` Nullable(DateTime64(9, 'UTC')),
    `parent_run_id` String,
    `parent_job_namespace` LowCardinality(String),
    `parent_job_name` String,
    `processing_type` LowCardinality(String),
    `integration` LowCardinality(String),
    `job_type` LowCardinality(String),
    `error_message` String,
    `producer` LowCardinality(String),
    `event_hash` UInt64,
    `outputs` Array(Tuple(String, String))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/run_events_local', '{replica}', event_hash)
PARTITION BY toDate(event_time)
ORDER BY (run_id, event_type, event_time)
TTL toDateTime(event_time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`run_events` ON CLUSTER `loadsense` AS `loadsense`.`run_events_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `run_events_local`, cityHash64(run_id));

CREATE VIEW IF NOT EXISTS `loadsense`.`runs` ON CLUSTER `loadsense` AS
SELECT
    run_id,
    tupleElement(argMax((e.job_namespace, e.job_name), (e.event_time, e.job_namespace, e.job_name)),
        1) AS job_namespace,
    tupleElement(argMax((e.job_namespace, e.job_name), (e.event_time, e.job_namespace, e.job_name)),
        2) AS job_name,
    multiIf(
        countIf(event_type IN ('COMPLETE', 'FAIL', 'ABORT')) = 0, 'RUNNING',
        argMaxIf(event_type, (event_time, event_type), event_type IN ('COMPLETE', 'FAIL', 'ABORT'))
    ) AS state,
    if(countIf(event_type = 'START') > 0, minIf(event_time, event_type = 'START'), min(event_time))
        AS start_time,
    if(countIf(event_type IN ('COMPLETE', 'FAIL', 'ABORT')) > 0,
       toNullable(maxIf(event_time, event_type IN ('COMPLETE', 'FAIL', 'ABORT'))),
       NULL) AS end_time,
    min(nominal_start_time) AS nominal_start_time,
    min(nominal_end_time) AS nominal_end_time,
    maxIf(parent_run_id, parent_run_id != '') AS parent_run_id,
    maxIf(parent_job_namespace, parent_job_namespace != '') AS parent_job_namespace,
    maxIf(parent_job_name, parent_job_name != '') AS parent_job_name,
    maxIf(processing_type, processing_type != '') AS processing_type,
    maxIf(integration, integration != '') AS integration,
    maxIf(job_type, job_type != '') AS job_type,
    maxIf(error_message, error_message != '') AS error_message,
    max(event_time) AS last_event_time,
    count() AS events
FROM `loadsense`.run_events AS e FINAL
GROUP BY run_id;

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_updates_local` ON CLUSTER `loadsense`
(
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `run_id` String,
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `row_count` Nullable(Int64),
    `size_bytes` Nullable(Int64),
    `file_count` Nullable(Int64),
    `lifecycle_state` LowCardinality(String),
    `event_hash` UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/dataset_updates_local', '{replica}', event_hash)
PARTITION BY toDate(event_time)
ORDER BY (dataset_namespace, dataset_name, event_time, run_id)
TTL toDateTime(event_time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_updates` ON CLUSTER `loadsense` AS `loadsense`.`dataset_updates_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `dataset_updates_local`, cityHash64(dataset_namespace, dataset_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`lineage_edges_local` ON CLUSTER `loadsense`
(
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `direction` Enum8('input' = 1, 'output' = 2),
    `run_id` String,
    `source` LowCardinality(String),
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/lineage_edges_local', '{replica}', event_time)
PARTITION BY if(source = 'run', toDate(event_time), toDate(0))
ORDER BY (job_namespace, job_name, direction, dataset_namespace, dataset_name, run_id)
TTL toDateTime(event_time) + toIntervalDay(30) WHERE source = 'run'
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`lineage_edges` ON CLUSTER `loadsense` AS `loadsense`.`lineage_edges_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `lineage_edges_local`, cityHash64(job_namespace, job_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_schemas_local` ON CLUSTER `loadsense`
(
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `run_id` String,
    `schema_hash` UInt64,
    `field_names` Array(String),
    `field_types` Array(String),
    `event_hash` UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/dataset_schemas_local', '{replica}', event_hash)
PARTITION BY toDate(event_time)
ORDER BY (dataset_namespace, dataset_name, event_time, schema_hash)
TTL toDateTime(event_time) + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_schemas` ON CLUSTER `loadsense` AS `loadsense`.`dataset_schemas_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `dataset_schemas_local`, cityHash64(dataset_namespace, dataset_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`quality_assertions_local` ON CLUSTER `loadsense`
(
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `event_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `run_id` String,
    `assertion` String,
    `column` String,
    `success` UInt8,
    `severity` LowCardinality(String),
    `event_hash` UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/quality_assertions_local', '{replica}', event_hash)
PARTITION BY toDate(event_time)
ORDER BY (dataset_namespace, dataset_name, event_time, assertion, column)
TTL toDateTime(event_time) + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`quality_assertions` ON CLUSTER `loadsense` AS `loadsense`.`quality_assertions_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `quality_assertions_local`, cityHash64(dataset_namespace, dataset_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`resources_local` ON CLUSTER `loadsense`
(
    `resource_id` UInt64,
    `service_name` LowCardinality(String),
    `host_name` LowCardinality(String),
    `attributes` Map(LowCardinality(String), String) CODEC(ZSTD),
    `seen_at` DateTime64(9, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/resources_local', '{replica}', seen_at)
ORDER BY (resource_id)
TTL toDateTime(seen_at) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`resources` ON CLUSTER `loadsense` AS `loadsense`.`resources_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `resources_local`, resource_id);

CREATE TABLE IF NOT EXISTS `loadsense`.`spans_local` ON CLUSTER `loadsense`
(
    `service_name` LowCardinality(String),
    `host_name` LowCardinality(String),
    `kind` Enum8('UNSPECIFIED' = 0, 'INTERNAL' = 1, 'SERVER' = 2, 'CLIENT' = 3, 'PRODUCER' = 4, 'CONSUMER' = 5),
    `span_name` LowCardinality(String),
    `start_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `duration_ns` UInt64 CODEC(T64, ZSTD),
    `trace_id` FixedString(16),
    `span_id` FixedString(8),
    `parent_span_id` String,
    `status_code` UInt8,
    `status_message` String,
    `model_name` LowCardinality(String),
    `model_version` LowCardinality(String),
    `scope_name` LowCardinality(String),
    `scope_version` LowCardinality(String),
    `attributes` Map(LowCardinality(String), String) CODEC(ZSTD),
    `resource_id` UInt64,
    `event_times` Array(DateTime64(9, 'UTC')) CODEC(ZSTD),
    `event_names` Array(LowCardinality(String)),
    `event_attributes` Array(Map(LowCardinality(String), String)) CODEC(ZSTD)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/spans_local', '{replica}')
PARTITION BY toDate(start_time)
ORDER BY (service_name, kind, start_time, trace_id, span_id)
TTL toDateTime(start_time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`spans` ON CLUSTER `loadsense` AS `loadsense`.`spans_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `spans_local`, cityHash64(trace_id));

CREATE TABLE IF NOT EXISTS `loadsense`.`metric_points_local` ON CLUSTER `loadsense`
(
    `metric_name` LowCardinality(String),
    `metric_type` Enum8('gauge' = 1, 'sum' = 2, 'histogram' = 3, 'exponential_histogram' = 4, 'summary' = 5),
    `unit` LowCardinality(String),
    `temporality` Enum8('unspecified' = 0, 'delta' = 1, 'cumulative' = 2),
    `is_monotonic` UInt8,
    `service_name` LowCardinality(String),
    `host_name` LowCardinality(String),
    `attributes` Map(LowCardinality(String), String) CODEC(ZSTD),
    `resource_id` UInt64,
    `start_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `value` Float64 CODEC(Gorilla, ZSTD),
    `count` UInt64,
    `sum` Float64,
    `min` Float64,
    `max` Float64,
    `bucket_counts` Array(UInt64),
    `explicit_bounds` Array(Float64),
    `quantiles` Array(Float64),
    `quantile_values` Array(Float64),
    `flags` UInt32,
    `series_id` UInt64 MATERIALIZED cityHash64(metric_name, resource_id, mapSort(attributes))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/metric_points_local', '{replica}')
PARTITION BY toDate(time)
ORDER BY (metric_name, series_id, time)
TTL toDateTime(time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`metric_points` ON CLUSTER `loadsense` AS `loadsense`.`metric_points_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `metric_points_local`, cityHash64(metric_name, resource_id, mapSort(attributes)));

CREATE TABLE IF NOT EXISTS `loadsense`.`host_samples_local` ON CLUSTER `loadsense`
(
    `host_name` LowCardinality(String),
    `time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `resource` LowCardinality(String),
    `stall` LowCardinality(String),
    `source` LowCardinality(String),
    `device` LowCardinality(String),
    `value` Float64 CODEC(Gorilla, ZSTD),
    `start_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `temporality` Enum8('unspecified' = 0, 'delta' = 1, 'cumulative' = 2)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/host_samples_local', '{replica}')
PARTITION BY toDate(time)
ORDER BY (host_name, resource, stall, source, device, time)
TTL toDateTime(time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`host_samples` ON CLUSTER `loadsense` AS `loadsense`.`host_samples_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `host_samples_local`, cityHash64(host_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`queue_samples_local` ON CLUSTER `loadsense`
(
    `queue_name` String,
    `field` LowCardinality(String),
    `source` LowCardinality(String),
    `time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `start_time` DateTime64(9, 'UTC') CODEC(Delta, ZSTD),
    `value` Float64 CODEC(Gorilla, ZSTD),
    `service_name` LowCardinality(String),
    `host_name` LowCardinality(String),
    `temporality` Enum8('unspecified' = 0, 'delta' = 1, 'cumulative' = 2)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/queue_samples_local', '{replica}')
PARTITION BY toDate(time)
ORDER BY (queue_name, field, source, service_name, host_name, time)
TTL toDateTime(time) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`queue_samples` ON CLUSTER `loadsense` AS `loadsense`.`queue_samples_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `queue_samples_local`, cityHash64(queue_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`signal_points_local` ON CLUSTER `loadsense`
(
    `as_of` DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    `kind` LowCardinality(String),
    `subject` String,
    `field` LowCardinality(String),
    `value` Float64 CODEC(Gorilla, ZSTD)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/signal_points_local', '{replica}')
PARTITION BY toDate(as_of)
ORDER BY (kind, subject, field, as_of)
TTL toDateTime(as_of) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`signal_points` ON CLUSTER `loadsense` AS `loadsense`.`signal_points_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `signal_points_local`, cityHash64(kind, subject));

CREATE TABLE IF NOT EXISTS `loadsense`.`recommendation_log_local` ON CLUSTER `loadsense`
(
    `issued_at` DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    `workload` String,
    `class` LowCardinality(String),
    `action` LowCardinality(String),
    `previous_action` LowCardinality(String),
    `priority` UInt8,
    `max_concurrency` Nullable(UInt32),
    `regime` LowCardinality(String),
    `confidence` LowCardinality(String),
    `policy_version` LowCardinality(String),
    `reasons` String CODEC(ZSTD)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/loadsense/recommendation_log_local', '{replica}')
PARTITION BY toDate(issued_at)
ORDER BY (workload, issued_at)
TTL toDateTime(issued_at) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`recommendation_log` ON CLUSTER `loadsense` AS `loadsense`.`recommendation_log_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `recommendation_log_local`, cityHash64(workload));

CREATE TABLE IF NOT EXISTS `loadsense`.`alert_states_local` ON CLUSTER `loadsense`
(
    `rule` LowCardinality(String),
    `subject` String,
    `state` LowCardinality(String),
    `value` Float64,
    `since` DateTime64(3, 'UTC'),
    `updated_at` DateTime64(3, 'UTC'),
    `labels` Map(LowCardinality(String), String),
    `annotations` Map(LowCardinality(String), String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/alert_states_local', '{replica}', updated_at)
ORDER BY (rule, subject)
TTL toDateTime(updated_at) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`alert_states` ON CLUSTER `loadsense` AS `loadsense`.`alert_states_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `alert_states_local`, cityHash64(rule, subject));

CREATE TABLE IF NOT EXISTS `loadsense`.`span_steps_local` ON CLUSTER `loadsense`
(
    `step` DateTime('UTC') CODEC(Delta, ZSTD),
    `kind` Enum8('UNSPECIFIED' = 0, 'INTERNAL' = 1, 'SERVER' = 2, 'CLIENT' = 3, 'PRODUCER' = 4, 'CONSUMER' = 5),
    `service_name` LowCardinality(String),
    `host_name` LowCardinality(String),
    `spans` SimpleAggregateFunction(sum, UInt64),
    `errors` SimpleAggregateFunction(sum, UInt64),
    `first_start` SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    `last_start` SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    `durations` AggregateFunction(quantilesExactInclusive(0.5, 0.95, 0.99), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/span_steps_local', '{replica}')
PARTITION BY toDate(step)
ORDER BY (step, kind, service_name, host_name)
TTL toDateTime(step) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`span_steps` ON CLUSTER `loadsense` AS `loadsense`.`span_steps_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `span_steps_local`, cityHash64(service_name));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`span_steps_mv` ON CLUSTER `loadsense` TO `loadsense`.`span_steps_local` AS
SELECT
       toStartOfInterval(start_time, INTERVAL 10 SECOND) AS step,
       kind, service_name, host_name,
       count() AS spans, countIf(status_code = 2) AS errors,
       min(start_time) AS first_start, max(start_time) AS last_start,
       quantilesExactInclusiveStateIf(0.5, 0.95, 0.99)(duration_ns / 1e6, kind = 'SERVER') AS durations
FROM `loadsense`.`spans_local`
GROUP BY step, kind, service_name, host_name;

ALTER TABLE `loadsense`.`spans_local` ON CLUSTER `loadsense` MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE `loadsense`.`spans_local` ON CLUSTER `loadsense` ADD PROJECTION IF NOT EXISTS by_time (SELECT kind, start_time, service_name, host_name, duration_ns, status_code ORDER BY kind, start_time);

CREATE TABLE IF NOT EXISTS `loadsense`.`alert_transitions_local` ON CLUSTER `loadsense`
(
    `at` DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    `rule` LowCardinality(String),
    `fingerprint` String,
    `from_state` LowCardinality(String),
    `to_state` LowCardinality(String),
    `value` Nullable(Float64),
    `labels` Map(LowCardinality(String), String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/loadsense/alert_transitions_local', '{replica}')
PARTITION BY toDate(at)
ORDER BY (rule, at)
TTL toDateTime(at) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`alert_transitions` ON CLUSTER `loadsense` AS `loadsense`.`alert_transitions_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `alert_transitions_local`, cityHash64(rule, fingerprint));

CREATE TABLE IF NOT EXISTS `loadsense`.`run_states_local` ON CLUSTER `loadsense`
(
    `day` Date,
    `run_key` UInt64,
    `job_namespace` SimpleAggregateFunction(any, LowCardinality(String)),
    `job_name` SimpleAggregateFunction(any, String),
    `run_id` SimpleAggregateFunction(any, String),
    `first_ns` SimpleAggregateFunction(min, Int64),
    `last_ns` SimpleAggregateFunction(max, Int64),
    `start_ns` SimpleAggregateFunction(min, Int64),
    `end_key` SimpleAggregateFunction(max, Int128),
    `nominal_ns` SimpleAggregateFunction(min, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/run_states_local', '{replica}')
PARTITION BY day
ORDER BY (run_key)
TTL toDateTime(day) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`run_states` ON CLUSTER `loadsense` AS `loadsense`.`run_states_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `run_states_local`, run_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`run_states_mv` ON CLUSTER `loadsense` TO `loadsense`.`run_states_local` AS
SELECT p AS day, rk AS run_key,
       any(job_namespace) AS job_namespace, any(job_name) AS job_name, any(run_id) AS run_id,
       min(toUnixTimestamp64Nano(event_time)) AS first_ns,
       max(toUnixTimestamp64Nano(event_time)) AS last_ns,
       if(countIf(event_type = 'START') > 0,
          minIf(toUnixTimestamp64Nano(event_time), event_type = 'START'), 9223372036854775807) AS start_ns,
       max(if(multiIf(event_type = 'FAIL', 3, event_type = 'COMPLETE', 2, event_type = 'ABORT', 1, 0) > 0,
              toInt128(toUnixTimestamp64Nano(event_time)) * 4 + multiIf(event_type = 'FAIL', 3, event_type = 'COMPLETE', 2, event_type = 'ABORT', 1, 0), 0)) AS end_key,
       if(count(nominal_start_time) > 0,
          min(toUnixTimestamp64Nano(nominal_start_time)), 9223372036854775807) AS nominal_ns
FROM (SELECT *, toDate(event_time) AS p, cityHash64(job_namespace, job_name, run_id) AS rk
      FROM `loadsense`.`run_events_local`)
GROUP BY p, rk;

CREATE TABLE IF NOT EXISTS `loadsense`.`edge_states_local` ON CLUSTER `loadsense`
(
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `direction` Enum8('input' = 1, 'output' = 2),
    `source` LowCardinality(String),
    `first_time` SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    `last_time` SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/edge_states_local', '{replica}')
ORDER BY (job_namespace, job_name, dataset_namespace, dataset_name, direction, source)
TTL toDateTime(last_time) + toIntervalDay(30) WHERE source = 'run';

CREATE TABLE IF NOT EXISTS `loadsense`.`edge_states` ON CLUSTER `loadsense` AS `loadsense`.`edge_states_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `edge_states_local`, cityHash64(job_namespace, job_name));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`edge_states_mv` ON CLUSTER `loadsense` TO `loadsense`.`edge_states_local` AS
SELECT job_namespace, job_name, dataset_namespace, dataset_name,
       direction, source, min(event_time) AS first_time, max(event_time) AS last_time
FROM `loadsense`.`lineage_edges_local`
GROUP BY job_namespace, job_name, dataset_namespace, dataset_name, direction, source;

CREATE TABLE IF NOT EXISTS `loadsense`.`run_inputs_local` ON CLUSTER `loadsense`
(
    `run_id` String,
    `job_namespace` LowCardinality(String),
    `job_name` String,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `first_time` SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    `last_time` SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/run_inputs_local', '{replica}')
PARTITION BY toDate(last_time)
ORDER BY (run_id, job_namespace, job_name, dataset_namespace, dataset_name)
TTL toDateTime(last_time) + toIntervalDay(30)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`run_inputs` ON CLUSTER `loadsense` AS `loadsense`.`run_inputs_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `run_inputs_local`, cityHash64(run_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`run_inputs_mv` ON CLUSTER `loadsense` TO `loadsense`.`run_inputs_local` AS
SELECT run_id, job_namespace, job_name, dataset_namespace, dataset_name,
       min(event_time) AS first_time, max(event_time) AS last_time
FROM `loadsense`.`lineage_edges_local`
WHERE direction = 'input' AND run_id != ''
GROUP BY run_id, job_namespace, job_name, dataset_namespace, dataset_name;

CREATE TABLE IF NOT EXISTS `loadsense`.`late_updates_local` ON CLUSTER `loadsense`
(
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `first_event` SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    `last_insert` SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/late_updates_local', '{replica}')
ORDER BY (dataset_namespace, dataset_name)
TTL toDateTime(last_insert) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`late_updates` ON CLUSTER `loadsense` AS `loadsense`.`late_updates_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `late_updates_local`, cityHash64(dataset_namespace, dataset_name));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`late_updates_mv` ON CLUSTER `loadsense` TO `loadsense`.`late_updates_local` AS
SELECT dataset_namespace, dataset_name,
       min(event_time) AS first_event, max(now64(3)) AS last_insert
FROM `loadsense`.`dataset_updates_local`
WHERE event_time < now64(9) - toIntervalSecond(900)
GROUP BY dataset_namespace, dataset_name;

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_summaries_local` ON CLUSTER `loadsense`
(
    `boundary_ns` Int64,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `last_ns` Int64,
    `last_key` UInt128,
    `last_run` String,
    `producer` String,
    `updates` UInt64,
    `recent` Array(Int64)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/dataset_summaries_local', '{replica}')
PARTITION BY boundary_ns
ORDER BY (boundary_ns, dataset_namespace, dataset_name);

CREATE TABLE IF NOT EXISTS `loadsense`.`dataset_summaries` ON CLUSTER `loadsense` AS `loadsense`.`dataset_summaries_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `dataset_summaries_local`, cityHash64(dataset_namespace, dataset_name));

CREATE TABLE IF NOT EXISTS `loadsense`.`summary_marks_local` ON CLUSTER `loadsense`
(
    `boundary_ns` Int64,
    `previous_ns` Int64,
    `started` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/summary_marks_local', '{replica}')
ORDER BY (boundary_ns);

CREATE TABLE IF NOT EXISTS `loadsense`.`summary_marks` ON CLUSTER `loadsense` AS `loadsense`.`summary_marks_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `summary_marks_local`, boundary_ns);

ALTER TABLE `loadsense`.`run_events_local` ON CLUSTER `loadsense` ADD COLUMN IF NOT EXISTS outputs Array(Tuple(String, String)) AFTER event_hash;

ALTER TABLE `loadsense`.`run_events` ON CLUSTER `loadsense` ADD COLUMN IF NOT EXISTS outputs Array(Tuple(String, String)) AFTER event_hash;

CREATE TABLE IF NOT EXISTS `loadsense`.`run_outputs_local` ON CLUSTER `loadsense`
(
    `run_id` String,
    `dataset_namespace` LowCardinality(String),
    `dataset_name` String,
    `job_namespace` SimpleAggregateFunction(any, LowCardinality(String)),
    `job_name` SimpleAggregateFunction(any, String),
    `first_time` SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    `last_time` SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/run_outputs_local', '{replica}')
PARTITION BY toDate(last_time)
ORDER BY (run_id, dataset_namespace, dataset_name)
TTL toDateTime(last_time) + toIntervalDay(30)
SETTINGS index_granularity = 256, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`run_outputs` ON CLUSTER `loadsense` AS `loadsense`.`run_outputs_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `run_outputs_local`, cityHash64(run_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`declared_outputs_mv` ON CLUSTER `loadsense` TO `loadsense`.`dataset_updates` AS
SELECT DISTINCT o.dataset_namespace AS dataset_namespace, o.dataset_name AS dataset_name,
       c.event_time AS event_time, c.run_id AS run_id,
       c.job_namespace AS job_namespace, c.job_name AS job_name,
       CAST(NULL, 'Nullable(Int64)') AS row_count, CAST(NULL, 'Nullable(Int64)') AS size_bytes,
       CAST(NULL, 'Nullable(Int64)') AS file_count, '' AS lifecycle_state,
       toUInt64(0) AS event_hash
FROM (SELECT DISTINCT run_id, dataset_namespace, dataset_name FROM `loadsense`.`run_outputs_local`) AS o
INNER JOIN (
    SELECT run_id, event_time, job_namespace, job_name, outputs FROM `loadsense`.`run_events_local`
    WHERE event_type = 'COMPLETE' AND run_id IN (SELECT run_id FROM `loadsense`.`run_outputs_local`)
) AS c ON c.run_id = o.run_id
WHERE NOT has(c.outputs, (toString(o.dataset_namespace), o.dataset_name));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`complete_outputs_mv` ON CLUSTER `loadsense` TO `loadsense`.`dataset_updates` AS
SELECT DISTINCT o.dataset_namespace AS dataset_namespace, o.dataset_name AS dataset_name,
       c.event_time AS event_time, c.run_id AS run_id,
       c.job_namespace AS job_namespace, c.job_name AS job_name,
       CAST(NULL, 'Nullable(Int64)') AS row_count, CAST(NULL, 'Nullable(Int64)') AS size_bytes,
       CAST(NULL, 'Nullable(Int64)') AS file_count, '' AS lifecycle_state,
       toUInt64(0) AS event_hash
FROM (SELECT run_id, event_time, job_namespace, job_name, outputs FROM `loadsense`.`run_events_local`
      WHERE event_type = 'COMPLETE') AS c
INNER JOIN (
    SELECT DISTINCT run_id, dataset_namespace, dataset_name FROM `loadsense`.`run_outputs_local`
    WHERE run_id IN (SELECT run_id FROM `loadsense`.`run_events_local` WHERE event_type = 'COMPLETE')
) AS o ON o.run_id = c.run_id
WHERE NOT has(c.outputs, (toString(o.dataset_namespace), o.dataset_name));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`run_outputs_mv` ON CLUSTER `loadsense` TO `loadsense`.`run_outputs` AS
SELECT run_id, dataset_namespace, dataset_name,
       any(job_namespace) AS job_namespace, any(job_name) AS job_name,
       min(event_time) AS first_time, max(event_time) AS last_time
FROM `loadsense`.`lineage_edges_local`
WHERE direction = 'output' AND source = 'run' AND run_id != ''
GROUP BY run_id, dataset_namespace, dataset_name;

CREATE TABLE IF NOT EXISTS `loadsense`.`journal_watermarks_local` ON CLUSTER `loadsense`
(
    `stream` LowCardinality(String),
    `watermark_ns` Int64,
    `version` UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/journal_watermarks_local', '{replica}', version)
ORDER BY (stream);

CREATE TABLE IF NOT EXISTS `loadsense`.`journal_watermarks` ON CLUSTER `loadsense` AS `loadsense`.`journal_watermarks_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `journal_watermarks_local`, cityHash64(stream));

CREATE TABLE IF NOT EXISTS `loadsense`.`published_state_local` ON CLUSTER `loadsense`
(
    `name` LowCardinality(String),
    `version` UInt64,
    `as_of` DateTime64(3, 'UTC'),
    `body` String CODEC(ZSTD)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/loadsense/published_state_local', '{replica}', version)
ORDER BY (name);

CREATE TABLE IF NOT EXISTS `loadsense`.`published_state` ON CLUSTER `loadsense` AS `loadsense`.`published_state_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `published_state_local`, cityHash64(name));

ALTER TABLE `loadsense`.`run_inputs_local` ON CLUSTER `loadsense` MODIFY SETTING min_compress_block_size = 4096, max_compress_block_size = 8192;

CREATE TABLE IF NOT EXISTS `loadsense`.`input_arrivals_local` ON CLUSTER `loadsense`
(
    `inserted` DateTime64(3, 'UTC'),
    `run_id` String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/loadsense/input_arrivals_local', '{replica}')
PARTITION BY toDate(inserted)
ORDER BY (inserted, run_id)
TTL toDateTime(inserted) + toIntervalDay(1)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `loadsense`.`input_arrivals` ON CLUSTER `loadsense` AS `loadsense`.`input_arrivals_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `input_arrivals_local`, cityHash64(run_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`input_arrivals_mv` ON CLUSTER `loadsense` TO `loadsense`.`input_arrivals_local` AS
SELECT max(now64(3)) AS inserted, run_id
FROM `loadsense`.`lineage_edges_local`
WHERE direction = 'input' AND run_id != ''
GROUP BY run_id;

CREATE TABLE IF NOT EXISTS `loadsense`.`run_hours_local` ON CLUSTER `loadsense`
(
    `hour` DateTime('UTC'),
    `run_key` UInt64,
    `job_namespace` SimpleAggregateFunction(any, LowCardinality(String)),
    `job_name` SimpleAggregateFunction(any, String),
    `run_id` SimpleAggregateFunction(any, String),
    `first_ns` SimpleAggregateFunction(min, Int64),
    `last_ns` SimpleAggregateFunction(max, Int64),
    `start_ns` SimpleAggregateFunction(min, Int64),
    `end_key` SimpleAggregateFunction(max, Int128),
    `nominal_ns` SimpleAggregateFunction(min, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/loadsense/run_hours_local', '{replica}')
PARTITION BY toDate(hour)
ORDER BY (hour, run_key)
TTL toDateTime(hour) + toIntervalDay(30);

CREATE TABLE IF NOT EXISTS `loadsense`.`run_hours` ON CLUSTER `loadsense` AS `loadsense`.`run_hours_local`
ENGINE = Distributed(`loadsense`, `loadsense`, `run_hours_local`, run_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS `loadsense`.`run_hours_mv` ON CLUSTER `loadsense` TO `loadsense`.`run_hours_local` AS
SELECT p AS hour, rk AS run_key,
       any(job_namespace) AS job_namespace, any(job_name) AS job_name, any(run_id) AS run_id,
       min(toUnixTimestamp64Nano(event_time)) AS first_ns,
       max(toUnixTimestamp64Nano(event_time)) AS last_ns,
       if(countIf(event_type = 'START') > 0,
          minIf(toUnixTimestamp64Nano(event_time), event_type = 'START'), 9223372036854775807) AS start_ns,
       max(if(multiIf(event_type = 'FAIL', 3, event_type = 'COMPLETE', 2, event_type = 'ABORT', 1, 0) > 0,
              toInt128(toUnixTimestamp64Nano(event_time)) * 4 + multiIf(event_type = 'FAIL', 3, event_type = 'COMPLETE', 2, event_type = 'ABORT', 1, 0), 0)) AS end_key,
       if(count(nominal_start_time) > 0,
          min(toUnixTimestamp64Nano(nominal_start_time)), 9223372036854775807) AS nominal_ns
FROM (SELECT *, toStartOfHour(event_time) AS p, cityHash64(job_namespace, job_name, run_id) AS rk
      FROM `loadsense`.`run_events_local`)
GROUP BY p, rk;

DROP VIEW IF EXISTS `loadsense`.`run_states_mv` ON CLUSTER `loadsense`;

DROP TABLE IF EXISTS `loadsense`.`run_states` ON CLUSTER `loadsense` SYNC;

DROP TABLE IF EXISTS `loadsense`.`run_states_local` ON CLUSTER `loadsense` SYNC;


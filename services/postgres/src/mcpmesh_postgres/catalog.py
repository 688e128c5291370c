"""Catalog and statistics queries behind the metadata and health tools.

All are plain SELECTs on ``pg_catalog`` run by the read-only role; user input only ever
arrives as bind parameters.
"""

from __future__ import annotations

SYSTEM_SCHEMA_FILTER = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    " AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'"
)

LIST_SCHEMAS = f"""
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
       count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p')) AS tables,
       count(c.oid) FILTER (WHERE c.relkind IN ('v', 'm')) AS views,
       has_schema_privilege(n.oid, 'USAGE') AS usable
FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
WHERE {SYSTEM_SCHEMA_FILTER}
GROUP BY n.oid, n.nspname, n.nspowner
ORDER BY n.nspname
"""

#: $1 schema, $2 kinds (relkind letters)
LIST_RELATIONS = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                      WHEN 'f' THEN 'foreign table' END AS kind,
       CASE WHEN c.relkind IN ('r', 'p', 'm') THEN greatest(c.reltuples, 0)::bigint END
           AS row_estimate,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind::text = ANY($2::text[])
ORDER BY kind, c.relname
"""

LIST_EXTENSIONS = """
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema,
       obj_description(e.oid, 'pg_extension') AS comment
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname
"""

#: $1 schema, $2 name
RELATION = """
SELECT c.oid, c.relkind,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                      WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END AS kind,
       greatest(c.reltuples, 0)::bigint AS row_estimate,
       pg_total_relation_size(c.oid) AS total_bytes,
       obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
"""

#: $1 relation oid
COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default,
       CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
       col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

CONSTRAINTS = """
SELECT conname AS name,
       CASE contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key' WHEN 'u' THEN 'unique'
                    WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' WHEN 'n' THEN 'not null'
                    ELSE contype::text END AS type,
       pg_get_constraintdef(oid, true) AS definition
FROM pg_constraint WHERE conrelid = $1 AND contype <> 'n'
ORDER BY contype, conname
"""

INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
       x.indisunique AS unique, x.indisprimary AS primary, x.indisvalid AS valid,
       pg_relation_size(x.indexrelid) AS bytes
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1
ORDER BY i.relname
"""

HAS_PG_STAT_STATEMENTS = (
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'pg_stat_statements'"
)

#: {schema} is the extension's schema (from the catalog, quoted); $1 limit
TOP_QUERIES = """
SELECT left(query, 2000) AS query, calls, round(total_exec_time::numeric, 3) AS total_ms,
       round(mean_exec_time::numeric, 3) AS mean_ms, rows,
       round((100.0 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0))::numeric, 2)
           AS cache_hit_percent
FROM {schema}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY {order} DESC
LIMIT $1
"""

TOP_QUERY_ORDER = {
    "total_time": "total_exec_time",
    "mean_time": "mean_exec_time",
    "calls": "calls",
    "rows": "rows",
}

HEALTH_CONNECTIONS = """
SELECT current_setting('max_connections')::int AS max_connections,
       count(*) AS total,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'idle') AS idle,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
       coalesce(max(extract(epoch FROM now() - xact_start))
                FILTER (WHERE state <> 'idle'), 0)::float8 AS longest_transaction_seconds
FROM pg_stat_activity WHERE backend_type = 'client backend'
"""

HEALTH_CACHE = """
SELECT round((100.0 * blks_hit / nullif(blks_hit + blks_read, 0))::numeric, 2)::float8
           AS cache_hit_percent,
       xact_commit, xact_rollback, deadlocks, temp_bytes,
       age(d.datfrozenxid) AS xid_age
FROM pg_stat_database s JOIN pg_database d ON d.oid = s.datid
WHERE s.datname = current_database()
"""

HEALTH_VACUUM = """
SELECT schemaname AS schema, relname AS table, n_live_tup AS live_rows,
       n_dead_tup AS dead_rows,
       round((100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0))::numeric, 1)::float8
           AS dead_percent,
       greatest(last_vacuum, last_autovacuum) AS last_vacuum,
       greatest(last_analyze, last_autoanalyze) AS last_analyze
FROM pg_stat_user_tables
ORDER BY n_dead_tup DESC, relname
LIMIT 10
"""

HEALTH_INVALID_INDEXES = """
SELECT n.nspname AS schema, i.relname AS index, t.relname AS table
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE NOT x.indisvalid
ORDER BY 1, 2
"""

#: $1 schema prefix pattern, for completion
TABLE_NAMES = f"""
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMA_FILTER}
ORDER BY 1, 2
"""

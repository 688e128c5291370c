-- top_queries reads pg_stat_statements (the server preloads it: see docker-compose.yml).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

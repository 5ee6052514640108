-- Internal: Parquet days whose file must be (re)written from DuckDB. Rows are added in the same transaction
-- as the data and removed once the day's file is in place, so a process killed between the DuckDB commit
-- and the Parquet rewrite leaves a durable to-do that the next writer finishes.
CREATE TABLE IF NOT EXISTS parquet_exports_pending (
    table_name VARCHAR NOT NULL,
    day        DATE NOT NULL,
    queued_at  TIMESTAMPTZ NOT NULL
);

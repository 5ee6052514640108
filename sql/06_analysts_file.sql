-- Internal: what the pipeline last wrote into the analysts' file (RTK_DUCKDB_PATH), so it can tell without
-- opening that file (which an analyst may hold) whether its view definitions are out of date.
CREATE TABLE IF NOT EXISTS analysts_file (
    path        VARCHAR NOT NULL,   -- the analysts' file, absolute
    parquet_dir VARCHAR NOT NULL,   -- the absolute Parquet folder its views read
    fingerprint VARCHAR NOT NULL,   -- sha256 of the definitions written
    inode       BIGINT NOT NULL,    -- of the file written (a replaced file is rewritten)
    written_at  TIMESTAMPTZ NOT NULL
);

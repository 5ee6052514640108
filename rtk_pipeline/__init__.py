"""rtk-pipeline: an analytics copy of Cloudflare RealtimeKit meetings in DuckDB and Parquet."""

__version__ = "0.1.0"

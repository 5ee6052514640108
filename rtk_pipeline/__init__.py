"""rtk-pipeline: an analytics copy of Cloudflare RealtimeKit meetings in DuckDB and Parquet."""

from rtk_pipeline.arrowpool import prefer_system_allocator

prefer_system_allocator()  # first: Arrow reads its allocator choice once (arrowpool.py)

__version__ = "0.1.0"

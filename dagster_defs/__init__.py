"""Thin Dagster layer over `rtk_pipeline`: resources, partitions, assets, checks, jobs and schedules."""

"""Only what pyproject.toml cannot say: ship the top-level sql/ folder as the package `rtk_pipeline.sql`."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["rtk_pipeline*", "dagster_defs*"]), "rtk_pipeline.sql"],
    package_dir={"rtk_pipeline.sql": "sql"},
)

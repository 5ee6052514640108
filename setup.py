"""Only what pyproject.toml cannot say: ship the top-level sql/ folder as the package `rtk_pipeline.sql`
(`packages.find` cannot add a package from another folder). Data-only folders are namespace packages."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["rtk_pipeline*", "dagster_defs*"], exclude=["*.__pycache__"]),
        "rtk_pipeline.sql",
        "rtk_pipeline.sql.views",
    ],
    package_dir={"rtk_pipeline.sql": "sql"},
)

"""Running the pipeline on one machine against the bundled emulator: shared by `demo` and `dev`.

Both use the same seeded emulator (same seed, same days, data ending at today's UTC midnight), the same
DuckDB file and Parquet folder, and the same DAGSTER_HOME next to them, so the Dagster UI started by
`make dev` shows the runs, materializations and check results of the last `rtk-pipeline demo`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.settings import DUCKDB_PATH, PARQUET_DIR, RATE_LIMIT_PERIOD_S, RATE_LIMIT_REQUESTS, STORE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Shipped as package data, so a wheel install has it too.
INSTANCE_TEMPLATE = files("dagster_defs") / "dagster_home" / "dagster.yaml"
# The emulator enforces no budget unless asked to; the client's limiter need not pace requests to it.
EMULATOR_RATE_LIMIT = {RATE_LIMIT_REQUESTS.name: "100000", RATE_LIMIT_PERIOD_S.name: "10"}


def warehouse_paths(env: dict[str, str] | None = None) -> tuple[Path, Path]:
    """RTK_DUCKDB_PATH / RTK_PARQUET_DIR (defaults under data/), made absolute from the current directory."""
    return DUCKDB_PATH.read(env).resolve(), PARQUET_DIR.read(env).resolve()


def prepare_dagster_home(home: Path, template: Traversable | None = None) -> Path:
    """Create a DAGSTER_HOME with this project's instance config (pools, run queue, run retries), or the
    given template's; an existing dagster.yaml is left alone."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        target.write_bytes((template or INSTANCE_TEMPLATE).read_bytes())
    return home


def emulator_config(meetings: int, days: int, seed: int) -> EmulatorConfig:
    """`days` complete UTC days ending at today's midnight: exactly the latest `days` partitions."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return EmulatorConfig(meetings=meetings, days=days, seed=seed, end=today, secrets=True)


def first_day(config: EmulatorConfig) -> datetime:
    """The first day of the emulator's data: `days` before its end (which its config always fills in)."""
    if config.end is None:
        raise ValueError("an EmulatorConfig without an end day")
    return config.end - timedelta(days=config.days)


def emulator_env(emu: Emulator, duckdb_path: Path, parquet_dir: Path) -> dict[str, str]:
    """The environment the resources read (EnvVar) when pointed at the emulator."""
    return {
        **emu.env(),
        STORE.name: "duckdb",  # the demo and `dev` show the one-machine warehouse, whatever the shell says
        DUCKDB_PATH.name: str(duckdb_path),
        PARQUET_DIR.name: str(parquet_dir),
        # Against the emulator, deactivating stale meetings is the point; against a real account the
        # sensor ships stopped until someone turns it on.
        "RTK_STALE_SENSOR": "on",
        **EMULATOR_RATE_LIMIT,
    }

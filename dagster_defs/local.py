"""Running the pipeline on one machine against the bundled emulator: shared by `demo` and `dev`.

Both use the same seeded emulator (same seed, same days), the same DuckDB file and Parquet folder, the same
first partition and the same DAGSTER_HOME next to them, so the Dagster UI started by `make dev` shows the
runs, materializations and check results of the last `rtk-pipeline demo`. The demo's data ends at today's
UTC midnight and it notes that day beside the warehouse; `dev` serves the same days, even when the UTC day
has rolled over since.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.settings import (
    DUCKDB_PATH,
    PARQUET_DIR,
    PARTITIONS_START,
    RATE_LIMIT_PERIOD_S,
    RATE_LIMIT_REQUESTS,
    STALE_SENSOR,
    STORE,
    env_text,
)

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


# Beside the DuckDB file: the UTC day the last demo's data ended on.
DEMO_END_FILE = ".demo_end"


def emulator_config(meetings: int, days: int, seed: int, end: date | None = None) -> EmulatorConfig:
    """`days` complete UTC days ending at `end`'s midnight (default today's): the latest `days` partitions."""
    day = end or datetime.now(UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return EmulatorConfig(meetings=meetings, days=days, seed=seed, end=midnight, secrets=True)


def pin_demo_end(duckdb_path: Path, end: date) -> None:
    """Note the day the demo's data ends, for `dev` to serve the same days."""
    (duckdb_path.parent / DEMO_END_FILE).write_text(end.isoformat() + "\n", encoding="utf-8")


def demo_end(duckdb_path: Path) -> date | None:
    """The day the last demo's data ended on (None without a demo, or an unreadable note)."""
    try:
        return date.fromisoformat((duckdb_path.parent / DEMO_END_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def partitions_env(config: EmulatorConfig) -> dict[str, str]:
    """The first partition: the emulator's first day, unless the shell chose one."""
    return {PARTITIONS_START.name: env_text(PARTITIONS_START.name, first_day(config).date().isoformat())}


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
        STALE_SENSOR.name: "on",
        **EMULATOR_RATE_LIMIT,
    }

"""The workloads `run.py` measures (issue 6's W1-W4; W3 sized as issue 14's memory curve): each case's
emulator data set and contenders, and what one contender's run measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from harness import Measured

END = datetime(2026, 11, 1, tzinfo=UTC)
UNLIMITED = (1_000_000_000, 1.0)  # no client-side budget where the emulator enforces none
W4_BUDGET = (100, 5.0)  # emulator: 100 requests per 5 s (20/s), then a lockout
W4_HEADROOM = 0.95  # the client is configured just below the emulator's budget
BEFORE_SUFFIX = "-before"  # a contender running the code of `--before REV`


@dataclass
class Case:
    """One emulator data set and the contenders measured against it."""

    name: str
    meetings: int
    participants: bool
    contenders: list[str]
    days: int = 30
    faults: dict = field(default_factory=dict)
    client_budget: tuple[int, float] = UNLIMITED
    workers: int = 8
    rounds: int | None = None  # None: the run's --rounds
    before: str = ""  # the revision the *-before contenders run

    @property
    def emulator(self) -> dict:
        return {
            "meetings": self.meetings,
            "days": self.days,
            "seed": 7,
            "end": END.isoformat(),
            "participants_mean": 4.0 if self.participants else 0.0,
        }

    @property
    def day_range(self) -> tuple[date, date]:
        return (END - timedelta(days=self.days)).date(), (END - timedelta(days=1)).date()


def cases(
    workloads: list[str],
    quick: bool,
    *,
    dlt_in_w2: bool,
    dlt_in_w3: bool,
    w3_rounds: int,
    w1_rounds: int | None = None,
) -> list[Case]:
    """The workloads of issue 6 (W3 sized as issue 14's memory curve); `quick` divides every size by ten
    (a smoke run, not a result)."""
    k = 10 if quick else 1
    both = ["rtk", "rtk-before", "dagster", "dagster-before"]
    out: list[Case] = []
    if "W1" in workloads:  # the Delta backend only when asked for (--contenders)
        w1 = ["rtk", "floor", *both[1:], "dlt", "rtk-delta", "rtk-delta-s3"]
        out.append(Case("W1", 20_000 // k, True, w1, rounds=w1_rounds))
    if "W2" in workloads:
        # dlt is sequential: 360 s a round at 100 ms latency, and W2's target is a bound, not a ratio.
        w2 = [*both, "dlt"] if dlt_in_w2 else both
        out.append(Case("W2", 2_000 // k, True, w2, faults={"latency_s": 0.1}))
    if "W3" in workloads:
        # The memory curve: 10k..50k meetings with participants (100k adds ~5 min a contender on a
        # loaded machine), 10k..1M meetings only. dlt takes ~4/~40 min a round at 10k/100k with
        # participants: opt-in.
        sizes = [(n, True) for n in (10_000, 20_000, 50_000)]
        sizes += [(n, False) for n in (10_000, 20_000, 100_000, 1_000_000)]
        for n, participants in sizes:
            tag = "" if participants else " meetings only"
            w3 = ["rtk", "rtk-before"] + (["dlt"] if dlt_in_w3 and n <= 100_000 else [])
            out.append(Case(f"W3 {n // k:,}{tag}", n // k, participants, w3, rounds=w3_rounds))
    if "W4" in workloads:
        budget = (int(W4_BUDGET[0] * W4_HEADROOM), W4_BUDGET[1])
        faults = {"rate_limit": list(W4_BUDGET), "lockout_s": 60.0}
        out.append(Case("W4", 500 // k, True, both, faults=faults, client_budget=budget))
    return out


@dataclass
class Run:
    contender: str
    round: int
    measured: Measured
    requests: int
    statuses: dict
    endpoints: dict
    max_5s: int
    max_1s: int
    emulator_cpu_s: float
    load_average: float = 0.0  # 1-minute load average when the run ended

    @property
    def rows(self) -> int:
        return sum(self.measured.report.get("rows", {}).values())

"""Real servers for the beyond-one-machine tests, each started here and stopped by its PID.

- `MotoS3`: `moto_server` (moto[server] from the dev extra) on 127.0.0.1 and a free port: an S3 endpoint
  that honours `If-None-Match: *`, as delta-rs needs.
- `Postgres`: a throwaway cluster, `initdb` + `pg_ctl start` on a temporary folder, loopback port. Run as the
  `postgres` user when the tests run as root (initdb refuses root). `.ci/run` installs Debian's package when
  the binaries are missing; where it cannot be installed at all, `postgres_binaries()` says why, loudly.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port

BUCKET = "rtk-lake"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "TEST-AKID-not-a-secret",
    "AWS_SECRET_ACCESS_KEY": "TEST-SECRET-KEY-must-never-be-logged",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal one process and wait for it to go; SIGKILL if it will not."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:  # our child: reap it (a zombie still answers kill(pid, 0))
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class MotoS3:
    """`moto_server` in its own process; `env` points the AWS variables (and so rtk-pipeline) at it."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {**S3_ENV, "AWS_ENDPOINT_URL": self.endpoint}
        self._log = open(log_dir / "moto_server.log", "wb")  # noqa: SIM115 - closed in stop()
        server = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)], stdout=self._log, stderr=self._log
        )
        self._wait_ready()
        self.client().create_bucket(Bucket=BUCKET)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer within 30 s")

    def client(self) -> Any:
        import botocore.session

        return botocore.session.Session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def uri(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under a prefix, with its bytes (to search them for secrets)."""
        client, out = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                out[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        return out

    def stop(self) -> None:
        # In-memory, nothing to flush; werkzeug's threaded server can linger on SIGTERM while clients keep
        # connections alive.
        stop_pid(self.proc.pid, signal.SIGKILL)
        self._log.close()


def postgres_binaries() -> tuple[Path | None, str]:
    """(folder holding initdb/pg_ctl, "") or (None, why not)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent, ""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(candidate).parent, ""
    return None, (
        "PostgreSQL is not installed (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin): "
        "THE DAGSTER-ON-POSTGRES TESTS DID NOT RUN. Install it (`apt-get install postgresql`; .ci/run does)"
    )


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1; `url` is what dagster-postgres connects to."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.port = free_port()
        self.data = root / "pgdata"
        self.bindir = bindir
        self.prefix: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # initdb refuses to run as root: use the package's service user
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "rtk", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.log = root / "postgres.log"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={root} -c fsync=off",
            "start",
        )
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        # The driver named explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, while
        # dagster-postgres brings psycopg2.
        self.url = f"postgresql+psycopg2://rtk@127.0.0.1:{self.port}/postgres"
        self.dsn = f"postgresql://rtk@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bindir / tool), *args], check=True, capture_output=True)

    def stop(self) -> None:
        stop_pid(self.pid, signal.SIGINT, timeout=30)  # SIGINT = PostgreSQL's "fast" shutdown

"""A real BuildGrid on 127.0.0.1: PostgreSQL, the BuildGrid server and buildbox bots.

Used by run_buildgrid.py. Everything runs under one work directory and is stopped by
`BuildGridStack.stop()` (the caller runs it from `finally` and from signal handlers): PostgreSQL on
a fresh data directory, `bgd server start` with the checked-in configuration template, and per bot
one `buildbox-casd` (the bot's local CAS, proxying to BuildGrid's) and one `buildbox-worker` that
runs actions with `buildbox-run-hosttools` in its own session, so that killing a bot kills the
action it was running too.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import time
from typing import IO

CONFIG_TEMPLATE = pathlib.Path(__file__).with_name("buildgrid.yml.in")


class StackError(RuntimeError):
    """A part of the stack did not start; the message says which and where its log is."""


def find_tool(name: str, explicit: str | None = None) -> str:
    """The absolute path of `name` (or of `explicit` when given), or a StackError saying how to install it."""
    candidate = explicit or shutil.which(name)
    if not candidate or not os.access(candidate, os.X_OK):
        raise StackError(
            f"{explicit or name} not found; run tests/remote_execution/setup.sh (Debian's buildbox, "
            "postgresql and a BuildGrid virtual environment) first"
        )
    return os.path.abspath(candidate)


def postgres_bindir() -> pathlib.Path:
    """The directory holding initdb and pg_ctl of the newest installed PostgreSQL."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise StackError("PostgreSQL's initdb not found under /usr/lib/postgresql; run setup.sh first")
    return pathlib.Path(candidates[-1]).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, what: str, log: pathlib.Path) -> None:
    """Waits until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise StackError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s; see {log}")


def wait_for_path(path: pathlib.Path, timeout_s: float, what: str, log: pathlib.Path) -> None:
    """Waits until `path` exists (a UNIX socket a daemon creates once it serves)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not create {path} within {timeout_s:.0f} s; see {log}")


@dataclasses.dataclass
class Bot:
    """One bot: its local CAS daemon and its worker, each the leader of its own session."""

    name: str
    bot_id: str
    casd: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    directory: pathlib.Path

    def session_processes(self, session: int | None = None) -> list[tuple[int, str]]:
        """(pid, command line) of every process in a session, by default the worker's: it, its runner, the action."""
        session = self.worker.pid if session is None else session
        processes = []
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getsid(int(entry.name)) != session:
                    continue
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ProcessLookupError):
                continue
            processes.append((int(entry.name), command))
        return processes

    def running(self, needle: str) -> bool:
        """Whether a process of this bot's session has `needle` in its command line."""
        return any(needle in command for pid, command in self.session_processes() if pid != self.worker.pid)

    def kill(self) -> None:
        """SIGKILL for every process of the bot's sessions (worker, runner, action; casd). A machine dying."""
        for leader in (self.worker, self.casd):
            for pid in [leader.pid] + [pid for pid, _ in self.session_processes(leader.pid) if pid != leader.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            leader.wait()


class BuildGridStack:
    """PostgreSQL + BuildGrid + bots under `work_dir`; `start()` then `stop()` (idempotent)."""

    def __init__(self, work_dir: pathlib.Path, bgd: str, bot_count: int, instance: str = "") -> None:
        self.work_dir = work_dir
        self.bgd = find_tool("bgd", bgd)
        self.casd = find_tool("buildbox-casd")
        self.worker = find_tool("buildbox-worker")
        self.runner = find_tool("buildbox-run-hosttools")
        self.pg_bin = postgres_bindir()
        self.bot_count = bot_count
        self.instance = instance
        self.port = free_port()
        self.pg_port = free_port()
        self.pg_dir = work_dir / "postgres"
        self.bots: list[Bot] = []
        self._server: subprocess.Popen[bytes] | None = None
        self._postgres_started = False
        self._logs: list[IO[bytes]] = []

    @property
    def endpoint(self) -> str:
        """The URL Bazel's --remote_executor takes."""
        return f"grpc://127.0.0.1:{self.port}"

    def _log(self, name: str) -> tuple[pathlib.Path, IO[bytes]]:
        path = self.work_dir / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "wb")
        self._logs.append(handle)
        return path, handle

    def _as_postgres(self, argv: list[str]) -> list[str]:
        """PostgreSQL refuses to run as root: as root, run `argv` as the postgres user."""
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> None:
        """Starts PostgreSQL, migrates BuildGrid's schema, starts the server and the bots."""
        self._start_postgres()
        self._start_server()
        for index in range(1, self.bot_count + 1):
            self.start_bot(f"bot{index}")

    def _start_postgres(self) -> None:
        self.pg_dir.mkdir(parents=True)
        if os.geteuid() == 0:
            postgres_user = pwd.getpwnam("postgres")
            os.chown(self.pg_dir, postgres_user.pw_uid, postgres_user.pw_gid)
        data = self.pg_dir / "data"
        log_path, log = self._log("postgres-initdb.log")
        subprocess.run(
            self._as_postgres([str(self.pg_bin / "initdb"), "-A", "trust", "-U", "postgres", "-D", str(data)]),
            stdout=log, stderr=subprocess.STDOUT, check=True,
        )
        options = f"-h 127.0.0.1 -p {self.pg_port} -k {self.pg_dir}"
        subprocess.run(
            self._as_postgres([str(self.pg_bin / "pg_ctl"), "-D", str(data), "-o", options,
                               "-l", str(self.pg_dir / "postgres.log"), "-w", "start"]),
            stdout=log, stderr=subprocess.STDOUT, check=True,
        )
        self._postgres_started = True
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-q", "-c", "CREATE DATABASE bgd"],
            stdout=log, stderr=subprocess.STDOUT, check=True,
        )

    def _start_server(self) -> None:
        # psycopg2 explicitly: BuildGrid's LISTEN/NOTIFY code needs a psycopg2 connection, and
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3 (then every bot and every client
        # falls back to slow polling, with AttributeError tracebacks in the server log).
        database_url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/bgd"
        log_path, log = self._log("bgd-migrate.log")
        subprocess.run([self.bgd, "migrate", "apply", database_url], stdout=log, stderr=subprocess.STDOUT, check=True)
        cas_dir = self.work_dir / "cas"
        cas_dir.mkdir()
        config = (
            CONFIG_TEMPLATE.read_text()
            .replace("@PORT@", str(self.port))
            .replace("@DATABASE_URL@", database_url)
            .replace("@CAS_DIR@", str(cas_dir))
            .replace("@INSTANCE@", self.instance)
        )
        config_path = self.work_dir / "buildgrid.yml"
        config_path.write_text(config)
        log_path, log = self._log("bgd-server.log")
        self._server = subprocess.Popen(
            [self.bgd, "server", "start", str(config_path)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port, 60, "BuildGrid", log_path)

    def _instance_flag(self) -> list[str]:
        # buildbox takes no empty value; leaving the flag out means the instance "".
        return [f"--instance={self.instance}"] if self.instance else []

    def start_bot(self, name: str) -> Bot:
        """Starts one bot (casd + worker) advertising OSFamily=linux and ISA=x86-64."""
        directory = self.work_dir / name
        (directory / "cache").mkdir(parents=True)
        socket_path = directory / "casd.sock"
        casd_log_path, casd_log = self._log(f"{name}-casd.log")
        casd = subprocess.Popen(
            [self.casd, f"--cas-remote=http://127.0.0.1:{self.port}", *self._instance_flag(),
             f"--bind=unix:{socket_path}", str(directory / "cache")],
            stdout=casd_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_path(socket_path, 30, f"{name}'s buildbox-casd", casd_log_path)
        worker_log_path, worker_log = self._log(f"{name}-worker.log")
        bot_id = f"{name}-{os.getpid()}-{time.time_ns()}"
        worker = subprocess.Popen(
            [self.worker, f"--bots-remote=http://127.0.0.1:{self.port}", *self._instance_flag(),
             f"--cas-remote=unix:{socket_path}", f"--buildbox-run={self.runner}",
             "--platform", "OSFamily=linux", "--platform", "ISA=x86-64",
             # Poll often: BuildGrid reaps a bot (and requeues its job) 30 s after its last call
             # (bot-session-keepalive-timeout in buildgrid.yml.in).
             "--max-wait-time=5",
             # The bot id must be new for every start: BuildGrid keeps a session per id.
             bot_id],
            stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        bot = Bot(name=name, bot_id=bot_id, casd=casd, worker=worker, directory=directory)
        self.bots.append(bot)
        time.sleep(1.0)
        if worker.poll() is not None:
            raise StackError(f"{name}'s buildbox-worker exited with {worker.returncode}; see {worker_log_path}")
        return bot

    def jobs(self, action_hash: str) -> list[dict[str, str]]:
        """BuildGrid's job records for one action digest hash: tries, bot, start and end, oldest first."""
        query = (
            "SELECT n_tries, worker_name, worker_start_timestamp, worker_completed_timestamp FROM jobs "
            f"WHERE action_digest LIKE '{action_hash}/%' ORDER BY queued_timestamp"
        )
        output = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-At", "-F", "|", "-c", query, "bgd"],
            check=True, capture_output=True, text=True,
        ).stdout
        keys = ("n_tries", "worker_name", "started", "completed")
        return [dict(zip(keys, line.split("|"))) for line in output.splitlines() if line]

    def alive_bots(self) -> list[Bot]:
        """The bots whose worker still runs."""
        return [bot for bot in self.bots if bot.worker.poll() is None]

    def stop(self) -> None:
        """Stops bots, server and PostgreSQL; safe to call more than once and after a partial start."""
        for bot in self.bots:
            for process in (bot.worker, bot.casd):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in (bot.worker, bot.casd):
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self._server is not None and self._server.poll() is None:
            os.killpg(self._server.pid, signal.SIGTERM)
            try:
                self._server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._server.pid, signal.SIGKILL)
                self._server.wait()
        if self._postgres_started:
            subprocess.run(
                self._as_postgres([str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_dir / "data"), "-m", "fast", "-w", "stop"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )
            self._postgres_started = False
        for handle in self._logs:
            handle.close()
        self._logs = []

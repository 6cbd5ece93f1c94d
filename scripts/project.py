#!/usr/bin/env python3
"""Set up gridledger in this folder, then run it or test it.

    python3 scripts/project.py run [--port N] [--host H]
        set up, start the node, deploy, build the demo subdistrict, then run the worker
        and the web app (gunicorn) in the foreground and print the URL and the demo
        log-ins; a worker, web app or node that dies is started again (after 1 s, doubling
        to 30 s while it keeps dying); Ctrl-C stops the web app, the worker and the node
        (state stays in var/)
    python3 scripts/project.py test [PYTEST ARGS]
        set up, run the test suite in two processes (GRIDLEDGER_TEST_WORKERS to change
        that); with arguments, pytest runs just those, in one process
    python3 scripts/project.py setup
        set up only: after changing pyproject.toml, package.json or a messages.po

Needs only Python 3.11+ and Node.js 20+ (with npm). Everything is installed into the
project folder: a virtual environment in .venv/ (the package with its demo and test
extras), npm packages in node_modules/, the web app's Chinese catalogues compiled
(messages.po -> messages.mo, with pybabel), and machine state (chain, database, keys,
logs) in var/. Each step is skipped when already done, so running again is quick and
creates nothing twice.

Uses only the standard library: it runs before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
GRIDLEDGER = BIN / "gridledger"
DEFAULT_WEB_PORT = 8000
WEB_READY_TIMEOUT = 60.0  # seconds for gunicorn to answer its first request
STOP_TIMEOUT = 45.0  # seconds a service may take to stop (gunicorn lets requests finish: 30 s)
LOG_KEEP_BYTES = 10 * 1024 * 1024  # a log larger than this at start is moved to *.log.1
RESTART_FIRST = 1.0  # s before a service that died is started again …
RESTART_LIMIT = 30.0  # … doubling while it keeps dying, up to this …
RESTART_HEALTHY = 60.0  # … and back to the first once it has stayed up this long
#: The optional dependencies installed with the package: both run and test build the demo.
EXTRAS = ("demo", "test")
NODE_ASK_EVERY = 5.0  # s between 'gridledger node status' questions when the pid file does not answer


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def var_dir() -> Path:
    """Machine state: GRIDLEDGER_VAR (relative to the project folder) or var/."""
    return (ROOT / os.environ.get("GRIDLEDGER_VAR", "var")).resolve()


def shown(path: Path) -> str:
    """A path relative to the project folder when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def run(*command: str | Path, env: dict[str, str] | None = None, quiet: bool = False) -> None:
    """Runs ``command`` in the project folder; fails when it does. ``quiet``: its output is
    shown only if it fails (pip's build backend prints notices about editable installs that
    are no concern of someone setting up)."""
    result = subprocess.run(
        [str(c) for c in command], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
    )  # fmt: skip
    if result.returncode != 0:
        if quiet:
            print(result.stdout, file=sys.stderr)
        fail(f"'{' '.join(str(c) for c in command)}' exited with {result.returncode}")


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def check_tools() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs under any python3, before the venv
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        fail("Node.js 20+ with npm is needed (for Anvil, solc-js and OpenZeppelin); install it and run again")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        fail(f"Node.js 20 or newer is needed; found {version}")


def setup() -> None:
    check_tools()
    stamp = VENV / ".gridledger-installed"
    wanted = f"{digest(ROOT / 'pyproject.toml')} [{','.join(EXTRAS)}]"
    if not PYTHON.exists():
        say("creating the virtual environment in .venv/")
        run(sys.executable, "-m", "venv", VENV)
    if not stamp.exists() or stamp.read_text() != wanted:
        say("installing Python packages into .venv/")
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip", quiet=True)
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{','.join(EXTRAS)}]", quiet=True)
        stamp.write_text(wanted)
    npm_stamp = ROOT / "node_modules" / ".gridledger-installed"
    npm_wanted = digest(ROOT / "package.json", ROOT / "package-lock.json")
    if not npm_stamp.exists() or npm_stamp.read_text() != npm_wanted:
        say("installing pinned npm packages into node_modules/ (npm ci)")
        run(shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund")
        npm_stamp.write_text(npm_wanted)
    compiled = compile_catalogues()
    if compiled:
        say(f"compiled {len(compiled)} Chinese catalogue(s) of the web app (pybabel compile)")


#: The web app's catalogues: one beside the app's shared files, one beside each blueprint.
CATALOGUES = "webapp/**/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def compile_catalogues(root: Path = ROOT, pybabel: Path = BIN / "pybabel") -> list[Path]:
    """Compiles each catalogue whose ``messages.mo`` is missing or older than its
    ``messages.po`` with babel's ``pybabel compile``; returns the ``.mo`` files written.
    Each is written beside the other under a temporary name first and then renamed, so an
    interrupted set-up leaves no half-written catalogue that looks fresh. The web app only
    reads them (and names this step when one is missing)."""
    written: list[Path] = []
    for po in sorted(root.glob(CATALOGUES)):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        draft = mo.with_name(f".messages-{os.getpid()}.mo")
        try:
            result = subprocess.run([str(pybabel), "compile", "-i", str(po), "-o", str(draft)],
                                    cwd=root, capture_output=True, text=True)  # fmt: skip
            if result.returncode != 0 or not draft.exists():
                fail(f"pybabel could not compile {shown(po)} (exit {result.returncode}): "
                     f"{(result.stderr or result.stdout).strip()}")  # fmt: skip
            os.replace(draft, mo)
        finally:
            draft.unlink(missing_ok=True)
        written.append(mo)
    return written


def demo_env() -> dict[str, str]:
    """The environment for the demo: a keystore password from the environment, or a
    random one kept in var/ (a demo convenience; see docs/operations.md)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # the services' logs are written as they happen
    if env.get("GRIDLEDGER_KEY_PASSWORD") or env.get("GRIDLEDGER_KEY_PASSWORD_FILE"):
        return env
    password_file = var_dir() / "demo-key-password"
    if not password_file.exists():
        password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    env["GRIDLEDGER_KEY_PASSWORD_FILE"] = str(password_file)
    return env


# -- the services: node, worker and web app, supervised in the foreground -----------------


def port_problem(host: str, port: int) -> str | None:
    """Why the web app could not listen on host:port, else None (binds as gunicorn does,
    with SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    try:
        family, _type, _proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return f"{host} is not an address to listen on ({exc.strerror})"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"port {port} on {host} is taken ({exc.strerror})"
    return None


def pid_alive(pid: int) -> bool:
    """A process ``pid`` exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True


def command_line(pid: int) -> str:
    """The command line of process ``pid`` ("" when gone), to tell ours from a reused pid."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:
        found = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    except OSError:
        return ""
    return found.stdout.strip()


class Backoff:
    """When to start again a service that died: ``first`` s after a crash, doubling with each
    crash that follows within ``healthy`` s of the last start, at most ``limit`` s; back to
    ``first`` once the service has stayed up ``healthy`` s. Pure: it reads the clock it is
    given and starts or sleeps nothing."""

    def __init__(
        self, first: float = RESTART_FIRST, limit: float = RESTART_LIMIT, healthy: float = RESTART_HEALTHY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.first, self.limit, self.healthy, self.clock = first, limit, healthy, clock
        self.crashes = 0  # in a row: without a healthy spell between them
        self.up_since: float | None = None

    def started(self) -> None:
        self.up_since = self.clock()

    def died(self) -> float:
        """Counts a crash (or a start that failed); the seconds to wait before the next start."""
        if self.up_since is not None and self.clock() - self.up_since >= self.healthy:
            self.crashes = 0
        self.up_since = None
        delay = min(self.limit, self.first * 2 ** min(self.crashes, 32))
        self.crashes += 1
        return delay


def how_it_ended(code: int | None) -> str:
    """``exited with code 3``, ``was killed by SIGKILL`` (a Popen return code, negative for a signal)."""
    if code is None:
        return "is gone"
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


class Service:
    """A long-running child in its own session (so Ctrl-C reaches only the supervisor,
    which stops the children in order), its output appended to a log file."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str], group: bool = True) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.env = env
        self.group = group  # its process group dies with it (False: it starts daemons there)
        self.process: subprocess.Popen[bytes] | None = None
        self._reaped = False
        self._children: set[int] = set()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.log.exists() and self.log.stat().st_size > LOG_KEEP_BYTES:
            self.log.replace(self.log.with_name(self.log.name + ".1"))
        with open(self.log, "ab") as out:
            out.write(f"\n===== {datetime.now().isoformat(timespec='seconds')} {' '.join(self.command)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._reaped = False
        self._children = set()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ended(self) -> str:
        return how_it_ended(self.process.returncode if self.process else None)

    def departed_children(self) -> set[int]:
        """The pids of its own children (gunicorn's workers) gone since the last look
        (Linux: /proc; elsewhere none are seen)."""
        if not self.alive() or self.pid is None:
            return set()
        try:
            now = {int(p) for p in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()}
        except (OSError, ValueError):
            return set()
        gone = self._children - now
        self._children = now
        return gone

    def stop(self, timeout: float = STOP_TIMEOUT, hurry: Callable[[], bool] = lambda: False) -> int | None:
        """SIGTERM, then SIGKILL to its whole process group after ``timeout`` s (or at once
        when ``hurry()`` turns true: a second Ctrl-C). Returns the exit code. Also reaps one
        that died: what it left in its group is killed."""
        if self.process is None:
            return None
        if self._reaped:
            return self.process.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline and not hurry():
                time.sleep(0.1)
            if self.process.poll() is None:
                with _suppress_gone():
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # gunicorn's workers share its process group: none may outlive it (once, right
        # after it exited: later the id could name someone else's group).
        if self.group:
            with _suppress_gone():
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reaped = True
        return self.process.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, traceback: object) -> bool:
        return isinstance(value, ProcessLookupError | PermissionError)


class Node:
    """The local chain node, supervised like the services although it is not our child:
    ``gridledger node start`` starts it in the background (it reuses a running one) and
    returns. It is up while its pid file names a live process (the test of
    ``LocalNode.pid()``, which ``gridledger node status`` answers with), else while ``node
    status`` exits 0 (asked at most every ``NODE_ASK_EVERY`` s: each asking starts Python)."""

    name = "node"

    def __init__(self, env: dict[str, str], var: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.env = env
        self.clock = clock
        self.pid_file = var / "chain" / "node.pid"  # the keeper's: it and Anvil live and die together
        self.anvil_log = var / "chain" / "anvil.log"
        # 'node start' leaves the node running when it exits: its group is not ours to kill.
        self.starter = Service("node", [str(GRIDLEDGER), "node", "start"], var / "log" / "node.log", env, group=False)
        self._asked_at: float | None = None
        self._said_up = False
        self._last_pid: int | None = None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self) -> None:
        self._asked_at = None
        self.starter.start()

    def starting(self) -> bool:
        return self.starter.alive()

    def alive(self) -> bool:
        if self.starting():
            return True
        if self._start_failed():
            return False
        pid = self.pid()
        if pid is not None:
            self._last_pid = pid
            return True
        now = self.clock()
        if self._asked_at is None or now - self._asked_at >= NODE_ASK_EVERY:
            self._asked_at = now
            self._said_up = node_running(self.env)
        return self._said_up

    @property
    def log(self) -> Path:
        return self.starter.log if self._start_failed() else self.anvil_log

    def _start_failed(self) -> bool:
        return self.starter.process is not None and self.starter.process.returncode not in (None, 0)

    def ended(self) -> str:
        if self._start_failed():
            return f"did not start ('gridledger node start' {self.starter.ended()})"
        return "is gone" + (f" (pid {self._last_pid})" if self._last_pid else "")

    def stop(self, timeout: float = STOP_TIMEOUT, hurry: Callable[[], bool] = lambda: False) -> int | None:
        """Ends a 'node start' under way (the node itself is stopped by ``gridledger node stop``)."""
        return self.starter.stop(timeout, hurry)


def gunicorn_said(log: Path, pid: int) -> str | None:
    """gunicorn's own line about its worker ``pid`` (how it ended), from the end of its log."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, log.stat().st_size - 65536))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    said = [line for line in lines if f"(pid:{pid})" in line]
    return said[-1].rsplit("] ", 1)[-1].strip() if said else None


class Supervisor:
    """Runs the services (and watches the node) until SIGINT/SIGTERM: one that dies is said
    in one line and started again after a :class:`Backoff` delay. Stopping stops them in the
    reverse order of starting (the web app first, so its writes still get mined; the node,
    when this run started it, is stopped by the caller after them)."""

    def __init__(
        self, services: list[Service], node: Node | None = None, report: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic, on_start: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.services = services
        self.node = node
        self.report = report
        self.clock = clock
        self.on_start = on_start
        self.watched: list[Service | Node] = [*([node] if node else []), *services]
        self.backoff = {thing.name: Backoff(clock=clock) for thing in self.watched}
        self.due: dict[str, float] = {}  # name -> when it is started again
        self.signals: list[int] = []

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    @property
    def stopping(self) -> bool:
        return bool(self.signals)

    def start(self) -> None:
        """Starts the services (the node is up already: deploying needed it)."""
        for thing in self.watched:
            if isinstance(thing, Service):
                thing.start()
            self.backoff[thing.name].started()
        self.on_start()

    def failed(self) -> Service | None:
        """A service that has exited (while starting up, that ends the run)."""
        return next((s for s in self.services if not s.alive()), None)

    def tend(self) -> None:
        """One look at everything: says and schedules what died, starts again what is due."""
        now = self.clock()
        for thing in self.watched:
            if self.stopping:
                return
            due = self.due.get(thing.name)
            if due is not None:
                if now >= due:
                    del self.due[thing.name]
                    thing.start()
                    self.backoff[thing.name].started()
                    self.on_start()
                continue
            if thing.alive():
                if isinstance(thing, Service):
                    self._tell_departed_children(thing)
                continue
            thing.stop()  # reaps it, and kills what it left in its process group
            delay = self.backoff[thing.name].died()
            self.due[thing.name] = now + delay
            at = datetime.fromtimestamp(time.time() + delay).strftime("%H:%M:%S")
            pid = f" (pid {thing.pid})" if isinstance(thing, Service) and thing.pid else ""
            self.report(f"the {thing.name}{pid} {thing.ended()}; starting it again in {delay:g} s, at {at} "
                        f"(log: {shown(thing.log)})")  # fmt: skip

    def _tell_departed_children(self, service: Service) -> None:
        for pid in sorted(service.departed_children()):
            said = gunicorn_said(service.log, pid)
            self.report(f"a {service.name} worker process (pid {pid}) ended" + (f" ({said})" if said else "")
                        + f"; gunicorn starts another (log: {shown(service.log)})")  # fmt: skip

    def watch(self, poll: float = 0.5) -> None:
        """Tends the services until a signal asks to stop."""
        while not self.stopping:
            self.tend()
            time.sleep(poll)

    def stop(self, report: Callable[[str], None] = print) -> dict[str, int | None]:
        asked = len(self.signals)
        self.due.clear()
        codes: dict[str, int | None] = {}
        for service in reversed(self.services):
            was_running = service.alive()
            codes[service.name] = service.stop(hurry=lambda: len(self.signals) > asked)
            if was_running:
                report(f"stopped the {service.name} (exit code {codes[service.name]})")
        if self.node is not None:
            self.node.stop(hurry=lambda: len(self.signals) > asked)
        return codes


def wait_until_serving(url: str, service: Service, supervisor: Supervisor, timeout: float = WEB_READY_TIMEOUT) -> int:
    """Polls the log-in page until it answers; returns its HTTP status (0: it never did)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.alive() and not supervisor.stopping:
        try:
            with opener.open(url + "login", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return 0


def previous_run(var: Path) -> bool:
    """Refuses when another run is up; stops the services of a run that was killed (its
    supervisor gone). True when that run had started the node (this run then stops it)."""
    state_file = var / "run.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    pid = int(state.get("pid") or 0)
    if pid and pid != os.getpid() and pid_alive(pid) and "project.py" in command_line(pid):
        fail(
            f"gridledger is already running (pid {pid}) at {state.get('url')}: use it, or stop it with "
            f"Ctrl-C in its terminal (or 'kill {pid}') and run again"
        )
    for name, marker in (("web app", "gunicorn"), ("worker", "gridledger")):
        child = int(state.get(name) or 0)
        if child and pid_alive(child) and marker in command_line(child):
            say(f"stopping the {name} left running by an earlier run that was killed (pid {child})")
            with _suppress_gone():
                os.killpg(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while pid_alive(child) and time.monotonic() < deadline:
                time.sleep(0.1)
            with _suppress_gone():
                os.killpg(child, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return bool(state.get("node_started"))


def prepare_steps(url: str) -> list[tuple[str, list[str]]]:
    """What ``run`` does once the node is up, each step skipped or reused when done: ``gridledger
    init``, ``deploy``, ``demo``, then the demo log-ins for ``url`` (said while the services start)."""
    return [
        ("preparing the database (var/gridledger.db unless DATABASE_URL is set)", ["init"]),
        ("deploying the contracts (or reusing the deployment on this chain)", ["deploy"]),
        ("building the demo subdistrict (or reusing it)", ["demo"]),
        ("", ["demo", "--logins", "--url", url]),
    ]


#: Runs the steps (JSON in argv[1]) in one Python, printing what the commands print one by
#: one: alone, each spent most of its time importing the same modules (seconds each).
PREPARE = """
import json, os, sys
from ledger.cli import main
for heading, args in json.loads(sys.argv[1]):
    print("==> " + heading if heading else "", flush=True)
    try:
        main(args, prog_name="gridledger", standalone_mode=False)
    except SystemExit as exc:  # a LedgerError, said in one line by the CLI
        if exc.code:
            sys.exit(f"error: 'gridledger {' '.join(args)}' exited with {exc.code}")
    except KeyboardInterrupt:
        sys.exit(130)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # every step has closed what it opened: skip tearing a thousand modules down (most of a second)
"""


def node_status(env: dict[str, str]) -> str | None:
    """What ``gridledger node status`` says of a running node; None when it is not running."""
    asked = subprocess.run([str(GRIDLEDGER), "node", "status"], cwd=ROOT, env=env, capture_output=True, text=True)
    return asked.stdout.strip() if asked.returncode == 0 else None


def node_running(env: dict[str, str]) -> bool:
    return node_status(env) is not None


def parse_run(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 scripts/project.py run", description="Set up and run gridledger.")
    parser.add_argument("--host", default=os.environ.get("GRIDLEDGER_WEB_HOST", "127.0.0.1"),
                        help="address the web app listens on (env GRIDLEDGER_WEB_HOST; default 127.0.0.1)")  # fmt: skip
    parser.add_argument("--port", type=int, default=None,
                        help=f"port of the web app (env GRIDLEDGER_WEB_PORT; default {DEFAULT_WEB_PORT})")  # fmt: skip
    args = parser.parse_args(argv)
    if args.port is None:
        raw = os.environ.get("GRIDLEDGER_WEB_PORT") or str(DEFAULT_WEB_PORT)
        if not raw.isdigit():
            fail(f"GRIDLEDGER_WEB_PORT must be a port number; got {raw!r}")
        args.port = int(raw)
    if not 0 < args.port < 65536:
        fail(f"the web app's port must be 1..65535; got {args.port}")
    return args


def main_run(argv: list[str]) -> None:
    args = parse_run(argv)
    check_tools()
    var = var_dir()
    inherited_node = previous_run(var)
    problem = port_problem(args.host, args.port)
    if problem:
        fail(f"{problem}; nothing was started. Stop what uses it, or choose another port: "
             f"python3 scripts/project.py run --port {args.port + 1} (or GRIDLEDGER_WEB_PORT)")  # fmt: skip
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped while setting up: clean up as for Ctrl-C
    setup()
    env = demo_env()
    started_node = inherited_node
    node_was_running: bool | None = None  # not asked yet
    code = 0
    try:
        status = node_status(env)
        node_was_running = status is not None
        if not node_was_running:
            say("starting the local chain node (Anvil, interval mining, state in var/chain/)")
            started_node = True
            run(GRIDLEDGER, "node", "start", env=env)
        else:
            say("the local chain node is running: reusing it")
            print(status, flush=True)
        steps = json.dumps(prepare_steps(web_url(args.host, args.port)))
        prepared = subprocess.run([str(PYTHON), "-c", PREPARE, steps], cwd=ROOT, env=env)
        # A step that failed has said why.
        code = prepared.returncode or serve(args.host, args.port, env, var, started_node)
    except KeyboardInterrupt:
        print()
        say("interrupted: what is done is kept in var/; run again to carry on")
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the node stop in peace
        if started_node and node_running(env):
            say("stopping the local chain node (its keeper writes a last snapshot to var/chain/state.json)")
            subprocess.run([str(GRIDLEDGER), "node", "stop"], cwd=ROOT, env=env)
        elif node_was_running and not started_node:
            say("the node was running before this run, so it is left running ('.venv/bin/gridledger node stop')")
    sys.exit(code)


def web_url(host: str, port: int) -> str:
    """The web app's address to open: 127.0.0.1 when it listens on every address."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}/"


def serve(host: str, port: int, env: dict[str, str], var: Path, started_node: bool) -> int:
    """Runs the worker and the web app, and watches the node, until Ctrl-C or SIGTERM: 0
    when stopped that way, 1 when a service died before the web app first answered."""
    logs = var / "log"
    worker = Service("worker", [str(GRIDLEDGER), "worker"], logs / "worker.log", env)
    web = Service("web app", [str(GRIDLEDGER), "serve", "--host", host, "--port", str(port)], logs / "web.log", env)
    url = web_url(host, port)
    state_file = var / "run.json"

    def record() -> None:  # what a later run must stop if this one is killed outright
        state_file.write_text(json.dumps({
            "pid": os.getpid(), "url": url, "worker": worker.pid, "web app": web.pid, "node_started": started_node,
        }))  # fmt: skip

    supervisor = Supervisor([worker, web], node=Node(env, var), report=say, on_start=record)
    supervisor.install()
    say(f"starting the worker and the web app (logs in {shown(logs)}/)")
    try:
        supervisor.start()
        status = wait_until_serving(url, web, supervisor)
        died = supervisor.failed()
        if died is None and not supervisor.stopping:
            if status != 200:
                say(f"the web app answered the log-in page with HTTP {status or 'nothing'}; see {shown(web.log)}")
            print()
            listening = "" if f"//{host}:" in url else f" (listening on {host})"
            print(f"gridledger is running at {url}{listening}")
            print(f"  web app (gunicorn): {shown(web.log)}    worker (sends, indexes, anchors): {shown(worker.log)}")
            print("  the CLI, in another terminal: export GRIDLEDGER_KEY_PASSWORD_FILE="
                  f"{shown(Path(env.get('GRIDLEDGER_KEY_PASSWORD_FILE', var / 'demo-key-password')))}; "
                  ".venv/bin/gridledger --help")  # fmt: skip
            print("Press Ctrl-C to stop the web app, the worker" + (" and the node" if started_node else "")
                  + "; everything is kept in var/ and the next run carries on from there. "
                  "A service or node that dies meanwhile is started again.", flush=True)  # fmt: skip
            supervisor.watch()
        elif died is not None:
            print(f"error: the {died.name} {died.ended()} while starting; the end of {shown(died.log)}:",
                  file=sys.stderr)  # fmt: skip
            print(died.tail(), file=sys.stderr)
        print()
        say("stopping (Ctrl-C again to hurry)")
        supervisor.stop(report=lambda line: say(line))
        return 1 if died is not None else 0
    finally:
        supervisor.stop(report=lambda line: None)  # whatever happened above, leave nothing running
        state_file.unlink(missing_ok=True)


def test_workers() -> int:
    """How many processes run the whole suite: two by default (its tests mostly wait on the
    chain's blocks and on real services, so two keep two cores busy), or
    ``GRIDLEDGER_TEST_WORKERS`` (1: one process, no xdist)."""
    value = os.environ.get("GRIDLEDGER_TEST_WORKERS", "2")
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"GRIDLEDGER_TEST_WORKERS={value!r}: expected a whole number of processes, 1 or more")
    return int(value)


def main_test(pytest_args: list[str]) -> None:
    setup()
    workers = test_workers()
    # The whole suite runs in parallel (each process with its own node and world); tests
    # that are named run in this one process, as pytest alone would. Each process takes a
    # run of neighbouring tests and one that runs out takes half of what another has left
    # ("worksteal"): a module's shared fixtures are built in one process, not in both as
    # the small interleaved batches of xdist's default hand them out, and no long test
    # (the crash campaign, the privacy scan) is left queued behind another at the end.
    parallel = ["-n", str(workers), "--dist", "worksteal"] if not pytest_args and workers > 1 else []
    say(f"running the tests{f' in {workers} processes' if parallel else ''}")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *parallel, *pytest_args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "setup"):
        print(__doc__)
        sys.exit(2)
    try:
        if sys.argv[1] == "run":
            main_run(sys.argv[2:])
        elif sys.argv[1] == "setup":
            setup()
            say("set up: .venv/, node_modules/ and the catalogues are ready")
        else:
            main_test(sys.argv[2:])
    except KeyboardInterrupt:
        print("\ninterrupted; run again to carry on (finished steps are skipped)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()

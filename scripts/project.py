#!/usr/bin/env python3
"""Set up gridledger in this folder, then run it or test it.

    python3 scripts/project.py run [--port N] [--host H]
        set up, start the node, deploy, build the demo subdistrict, then run the worker
        and the web app (gunicorn) in the foreground and print the URL and the demo
        log-ins; Ctrl-C stops the web app, the worker and the node (state stays in var/)
    python3 scripts/project.py test [PYTEST ARGS]
        set up, run the test suite (extra arguments go to pytest)

Needs only Python 3.11+ and Node.js 20+ (with npm). Everything is installed into the
project folder: a virtual environment in .venv/, npm packages in node_modules/, and
machine state (chain, database, keys, logs) in var/. Each step is skipped when already
done, so running again is quick and creates nothing twice.

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


def run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in command], cwd=ROOT, env=env)
    if result.returncode != 0:
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
    wanted = digest(ROOT / "pyproject.toml")
    if not PYTHON.exists():
        say("creating the virtual environment in .venv/")
        run(sys.executable, "-m", "venv", VENV)
    if not stamp.exists() or stamp.read_text() != wanted:
        say("installing Python packages into .venv/")
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[test]")
        stamp.write_text(wanted)
    npm_stamp = ROOT / "node_modules" / ".gridledger-installed"
    npm_wanted = digest(ROOT / "package.json", ROOT / "package-lock.json")
    if not npm_stamp.exists() or npm_stamp.read_text() != npm_wanted:
        say("installing pinned npm packages into node_modules/ (npm ci)")
        run(shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund")
        npm_stamp.write_text(npm_wanted)


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


# -- the services: worker and web app, supervised in the foreground ------------------------


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


class Service:
    """A long-running child in its own session (so Ctrl-C reaches only the supervisor,
    which stops the children in order), its output appended to a log file."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._reaped = False

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

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT, hurry: Callable[[], bool] = lambda: False) -> int | None:
        """SIGTERM, then SIGKILL to its whole process group after ``timeout`` s (or at once
        when ``hurry()`` turns true: a second Ctrl-C). Returns the exit code."""
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


class Supervisor:
    """Runs the services until SIGINT/SIGTERM or until one of them exits, then stops them
    in the reverse order of starting (the web app first, so its writes still get mined)."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services
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
        for service in self.services:
            service.start()

    def failed(self) -> Service | None:
        return next((s for s in self.services if not s.alive()), None)

    def watch(self, poll: float = 0.5) -> Service | None:
        """Waits for a signal (returns None) or a service exiting (returns it)."""
        while not self.stopping:
            died = self.failed()
            if died is not None:
                return died
            time.sleep(poll)
        return None

    def stop(self, report: Callable[[str], None] = print) -> dict[str, int | None]:
        asked = len(self.signals)
        codes: dict[str, int | None] = {}
        for service in reversed(self.services):
            was_running = service.alive()
            codes[service.name] = service.stop(hurry=lambda: len(self.signals) > asked)
            if was_running:
                report(f"stopped the {service.name} (exit code {codes[service.name]})")
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


def node_running(env: dict[str, str]) -> bool:
    return subprocess.run([str(GRIDLEDGER), "node", "status"], cwd=ROOT, env=env, capture_output=True).returncode == 0


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
        say("preparing the database (var/gridledger.db unless DATABASE_URL is set)")
        run(GRIDLEDGER, "init", env=env)
        node_was_running = node_running(env)
        if not node_was_running:
            say("starting the local chain node (Anvil, interval mining, state in var/chain/)")
            started_node = True
            run(GRIDLEDGER, "node", "start", env=env)
        else:
            say("the local chain node is running: reusing it")
            run(GRIDLEDGER, "node", "status", env=env)
        say("deploying the contracts (or reusing the deployment on this chain)")
        run(GRIDLEDGER, "deploy", env=env)
        say("building the demo subdistrict (or reusing it)")
        run(GRIDLEDGER, "demo", env=env)
        code = serve(args.host, args.port, env, var, started_node)
    except KeyboardInterrupt:
        print()
        say("interrupted: what is done is kept in var/; run again to carry on")
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the node stop in peace
        if started_node and node_running(env):
            say("stopping the local chain node (its state is dumped to var/chain/state.json)")
            subprocess.run([str(GRIDLEDGER), "node", "stop"], cwd=ROOT, env=env)
        elif node_was_running and not started_node:
            say("the node was running before this run, so it is left running ('.venv/bin/gridledger node stop')")
    sys.exit(code)


def serve(host: str, port: int, env: dict[str, str], var: Path, started_node: bool) -> int:
    """Runs the worker and the web app until Ctrl-C or SIGTERM; 0 when stopped that way."""
    logs = var / "log"
    worker = Service("worker", [str(GRIDLEDGER), "worker"], logs / "worker.log", env)
    web = Service("web app", [str(GRIDLEDGER), "serve", "--host", host, "--port", str(port)], logs / "web.log", env)
    supervisor = Supervisor([worker, web])
    supervisor.install()
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown_host}:{port}/"
    state_file = var / "run.json"
    say(f"starting the worker and the web app (logs in {shown(logs)}/)")
    try:
        supervisor.start()
        state_file.write_text(json.dumps({
            "pid": os.getpid(), "url": url, "worker": worker.pid, "web app": web.pid, "node_started": started_node,
        }))  # fmt: skip
        status = wait_until_serving(url, web, supervisor)
        died = supervisor.failed()
        if died is None and not supervisor.stopping:
            if status != 200:
                say(f"the web app answered the log-in page with HTTP {status or 'nothing'}; see {shown(web.log)}")
            print()
            subprocess.run([str(PYTHON), "-m", "ledger.demo", "logins", "--url", url], cwd=ROOT, env=env)
            print()
            print(f"gridledger is running at {url}" + (f" (listening on {host})" if shown_host != host else ""))
            print(f"  web app (gunicorn): {shown(web.log)}    worker (sends, indexes, anchors): {shown(worker.log)}")
            print("  the CLI, in another terminal: export GRIDLEDGER_KEY_PASSWORD_FILE="
                  f"{shown(Path(env.get('GRIDLEDGER_KEY_PASSWORD_FILE', var / 'demo-key-password')))}; "
                  ".venv/bin/gridledger --help")  # fmt: skip
            print("Press Ctrl-C to stop the web app, the worker" + (" and the node" if started_node else "")
                  + "; everything is kept in var/ and the next run carries on from there.", flush=True)  # fmt: skip
            died = supervisor.watch()
        if died is not None:
            print(f"error: the {died.name} exited with code {died.process.returncode if died.process else '?'}; "
                  f"the end of {shown(died.log)}:", file=sys.stderr)  # fmt: skip
            print(died.tail(), file=sys.stderr)
        print()
        say("stopping (Ctrl-C again to hurry)")
        supervisor.stop(report=lambda line: say(line))
        return 1 if died is not None else 0
    finally:
        supervisor.stop(report=lambda line: None)  # whatever happened above, leave nothing running
        state_file.unlink(missing_ok=True)


def main_test(pytest_args: list[str]) -> None:
    setup()
    say("running the tests")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        sys.exit(2)
    try:
        if sys.argv[1] == "run":
            main_run(sys.argv[2:])
        else:
            main_test(sys.argv[2:])
    except KeyboardInterrupt:
        print("\ninterrupted; run again to carry on (finished steps are skipped)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()

"""Supervision by ``scripts/project.py run`` (issue 11, finding 3): a crashed worker, web
app or node is started again after a backoff (1 s doubling to 30 s, back to 1 s once it has
stayed up a minute), each restart said in one line; Ctrl-C still stops everything in order.

The policy and the supervisor's bookkeeping run on a hand-driven clock; the last test runs
the real ``run`` command and ``kill -9``s what it supervises."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.scripts.test_project import POLITE, ROOT, _gone, project


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait_for(predicate: Callable[[], object], timeout: float = 30.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


# -- the policy -------------------------------------------------------------------------------


def test_the_delay_doubles_from_one_second_to_thirty_while_a_service_keeps_dying() -> None:
    clock = Clock()
    backoff = project.Backoff(clock=clock)
    delays = []
    for _ in range(8):
        backoff.started()
        clock.now += 5  # up a few seconds each time: never healthy
        delay = backoff.died()
        delays.append(delay)
        clock.now += delay
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_the_delay_starts_over_once_a_service_has_stayed_up_a_minute() -> None:
    clock = Clock()
    backoff = project.Backoff(clock=clock)
    for _ in range(4):
        backoff.started()
        clock.now += 1
        backoff.died()
    backoff.started()
    clock.now += 59.9
    assert backoff.died() == 16  # not quite healthy: the fifth crash in a row
    backoff.started()
    clock.now += 60
    assert backoff.died() == 1
    backoff.started()
    assert backoff.died() == 2


def test_a_start_that_fails_counts_as_a_crash_and_the_limit_holds_for_ever() -> None:
    backoff = project.Backoff(first=0.5, limit=4, healthy=10, clock=Clock())
    assert [backoff.died() for _ in range(5)] == [0.5, 1, 2, 4, 4]  # never started: never healthy
    for _ in range(5000):
        backoff.died()
    assert backoff.died() == 4


def test_how_a_child_ended_is_said_in_words() -> None:
    assert project.how_it_ended(3) == "exited with code 3"
    assert project.how_it_ended(0) == "exited with code 0"
    assert project.how_it_ended(-signal.SIGKILL) == "was killed by SIGKILL"
    assert project.how_it_ended(-signal.SIGSEGV) == "was killed by SIGSEGV"


# -- the supervisor, on a hand-driven clock, with real children ----------------------------------


def test_a_crashed_service_is_said_in_one_line_and_started_again_when_its_delay_is_up(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(POLITE)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    worker = project.Service("worker", [sys.executable, str(tmp_path / "svc.py"), "worker"], tmp_path / "w.log", env)
    web = project.Service("web app", [sys.executable, str(tmp_path / "svc.py"), "web"], tmp_path / "web.log", env)
    clock, lines, starts = Clock(), [], []
    supervisor = project.Supervisor(
        [worker, web], report=lines.append, clock=clock, on_start=lambda: starts.append(worker.pid)
    )
    supervisor.start()
    web_pid = web.pid
    try:

        def crash() -> int:
            pid = worker.pid
            assert pid is not None
            assert _wait_for(lambda: "up" in worker.tail())
            os.kill(pid, signal.SIGKILL)
            assert _wait_for(lambda: not worker.alive())
            supervisor.tend()
            return pid

        first = crash()
        assert len(lines) == 1
        assert re.fullmatch(
            rf"the worker \(pid {first}\) was killed by SIGKILL; starting it again in 1 s, at \d\d:\d\d:\d\d "
            rf"\(log: {re.escape(str(tmp_path / 'w.log'))}\)",
            lines[0],
        ), lines
        clock.now += 0.9
        supervisor.tend()
        assert worker.pid == first and not worker.alive()  # not before its time
        clock.now += 0.1
        supervisor.tend()
        assert worker.pid != first and worker.alive() and starts[-1] == worker.pid  # run.json is rewritten

        second = crash()
        assert f"the worker (pid {second}) was killed by SIGKILL; starting it again in 2 s" in lines[-1]
        clock.now += 2
        supervisor.tend()
        assert worker.alive()
        clock.now += 60  # a healthy minute
        crash()
        assert "starting it again in 1 s" in lines[-1]
        assert web.pid == web_pid and web.alive()  # the other one is left alone
        assert len(lines) == 3
    finally:
        codes = supervisor.stop(report=lines.append)
    assert codes["web app"] == 0 and lines[-1] == "stopped the web app (exit code 0)"  # a worker due: not started


def test_a_service_that_exits_with_a_code_is_said_with_it_and_a_stop_cancels_its_restart(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    worker = project.Service("worker", [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "w.log", env)
    clock, lines = Clock(), []
    supervisor = project.Supervisor([worker], report=lines.append, clock=clock)
    supervisor.start()
    assert _wait_for(lambda: not worker.alive())
    supervisor.tend()
    assert lines[0].startswith(f"the worker (pid {worker.pid}) exited with code 3; starting it again in 1 s")
    supervisor.signals.append(signal.SIGINT)  # Ctrl-C while it waits
    clock.now += 5
    supervisor.tend()
    assert not worker.alive() and len(lines) == 1
    assert supervisor.stop(report=lines.append) == {"worker": 3}


#: A stand-in for gunicorn: a master that keeps two workers, replacing one that dies.
MASTER = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    workers = {}
    while True:
        while len(workers) < 2:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            workers[child.pid] = child
            print("worker", child.pid, flush=True)
        for pid, child in list(workers.items()):
            if child.poll() is not None:
                print(f"Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?", flush=True)
                del workers[pid]
        time.sleep(0.02)
""")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="a master's workers are seen in /proc")
def test_a_web_worker_that_dies_is_said_with_what_gunicorn_logged(tmp_path: Path) -> None:
    (tmp_path / "master.py").write_text(MASTER)
    web = project.Service(
        "web app", [sys.executable, str(tmp_path / "master.py")], tmp_path / "web.log", dict(os.environ)
    )
    lines: list[str] = []
    supervisor = project.Supervisor([web], report=lines.append, clock=Clock())
    supervisor.start()
    try:
        assert _wait_for(lambda: web.tail().count("worker ") == 2)
        supervisor.tend()  # the first look: its workers
        victim = int(web.tail().split("worker ")[1].split()[0])
        os.kill(victim, signal.SIGKILL)
        assert _wait_for(lambda: web.tail().count("worker ") == 3)
        supervisor.tend()
        assert lines == [
            f"a web app worker process (pid {victim}) ended (Worker (pid:{victim}) was sent SIGKILL! Perhaps out "
            f"of memory?); gunicorn starts another (log: {tmp_path / 'web.log'})"
        ]
        supervisor.tend()
        assert len(lines) == 1 and web.alive()  # the master is not restarted: gunicorn did the work
    finally:
        supervisor.stop(report=lambda line: None)


def test_the_node_is_alive_while_its_pid_file_names_a_live_process(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "chain").mkdir(parents=True)
    env = dict(os.environ, GRIDLEDGER_VAR=str(var), GRIDLEDGER_NODE_PORT=str(free_port()))
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (var / "chain" / "node.pid").write_text(str(stand_in.pid))
        node = project.Node(env, var, clock=Clock())
        assert node.alive()  # from the file alone: no Python started
        stand_in.kill()
        stand_in.wait()
        assert not node.alive()  # and 'gridledger node status' agrees
        assert node.ended() == f"is gone (pid {stand_in.pid})" and node.log == var / "chain" / "anvil.log"
    finally:
        if stand_in.poll() is None:
            stand_in.kill()


# -- the real run command ---------------------------------------------------------------------


class Screen:
    """What ``run`` prints, gathered line by line as it comes (by a thread: a pipe's reads block)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._gather, daemon=True)
        self._reader.start()

    def _gather(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def read(self) -> str:
        return "\n".join(list(self.lines))

    def wait_for(self, pattern: str, timeout: float = 120.0) -> None:
        def seen() -> bool:
            return bool(re.search(pattern, self.read())) or self.process.poll() is not None

        assert _wait_for(seen, timeout=timeout, every=0.1) and re.search(pattern, self.read()), (
            f"{pattern!r} not said:\n{self.read()}"
        )

    def all(self) -> str:
        self._reader.join(timeout=10)
        return self.read()


def _login_page(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "login", timeout=5) as page:
            return int(page.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def _web_workers(master: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


@pytest.mark.chain
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads gunicorn's workers from /proc")
def test_run_starts_again_what_is_killed_and_ctrl_c_stops_everything_in_order(tmp_path: Path) -> None:
    """``scripts/project.py run`` on a small demo of its own (its own node, ports and var/):
    ``kill -9`` of the worker, of a gunicorn worker, of gunicorn itself and of the node; each
    comes back and the screen says so; Ctrl-C then stops the web app, the worker and the node
    in that order and leaves nothing running."""
    var = tmp_path / "var"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ, GRIDLEDGER_VAR=str(var), GRIDLEDGER_NODE_PORT=str(free_port()), GRIDLEDGER_DEMO_RESIDENTS="6",
        GRIDLEDGER_KEY_PASSWORD="test-password", GRIDLEDGER_KDF_WORK=str(2**10), GRIDLEDGER_BLOCK_TIME="0.2",
        GRIDLEDGER_STATE_INTERVAL="1", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    env.pop("DATABASE_URL", None)
    run = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "project.py"), "run", "--port", str(port)], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    screen = Screen(run)
    seen: set[int] = set()
    try:
        screen.wait_for(r"gridledger is running at", timeout=300)
        state = json.loads((var / "run.json").read_text())
        seen |= {state["worker"], state["web app"]}

        # The worker.
        os.kill(state["worker"], signal.SIGKILL)
        screen.wait_for(rf"the worker \(pid {state['worker']}\) was killed by SIGKILL; starting it again in 1 s, "
                        rf"at [\d:]+ \(log: .*worker\.log\)")  # fmt: skip
        assert _wait_for(lambda: json.loads((var / "run.json").read_text())["worker"] != state["worker"])
        state = json.loads((var / "run.json").read_text())
        seen.add(state["worker"])
        assert _wait_for(lambda: "worker running" in (var / "log" / "worker.log").read_text().rsplit("=====", 1)[1])

        # A gunicorn worker: gunicorn replaces it, the screen says so, the web app is not restarted.
        workers = _web_workers(state["web app"])
        seen |= set(workers)
        os.kill(workers[0], signal.SIGKILL)
        screen.wait_for(rf"a web app worker process \(pid {workers[0]}\) ended \(Worker \(pid:{workers[0]}\) was "
                        r"sent SIGKILL! Perhaps out of memory\?\); gunicorn starts another")  # fmt: skip
        assert _wait_for(lambda: _login_page(url) == 200)
        assert json.loads((var / "run.json").read_text())["web app"] == state["web app"]

        # gunicorn itself.
        os.kill(state["web app"], signal.SIGKILL)
        screen.wait_for(rf"the web app \(pid {state['web app']}\) was killed by SIGKILL; starting it again in 1 s")
        assert _wait_for(lambda: json.loads((var / "run.json").read_text())["web app"] != state["web app"])
        state = json.loads((var / "run.json").read_text())
        seen.add(state["web app"])
        assert _wait_for(lambda: _login_page(url) == 200, timeout=120)
        assert all(_gone(pid) for pid in workers)  # the old workers died with their master
        seen |= set(_web_workers(state["web app"]))

        # The node: Anvil killed, its keeper follows it, and the pair is started again.
        node_pid = int((var / "chain" / "node.pid").read_text())
        anvil_pid = int((var / "chain" / "anvil.pid").read_text())
        seen.add(anvil_pid)
        os.kill(anvil_pid, signal.SIGKILL)
        screen.wait_for(rf"the node is gone \(pid {node_pid}\); starting it again in 1 s, at [\d:]+ "
                        r"\(log: .*anvil\.log\)")  # fmt: skip

        def node_back() -> bool:
            try:
                pid = int((var / "chain" / "node.pid").read_text())
            except (OSError, ValueError):
                return False
            return pid != node_pid and not _gone(pid)

        assert _wait_for(node_back, timeout=60)
        seen.add(int((var / "chain" / "node.pid").read_text()))
        seen.add(int((var / "chain" / "anvil.pid").read_text()))
        status = subprocess.run([str(project.GRIDLEDGER), "node", "status"], cwd=ROOT, env=env, capture_output=True)
        assert status.returncode == 0, status
        assert _wait_for(lambda: _login_page(url) == 200)

        run.send_signal(signal.SIGINT)  # Ctrl-C (the services are in sessions of their own)
        assert run.wait(timeout=120) == 0, screen.read()
        out = screen.all()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        subprocess.run([str(project.GRIDLEDGER), "node", "stop"], cwd=ROOT, env=env, capture_output=True)
    stopped = [out.index(line) for line in ("stopped the web app (exit code 0)", "stopped the worker (exit code 0)",
                                             "stopping the local chain node")]  # fmt: skip
    assert stopped == sorted(stopped), out
    assert len(re.findall(r"starting it again", out)) == 3, out  # one line for each restart, nothing else
    assert all(_gone(pid) for pid in seen), out
    assert not (var / "run.json").exists()
    assert project.port_problem("127.0.0.1", port) is None

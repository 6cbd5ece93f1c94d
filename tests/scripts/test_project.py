"""``scripts/project.py run``'s services: the worker and the web app started beside each
other, stopped in order on Ctrl-C or SIGTERM, nothing left running; a port taken or an
earlier run still up said plainly. Restarts after a crash: tests/reliability/test_supervision.py."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from ledger.context import Ledger
from ledger.membership import Role
from ledger.organisations import Organisations
from ledger.settings import Settings
from ledger.store.models import OutboxTx
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _load_project() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gridledger_project_script", ROOT / "scripts" / "project.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


project = _load_project()

#: A stand-in service: says it is up, and on SIGTERM says so and exits 0.
POLITE = textwrap.dedent("""
    import signal, sys, time
    name = sys.argv[1]
    def bye(*_):
        print(name, "got SIGTERM at", time.monotonic(), flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print(name, "up", flush=True)
    while True:
        time.sleep(0.05)
""")
#: One that ignores SIGTERM and has a child of its own (as gunicorn has its workers).
STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print("child", child.pid, flush=True)
    while True:
        time.sleep(0.05)
""")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] == "Z"


def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_stops_the_web_app_then_the_worker_and_leaves_nothing(tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("p", {str(ROOT / "scripts" / "project.py")!r})
        p = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)
        env = dict(__import__("os").environ, PYTHONUNBUFFERED="1")
        svc = lambda name: p.Service(name, [sys.executable, {str(tmp_path / "svc.py")!r}, name],
                                     p.Path({str(tmp_path)!r}) / (name + ".log"), env)
        sup = p.Supervisor([svc("worker"), svc("web")])
        sup.install()
        sup.start()
        print(json.dumps({{s.name: s.pid for s in sup.services}}), flush=True)
        died = sup.watch(poll=0.05)
        codes = sup.stop(report=lambda line: print(line, flush=True))
        print("died", died, "codes", json.dumps(codes), flush=True)
    """))
    (tmp_path / "svc.py").write_text(POLITE)
    process = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    pids = json.loads(process.stdout.readline())
    assert _wait_for(lambda: all("up" in (tmp_path / f"{n}.log").read_text() for n in pids))
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends; the services are in their own sessions
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert out.index("stopped the web (exit code 0)") < out.index("stopped the worker (exit code 0)")
    assert 'died None codes {"web": 0, "worker": 0}' in out
    assert all(_gone(pid) for pid in pids.values())
    web_stopped = float((tmp_path / "web.log").read_text().split("at ")[-1])
    worker_stopped = float((tmp_path / "worker.log").read_text().split("at ")[-1])
    assert web_stopped < worker_stopped  # the web app's writes still find the worker running


def test_a_service_that_exits_while_starting_is_noticed_and_the_other_is_stopped(tmp_path: Path) -> None:
    """Before the web app first answers, a death ends the run with the end of its log (a port
    taken, a wrong password: starting it again would not help); afterwards it is started
    again (tests/reliability/test_supervision.py)."""
    (tmp_path / "svc.py").write_text(POLITE)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    worker = project.Service("worker", [sys.executable, str(tmp_path / "svc.py"), "worker"], tmp_path / "w.log", env)
    web = project.Service("web app", [sys.executable, "-c", "import sys; print('no port'); sys.exit(3)"],
                          tmp_path / "web.log", env)  # fmt: skip
    supervisor = project.Supervisor([worker, web])
    supervisor.start()
    assert project.wait_until_serving(f"http://127.0.0.1:{free_port()}/", web, supervisor) == 0
    died = supervisor.failed()
    assert died is web and "no port" in web.tail() and died.ended() == "exited with code 3"
    codes = supervisor.stop(report=lambda line: None)
    assert codes == {"web app": 3, "worker": 0}
    assert worker.pid is not None and _gone(worker.pid)


def test_a_service_ignoring_sigterm_is_killed_with_its_children(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(STUBBORN)
    service = project.Service("web app", [sys.executable, str(tmp_path / "svc.py")], tmp_path / "web.log", dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
    service.start()
    assert _wait_for(lambda: "child" in service.tail())
    child = int(service.tail().split("child ")[1].split()[0])
    started = time.monotonic()
    code = service.stop(timeout=0.5)
    assert code == -signal.SIGKILL and time.monotonic() - started < 10
    assert service.pid is not None and _gone(service.pid)
    assert _wait_for(lambda: _gone(child))


def test_a_taken_port_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        problem = project.port_problem("127.0.0.1", port)
        assert problem is not None and f"port {port} on 127.0.0.1 is taken" in problem
    assert project.port_problem("127.0.0.1", port) is None


def test_an_earlier_run_still_up_is_refused_and_the_leftovers_of_a_killed_one_stopped(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    running = subprocess.Popen([*sleeper, "project.py"])  # looks like a supervisor
    state = tmp_path / "run.json"
    try:
        state.write_text(json.dumps({"pid": running.pid, "url": "http://127.0.0.1:8000/"}))
        with pytest.raises(SystemExit):
            project.previous_run(tmp_path)
        assert state.exists()  # that run owns it
    finally:
        running.kill()
        running.wait()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = subprocess.Popen([*sleeper, "gridledger", "worker"], start_new_session=True)
    try:
        assert _wait_for(lambda: "gridledger worker" in project.command_line(leftover.pid))  # exec'd
        state.write_text(json.dumps({"pid": dead.pid, "worker": leftover.pid, "node_started": True}))
        assert project.previous_run(tmp_path) is True  # this run inherits the node to stop
        assert leftover.wait(timeout=10) == -signal.SIGTERM
        assert not state.exists()
    finally:
        if leftover.poll() is None:
            leftover.kill()


def test_the_real_worker_and_web_app_serve_mine_and_stop_cleanly(ledger: Ledger, settings: Settings) -> None:
    """The two services as ``run`` starts them, against the session node: the log-in page
    answers, a write queued elsewhere is mined by the worker, and SIGTERM stops both with
    exit code 0 and frees the port."""
    port = free_port()
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", GRIDLEDGER_VAR=str(settings.var_dir), DATABASE_URL=settings.db_url,
        GRIDLEDGER_NODE_PORT=str(settings.node_port), GRIDLEDGER_KEY_PASSWORD="test-password",
        GRIDLEDGER_KDF_WORK=str(settings.kdf_work), GRIDLEDGER_BLOCK_TIME=str(settings.block_time),
    )  # fmt: skip
    logs = settings.var_dir / f"log-{port}"
    cli = [sys.executable, "-m", "ledger.cli"]
    worker = project.Service("worker", [*cli, "worker", "--interval", "0.2"], logs / "worker.log", env)
    web = project.Service(
        "web app", [*cli, "serve", "--port", str(port), "--workers", "1", "--threads", "2"], logs / "web.log", env
    )
    supervisor = project.Supervisor([worker, web])
    supervisor.start()
    try:
        assert project.wait_until_serving(f"http://127.0.0.1:{port}/", web, supervisor) == 200, web.tail()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/login?next=/committee/residents/%3Fq%3Dzhang-xiuying") as page:
            assert page.status == 200
        assert _wait_for(lambda: "worker running" in worker.tail(), timeout=30), worker.tail()
        tx = Organisations(ledger, wait=False).add_member("run-check-worker", "cmte-a", Role.GRID_WORKER)
        # Only the worker sends, mines and indexes it: this process does not pump.
        assert _wait_for(lambda: Organisations(ledger).is_member("run-check-worker"), timeout=30), worker.tail()

        def mined() -> bool:  # the worker indexes and records receipts in threads of their own: either may be first
            with ledger.store.session() as db:
                return db.scalar(select(OutboxTx.status).where(OutboxTx.tx_hash == tx)) == "mined"

        assert _wait_for(mined, timeout=30), worker.tail()
    finally:
        codes = supervisor.stop(report=lambda line: None)
    assert codes == {"web app": 0, "worker": 0}, (web.tail(), worker.tail())
    assert "worker stopped" in worker.tail()
    assert project.port_problem("127.0.0.1", port) is None
    log = web.log.read_text()
    assert "Control socket listening" not in log  # none in ~/.gunicorn, shared by every gunicorn
    assert '"GET /login HTTP/1.1" 200' in log and "zhang-xiuying" not in log  # no query strings logged


def test_set_up_compiles_each_catalogue_that_is_missing_or_older_with_pybabel(tmp_path: Path) -> None:
    from babel.support import Translations

    sources = sorted(ROOT.glob(project.CATALOGUES))
    assert len(sources) >= 7  # the app's and every blueprint's
    for po in sources:
        copy = tmp_path / po.relative_to(ROOT)
        copy.parent.mkdir(parents=True)
        copy.write_bytes(po.read_bytes())
    pybabel = ROOT / ".venv" / "bin" / "pybabel"
    compiled = project.compile_catalogues(tmp_path, pybabel)
    assert sorted(compiled) == sorted(tmp_path / po.relative_to(ROOT).with_suffix(".mo") for po in sources)
    auth = tmp_path / "webapp" / "auth" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
    with (auth / "messages.mo").open("rb") as mo:
        assert Translations(mo).ugettext("Log in") == "登录"
    assert sorted(p.name for p in auth.iterdir()) == ["messages.mo", "messages.po"]  # no draft left
    assert project.compile_catalogues(tmp_path, pybabel) == []  # fresh: nothing to do
    os.utime(auth / "messages.mo", (1_000_000, 1_000_000))  # older than its .po, without waiting
    assert project.compile_catalogues(tmp_path, pybabel) == [auth / "messages.mo"]


def test_a_catalogue_pybabel_will_not_compile_stops_the_set_up_with_its_words(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # pybabel skips a catalogue marked fuzzy and exits 0 all the same: set-up must not go on
    # as if it had been compiled (the app would refuse to start, or show old words).
    po = tmp_path / "webapp" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('#, fuzzy\nmsgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "a"\nmsgstr "b"\n',
                  encoding="utf-8")  # fmt: skip
    with pytest.raises(SystemExit):
        project.compile_catalogues(tmp_path, ROOT / ".venv" / "bin" / "pybabel")
    said = capsys.readouterr().err
    assert f"pybabel could not compile {po}" in said and "fuzzy" in said, said
    assert sorted(p.name for p in po.parent.iterdir()) == ["messages.po"]


def test_the_whole_suite_runs_in_two_processes_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDLEDGER_TEST_WORKERS", raising=False)
    assert project.test_workers() == 2
    monkeypatch.setenv("GRIDLEDGER_TEST_WORKERS", "1")
    assert project.test_workers() == 1
    for wrong in ("0", "two", "-1"):
        monkeypatch.setenv("GRIDLEDGER_TEST_WORKERS", wrong)
        with pytest.raises(SystemExit, match="GRIDLEDGER_TEST_WORKERS"):
            project.test_workers()

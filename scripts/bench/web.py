"""``scripts/bench_web.py``: the web app and the JSON API under gunicorn, with a big access log.

One private Anvil (1 s interval mining) and a SQLite database (WAL, full sync) in a
temporary var dir, as ``scripts/bench/log.py`` builds them, or with ``--database postgresql``
a fresh PostgreSQL schema (dropped afterwards) that every process of the run uses:

1. **the world**: an office, a committee, a health department with officers, residents
   each with a certified health record and an active grant to the department
   (:func:`bench.log.build_world`); the log topped up with realistic events to
   ``--events`` (:func:`bench.log.top_up_events`: every resident gets a share, so
   each has hundreds to thousands of entries) and anchored; web users (resident log-ins)
   and API tokens (residents and officers) made with :mod:`ledger.webusers`.
2. **the servers, as in production**: ``gridledger worker`` in its own process (sender,
   indexer, anchorer: reads fail closed when the log is not anchored), and the app under
   ``python -m gunicorn --workers 2 --threads N --worker-class gthread webapp.wsgi:app``
   with the same flags as ``gridledger serve`` (access log on stdout, here /dev/null).
3. **the load**: a separate Python process (``scripts/bench_web.py client``) holding a
   fixed number of keep-alive HTTP/1.1 connections, one thread each, closed loop (each
   connection sends its next request when the last answer has arrived), so the load is
   bounded and latency is that of a server with that many clients in flight. Latency is
   from the first byte sent to the last byte received. Requests per second and p50/p95/p99
   count the requests completed in the measured window after a warm-up.

Endpoints: (c) the trivial ``GET /api/v1/ping`` (the ceiling of the same app), (a) the
resident history page ``GET /resident/history`` (a logged-in resident's session) and
``GET /api/v1/resident/accesses?limit=50`` (a resident's token), (b) the logged record
read ``POST /api/v1/department/records/<id>/read`` (an officer's token: grant check, log
append, content), and the **baseline** ``POST /records/<id>/read`` of
:mod:`bench.baseline_app`: what a department system without a ledger does (token lookup,
SELECT the record, INSERT an audit row, commit, JSON) on its own SQLite file (on
PostgreSQL: its own schema in the same database) with the
store's settings, holding the same records (copies of the logged read's answers) and the
officers' same tokens, served by a second gunicorn with exactly the same flags beside the
app. Each request picks a user and a record at random. Each round measures every endpoint
at each concurrency in turn, the order reversed every other round, so drift in the
machine's load hits all of them and the logged read and the baseline are measured next to
each other; goal 1 of issue 14 (the logged read at ≥ 0.8× the baseline's requests per
second at 4 and 16 connections, p99 no worse, ≥ 2,000 req/s) is judged from those pairs.

``--scenarios`` picks the endpoints (``ping,page,api,read,baseline`` by default):
``--scenarios read,baseline --events 20000`` measures goal 1 alone in a few minutes. The
history endpoints are judged only with the full log (``--events 1000000``, their goal's
size); with fewer events their rows say so instead of met / not met.

The client competes with the servers for the same cores: the CPU each part used in each
window is read from ``/proc`` and reported beside the figures. Timings belong here, never
in tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from argon2 import PasswordHasher
from rich.console import Console

from ledger.anchoring import Anchorer
from ledger.context import Ledger
from ledger.settings import PROJECT_ROOT
from ledger.webusers import add_user, create_token

from .chain import (
    _env,
    _free_port,
    add_database_option,
    describe_database,
    exit_when_unavailable,
    postgres_schema,
    private_chain,
)
from .log import (
    OFFICERS,
    World,
    _commit,
    _load_range,
    _percentiles,
    build_world,
    top_up_events,
    worker_process,
    write_docs,
)

BEGIN, END = "<!-- bench:web:begin -->", "<!-- bench:web:end -->"
SECTION = "## Web app and JSON API"
PASSWORD = "bench web password"
#: Log-ins are set up, not measured: cheap argon2 parameters (verification follows the hash's own).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HISTORY_PAGE = "/resident/history"
HISTORY_API = "/api/v1/resident/accesses?limit=50"
READ_API = "/api/v1/department/records/{record_id}/read"
BASELINE_API = "/records/{record_id}/read"  # bench.baseline_app
#: Goal 1 of issue 14: the logged read against the no-ledger baseline of the same run.
GOAL_ONE_RATIO = 0.8
GOAL_ONE_RPS = 2_000
GOAL_ONE_CONCURRENCIES = (4, 16)
#: The history endpoints' goal is stated at this size of log.
HISTORY_EVENTS = 1_000_000
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str  # as shown in the report
    goal: str
    p95_goal_ms: float | None = None
    p99_goal_ms: float | None = None
    rps_goal: float | None = None
    min_events: int | None = None  # judged only with at least this many events in the log
    server: str = "app"  # which gunicorn serves it: "app" or "baseline"


SCENARIOS = {
    "ping": Scenario("ping", "(c) ceiling: `GET /api/v1/ping`", "—"),
    "page": Scenario("page", f"(a) history page: `GET {HISTORY_PAGE}` (resident, session)", "p95 ≤ 50 ms",
                     p95_goal_ms=50, min_events=HISTORY_EVENTS),
    "api": Scenario("api", f"(a) history API: `GET {HISTORY_API}` (resident, token)", "p95 ≤ 50 ms",
                    p95_goal_ms=50, min_events=HISTORY_EVENTS),
    "read": Scenario("read", "(b) logged read: `POST /api/v1/department/records/{id}/read` (officer, token)",
                     "≥ 2,000 req/s, p99 ≤ 50 ms", p99_goal_ms=50, rps_goal=2_000),
    "baseline": Scenario("baseline", "baseline: `POST /records/{id}/read` (no ledger)", "— (goal 1: below)",
                         server="baseline"),
}  # fmt: skip


# -- the load generator (its own process) -------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection on a raw socket: little client CPU per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, bytearray()
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(262_144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def exchange(self, request: bytes) -> tuple[int, int]:
        """Sends ``request``, reads the whole response; (status, body bytes)."""
        sock = self.sock or self._connect()
        sock.sendall(request)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            self._fill(sock)
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
        del buf[: end + 4]
        if chunked:
            length = self._chunked(sock)
        else:
            while len(buf) < length:
                self._fill(sock)
            del buf[:length]
        if close:
            self.close()
        return status, length

    def _chunked(self, sock: socket.socket) -> int:
        buf, total = self.buf, 0
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                self._fill(sock)
            size = int(bytes(buf[:eol]).split(b";")[0], 16)
            del buf[: eol + 2]
            while len(buf) < size + 2:
                self._fill(sock)
            del buf[: size + 2]
            total += size
            if size == 0:  # no trailers expected from gunicorn
                return total


def _requests(spec: dict[str, Any]) -> tuple[list[bytes], list[bytes], bytes]:
    """The request lines, header blocks and body of a load spec, encoded once."""
    host = f"Host: {spec['host']}:{spec['port']}\r\n"
    method = spec["method"]
    body = spec.get("body")
    lines = [f"{method} {path} HTTP/1.1\r\n".encode() for path in spec["paths"]]
    extra = ""
    if body is not None:
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
    heads = [
        (host + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + extra + "\r\n").encode()
        for headers in spec["headers"]
    ]
    return lines, heads, (body or "").encode()


def client_main() -> None:
    """``scripts/bench_web.py client``: reads a load spec (JSON) on stdin, prints
    ``start`` and ``end`` around the measured window, then the results as JSON."""
    spec = json.loads(sys.stdin.read())
    lines, heads, body = _requests(spec)
    concurrency, warmup, seconds = int(spec["concurrency"]), float(spec["warmup"]), float(spec["seconds"])
    stop = threading.Event()
    samples: list[list[tuple[float, float, int]]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    sizes: list[int] = [0] * concurrency

    def run(n: int) -> None:
        rng = random.Random(spec.get("seed", 0) * 1_000 + n)
        conn = _Connection(spec["host"], int(spec["port"]))
        out = samples[n]
        clock = time.perf_counter
        while not stop.is_set():
            request = rng.choice(lines) + rng.choice(heads) + body
            began = clock()
            try:
                status, size = conn.exchange(request)
            except (OSError, ValueError, IndexError) as exc:
                conn.close()
                errors.append(f"{type(exc).__name__}: {exc}")
                out.append((clock(), clock() - began, 0))
                time.sleep(0.01)
                continue
            done = clock()
            out.append((done, done - began, status))
            sizes[n] = size
        conn.close()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    t0, cpu0 = time.perf_counter(), time.process_time()
    print("start", flush=True)
    time.sleep(seconds)
    t1, cpu1 = time.perf_counter(), time.process_time()
    print("end", flush=True)
    stop.set()
    for thread in threads:
        thread.join(timeout=70)
    measured = [(lat, status) for out in samples for done, lat, status in out if t0 <= done < t1]
    statuses = Counter(str(status) for _, status in measured)
    result = {
        "count": len(measured),
        "seconds": t1 - t0,
        "latencies": [lat for lat, status in measured if 200 <= status < 300],
        "statuses": dict(statuses),
        "errors": errors[:5],
        "client_cpu": cpu1 - cpu0,
        "body_bytes": max(sizes),
    }
    print(json.dumps(result), flush=True)


# -- CPU accounting from /proc ------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, everyone's work)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / _TICK


@dataclass
class Processes:
    """The processes of the benchmark, by part."""

    groups: dict[str, list[int]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        taken = {name: sum(_proc_cpu(pid) for pid in pids) for name, pids in self.groups.items()}
        taken["machine"] = _machine_busy()
        return taken


# -- one measured window ------------------------------------------------------------------


@dataclass
class Window:
    scenario: str
    concurrency: int
    round: int
    count: int
    seconds: float
    latencies: list[float]  # seconds, of 2xx answers
    statuses: dict[str, int]
    errors: list[str]
    body_bytes: int
    cpu: dict[str, float]  # cores used in the window, by part (and "others": the rest of the machine)
    load: float  # the machine's 1-minute load average at the end of the window

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def percentiles_ms(self) -> tuple[float, float, float]:
        p50, p95, p99 = _percentiles(self.latencies, (50, 95, 99))
        return p50 * 1e3, p95 * 1e3, p99 * 1e3


def measure(spec: dict[str, Any], scenario: str, round_no: int, processes: Processes, env: dict[str, str]) -> Window:
    """Runs the load generator for one window and reads the CPU the parts used in it."""
    client = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "bench_web.py"), "client"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None
    client.stdin.write(json.dumps({**spec, "seed": round_no}))
    client.stdin.close()
    parts = Processes({**processes.groups, "client": [client.pid], "bench": [os.getpid()]})
    _expect(client.stdout, "start")
    before, t0 = parts.snapshot(), time.perf_counter()
    _expect(client.stdout, "end")
    after, t1 = parts.snapshot(), time.perf_counter()
    load = os.getloadavg()[0]
    result = json.loads(client.stdout.read())
    client.wait(timeout=60)
    wall = t1 - t0
    cpu = {name: (after[name] - before[name]) / wall for name in after}
    ours = sum(v for k, v in cpu.items() if k != "machine")
    cpu["others"] = max(0.0, cpu.pop("machine") - ours)
    return Window(
        scenario=scenario, concurrency=int(spec["concurrency"]), round=round_no, count=result["count"],
        seconds=result["seconds"],
        latencies=result["latencies"], statuses=result["statuses"], errors=result["errors"],
        body_bytes=result["body_bytes"], cpu=cpu, load=load,
    )  # fmt: skip


def _expect(stream: IO[str], word: str) -> None:
    line = stream.readline().strip()
    if line != word:
        raise RuntimeError(f"the load generator said {line!r}, expected {word!r}")


# -- the servers --------------------------------------------------------------------------


def gunicorn(
    ledger: Ledger, port: int, workers: int, threads: int, log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The app under gunicorn as ``gridledger serve`` runs it; waits until it answers."""
    from ledger.cli.serve import gunicorn_command

    command = gunicorn_command("127.0.0.1", port, workers, threads)
    return _served(command, {**os.environ, **_env(ledger.settings)}, port, "/login", log)


def baseline_command(port: int, workers: int, threads: int) -> list[str]:
    """gunicorn with exactly the flags of ``gridledger serve`` (workers, threads, worker class,
    timeout, access log) serving :mod:`bench.baseline_app` instead of the web app; only the
    config that loads the web app's modules before the fork is left out."""
    from ledger.cli.serve import gunicorn_command

    command = gunicorn_command("127.0.0.1", port, workers, threads)[:-1]  # the last is the app
    if "--config" in command:
        at = command.index("--config")
        del command[at : at + 2]
    return [*command, "--pythonpath", str(PROJECT_ROOT / "scripts"), "bench.baseline_app:create_app()"]


def baseline_server(
    database: str | Path, port: int, workers: int, threads: int, log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The no-ledger baseline under gunicorn (:func:`baseline_command`); waits until it answers."""
    from .baseline_app import DATABASE_ENV

    command = baseline_command(port, workers, threads)
    return _served(command, {**os.environ, DATABASE_ENV: str(database)}, port, "/ping", log)


@contextmanager
def _served(
    command: list[str], env: dict[str, str], port: int, ready: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``command`` (a gunicorn) until the context ends; first waits until ``GET ready`` answers 200."""
    with log.open("ab") as errors:
        server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(port, ready)
                if status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not come up; see {log}:\n{_tail(log)}")
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _cookie(response: http.client.HTTPResponse, name: str) -> str | None:
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0]
    return None


def log_in(port: int, username: str) -> str:
    """Logs in as a browser does (the form's CSRF token, the session cookie); returns the
    ``Cookie`` header value of the logged-in session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/login")
        page = conn.getresponse()
        html = page.read().decode()
        cookie = _cookie(page, "gridledger_session")
        found = _CSRF.search(html)
        if cookie is None or found is None:
            raise RuntimeError("the log-in page gave no session cookie or no CSRF token")
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": found.group(1) or found.group(2)}
        )
        conn.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        })  # fmt: skip
        answer = conn.getresponse()
        answer.read()
        session = _cookie(answer, "gridledger_session")
        if answer.status != 302 or session is None:
            raise RuntimeError(f"log-in as {username} failed: HTTP {answer.status}")
        return session
    finally:
        conn.close()


# -- the data -----------------------------------------------------------------------------


@dataclass
class Users:
    sessions: list[str]  # Cookie header values of logged-in residents
    resident_tokens: list[str]
    officer_tokens: list[str]
    residents: list[str]  # addresses of the residents with log-ins and tokens


def make_users(ledger: Ledger, world: World, count: int) -> tuple[list[str], list[str], list[str]]:
    """Web users and tokens for the first ``count`` residents, tokens for every officer.
    Returns (usernames, resident tokens, officer tokens)."""
    names, resident_tokens = [], []
    for i, address in enumerate(world.residents[:count]):
        user = add_user(ledger, f"bench-r{i}", PASSWORD, account=address, display_name=f"居民 {i}",
                        hasher=CHEAP_HASHER)  # fmt: skip
        names.append(user.username)
        resident_tokens.append(create_token(ledger, address, "bench").token)
    officer_tokens = [create_token(ledger, label, "bench").token for label in OFFICERS]
    return names, resident_tokens, officer_tokens


def events_of(ledger: Ledger, residents: Sequence[str]) -> list[int]:
    from sqlalchemy import func, select

    from ledger.store.models import AccessEvent

    with ledger.store.session() as session:
        rows = dict(
            session.execute(
                select(AccessEvent.resident, func.count())
                .where(AccessEvent.resident.in_(list(residents)))
                .group_by(AccessEvent.resident)
            ).all()
        )
    return [int(rows.get(r, 0)) for r in residents]


def populate_baseline(database: str | Path, port: int, world: World, users: Users, body: str) -> None:
    """The baseline's database: the officers' own tokens, and every record of the world with the
    document the logged read answers for it (without its ``access`` part, which the baseline
    makes from its audit row), so both answer the same records in the same shape and size.
    Fetching the documents logs one read per record before the measurement."""
    from .baseline_app import populate

    officer = dict(zip(users.officer_tokens, world.officers, strict=True))
    headers = {"Authorization": f"Bearer {users.officer_tokens[0]}", "Content-Type": "application/json"}
    documents: list[tuple[str, dict[str, Any]]] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for record_id in world.records:
            conn.request("POST", READ_API.format(record_id=record_id), body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"the logged read of {record_id} answered HTTP {response.status}: {data[:300]!r}")
            document = json.loads(data)
            document.pop("access", None)
            documents.append((record_id, document))
    finally:
        conn.close()
    populate(database, officer, documents)


def baseline_database(ledger: Ledger, stack: ExitStack) -> str | Path:
    """The baseline's own database, of the same kind as the ledger's: a SQLite file beside the
    ledger's, or a schema of its own in the ledger's PostgreSQL database (dropped when ``stack`` ends)."""
    if ledger.settings.db_url.startswith("sqlite"):
        return ledger.settings.var_dir / "baseline.db"
    base, _, _options = ledger.settings.db_url.partition("?")
    return stack.enter_context(postgres_schema("bench_baseline", base))


def specs(
    port: int, world: World, users: Users, options: Options, concurrency: int, baseline_port: int | None = None
) -> dict[str, dict[str, Any]]:
    """The load generator's spec for each scenario, with ``concurrency`` connections."""
    base = {"host": "127.0.0.1", "port": port, "concurrency": concurrency,
            "warmup": options.warmup, "seconds": options.seconds}  # fmt: skip
    bearer = [{"Authorization": f"Bearer {t}"} for t in users.resident_tokens]
    officers = [{"Authorization": f"Bearer {t}"} for t in users.officer_tokens]
    found = {
        "ping": {**base, "method": "GET", "paths": [options.ping_path], "headers": [{}]},
        "page": {**base, "method": "GET", "paths": [HISTORY_PAGE], "headers": [{"Cookie": c} for c in users.sessions]},
        "api": {**base, "method": "GET", "paths": [HISTORY_API], "headers": bearer},
        "read": {
            **base, "method": "POST", "body": options.read_body,
            "paths": [READ_API.format(record_id=r) for r in world.records], "headers": officers,
        },
    }  # fmt: skip
    if baseline_port is not None:  # the same requests to the other server: same body, records and tokens
        found["baseline"] = {
            **found["read"], "port": baseline_port, "paths": [BASELINE_API.format(record_id=r) for r in world.records],
        }  # fmt: skip
    return found


def probe(port: int, spec: dict[str, Any]) -> tuple[int, str]:
    """One request of the spec through http.client: (status, a short description)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        body = spec.get("body")
        headers = dict(spec["headers"][0])
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(spec["method"], spec["paths"][0], body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    kind = response.getheader("Content-Type", "")
    described = f"HTTP {response.status}, {len(data):,} bytes, {kind}"
    if "json" in kind:
        try:
            document = json.loads(data)
        except ValueError:
            return response.status, described + " (not JSON)"
        described += ": " + _shape(document)
    elif "html" in kind:
        described += f": {data.count(b'<tr')} table rows"
    return response.status, described


def _shape(document: Any) -> str:
    if isinstance(document, dict):
        return (
            "{" + ", ".join(f"{k}: {_shape(v)}" if isinstance(v, dict | list) else k for k, v in document.items()) + "}"
        )
    if isinstance(document, list):
        return f"[{len(document)} × {_shape(document[0]) if document else '…'}]"
    return type(document).__name__


# -- the run ------------------------------------------------------------------------------


@dataclass
class Options:
    events: int = 1_000_000
    residents: int = 500
    users: int = 64  # residents with a log-in and a token
    seconds: float = 20.0
    warmup: float = 5.0
    rounds: int = 3
    concurrencies: tuple[int, ...] = (4, 16)  # each scenario is measured at each
    workers: int = 2
    threads: int = 8
    scenarios: tuple[str, ...] = ("ping", "page", "api", "read", "baseline")
    ping_path: str = "/api/v1/ping"
    read_body: str = "{}"
    anchor_interval: float = 1.0
    write_docs: bool = False
    database: str = "sqlite"


@dataclass
class Results:
    options: Options
    windows: list[Window] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # scenario -> why
    probes: dict[str, str] = field(default_factory=dict)
    setup: dict[str, float] = field(default_factory=dict)
    log_size: tuple[int, int] = (0, 0)  # at the first and after the last window
    history_events: list[int] = field(default_factory=list)  # events per resident with a log-in
    server_log: str = ""
    commit: str = ""
    total_seconds: float = 0.0
    database: str = "SQLite (WAL, full sync)"  # as the report names it


def run(options: Options, console: Console | None = None) -> Results:
    console = console or Console()

    def say(message: str) -> None:
        console.print(f"{datetime.now():%H:%M:%S} {message}", markup=False, highlight=False, soft_wrap=True)

    results = Results(options, commit=_commit(("ledger", "node", "webapp", "scripts/bench"), "scripts/bench/web.py"))
    began = time.perf_counter()
    with private_chain("gridledger-bench-web-", deployed=False, database=options.database) as ledger:
        results.database = describe_database(ledger.settings.db_url)
        _run(ledger, options, results, say)
    results.total_seconds = time.perf_counter() - began
    section = report(results)
    console.print(section, markup=False, highlight=False, soft_wrap=True)
    if options.write_docs:
        write_docs(section, BEGIN, END, SECTION)
        say("written to docs/benchmarks.md")
    return results


def _run(ledger: Ledger, options: Options, results: Results, say: Any) -> None:
    from ledger.accesslog import AccessLog

    step = time.perf_counter()
    world = build_world(ledger, options.residents, say)
    results.setup["world"] = time.perf_counter() - step
    appended, seconds = top_up_events(ledger, world, options.events, say)
    results.setup["events"] = seconds
    step = time.perf_counter()
    Anchorer(ledger, world.anchorer, report=lambda _m: None).run_until_anchored(timeout=1_800)
    results.setup["anchor"] = time.perf_counter() - step
    say(f"events: {appended:,} appended in {seconds:.0f} s, anchored in {results.setup['anchor']:.0f} s")
    names, resident_tokens, officer_tokens = make_users(ledger, world, options.users)
    results.history_events = events_of(ledger, world.residents[: options.users])
    say(
        f"users: {len(names)} residents with a log-in and a token (events each: min {min(results.history_events):,}, "
        f"median {statistics.median(results.history_events):,.0f}), {len(officer_tokens)} officer tokens"
    )
    log = AccessLog(ledger.store)
    port = _free_port()
    server_log = ledger.settings.var_dir / "gunicorn.log"
    baseline_log = ledger.settings.var_dir / "gunicorn-baseline.log"
    client_env = dict(os.environ)
    with ExitStack() as stack:
        worker = stack.enter_context(worker_process(ledger, options.anchor_interval))
        server = stack.enter_context(gunicorn(ledger, port, options.workers, options.threads, server_log))
        servers = {"app": _children(server.pid) + [server.pid]}
        others = {"worker": [worker.pid]}
        node = ledger.settings.chain_dir / "anvil.pid"
        if node.exists():
            others["node"] = [int(node.read_text().strip())]
        say(f"gunicorn on port {port}: {options.workers} workers × {options.threads} threads "
            f"(pids {servers['app']}); worker pid {worker.pid}")  # fmt: skip
        sessions = [log_in(port, name) for name in names] if "page" in options.scenarios else []
        users = Users(sessions, resident_tokens, officer_tokens, world.residents[: options.users])
        baseline_port: int | None = None
        if "baseline" in options.scenarios:
            baseline_port = _free_port()
            database = baseline_database(ledger, stack)
            step = time.perf_counter()
            try:
                populate_baseline(database, port, world, users, options.read_body)
            except (RuntimeError, OSError, ValueError) as exc:
                results.skipped["baseline"] = str(exc)
                say(f"baseline not populated: {exc}")
                baseline_port = None
            else:
                results.setup["baseline"] = time.perf_counter() - step
                baseline = stack.enter_context(
                    baseline_server(database, baseline_port, options.workers, options.threads, baseline_log)
                )
                servers["baseline"] = _children(baseline.pid) + [baseline.pid]
                say(f"baseline gunicorn on port {baseline_port}: {len(world.records)} records, "
                    f"{len(officer_tokens)} officer tokens (pids {servers['baseline']})")  # fmt: skip
        plans = {c: specs(port, world, users, options, c, baseline_port) for c in options.concurrencies}
        first = plans[options.concurrencies[0]]
        active: list[str] = []
        for key in options.scenarios:
            if key in results.skipped:
                continue
            status, described = probe(int(first[key]["port"]), first[key])
            results.probes[key] = described
            say(f"probe {key}: {described}")
            if 200 <= status < 300:
                active.append(key)
            else:
                results.skipped[key] = described
        results.log_size = (log.size(), 0)
        for r in range(1, options.rounds + 1):
            order = active if r % 2 else active[::-1]  # every other round the other way round
            for concurrency in options.concurrencies:
                for key in order:
                    # "server": the gunicorn under load; the idle one counts under "others"
                    processes = Processes({"server": servers[SCENARIOS[key].server], **others})
                    window = measure(plans[concurrency][key], key, r, processes, client_env)
                    results.windows.append(window)
                    say(f"round {r}/{options.rounds} {key} × {concurrency}: {_described(window)}")
        results.log_size = (results.log_size[0], log.size())
        if any(w.failed for w in results.windows):
            results.server_log = _tail(server_log)
            if any(w.failed for w in results.windows if SCENARIOS[w.scenario].server == "baseline"):
                results.server_log += "\n(baseline)\n" + _tail(baseline_log)
            say(f"some answers were not 2xx; the servers' logs end:\n{results.server_log}")


def _described(window: Window) -> str:
    p50, p95, p99 = window.percentiles_ms()
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in window.cpu.items())
    return (
        f"{window.rate:,.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms; {window.body_bytes:,} bytes; "
        f"cores: {cpu}; load {window.load:.1f}"
        + (f"; NOT 2xx: {window.statuses}" if window.failed else "")
        + (f"; client errors {window.errors}" if window.errors else "")
    )


def report(results: Results) -> str:
    o = results.options
    import gunicorn as gunicorn_package

    first, last = results.log_size
    events = results.history_events
    lines = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"gunicorn {gunicorn_package.__version__} with **{o.workers} workers × {o.threads} threads** (gthread, the "
        f"flags of `gridledger serve`, access log on), `gridledger worker` anchoring in its own process (interval "
        f"{o.anchor_interval:g} s), {results.database}, Anvil with 1 s interval mining; "
        f"**{first:,} events in the access log** at the first window ({last:,} after the last); {o.residents} "
        f"residents with a certified record and a grant each; the {len(events)} residents who log in have "
        f"{min(events, default=0):,}–{max(events, default=0):,} events each (median "
        f"{statistics.median(events) if events else 0:,.0f}). Load: a separate Python process with "
        f"**{' and '.join(str(c) for c in o.concurrencies)} keep-alive connections** (each endpoint at each), closed "
        f"loop (one request in flight per connection), each request for a random user (and record); {o.rounds} "
        f"rounds of {o.seconds:g} s after {o.warmup:g} s of warm-up per endpoint and concurrency, each round every "
        f"endpoint at each concurrency in turn, the order reversed every other round"
        + (
            ", the no-ledger baseline (`scripts/bench/baseline_app.py`: "
            + ("its own SQLite file" if o.database == "sqlite" else "its own schema in the same PostgreSQL database")
            + " with the store's settings, the same records and officers' tokens) under a second gunicorn with the "
            "same flags beside the app"
            if "baseline" in o.scenarios
            else ""
        )
        + f"; code at {results.commit}; whole run {results.total_seconds / 60:.0f} min.",
        "",
        "| endpoint | connections | goal | req/s: median (rounds) | p50 | p95 | p99 | response | cores used: server / "
        "worker / node / client / others | load |",
        "|---|---:|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for key, concurrency in ((k, c) for k in o.scenarios for c in o.concurrencies):
        scenario = SCENARIOS[key]
        windows = [w for w in results.windows if w.scenario == key and w.concurrency == concurrency]
        if not windows:
            lines.append(f"| {scenario.name} | {concurrency} | {scenario.goal} | not measured: "
                         f"{results.skipped.get(key, '—')} | | | | | | |")  # fmt: skip
            continue
        rates = [w.rate for w in windows]
        pct = [w.percentiles_ms() for w in windows]
        p50, p95, p99 = (statistics.median(p[i] for p in pct) for i in range(3))
        rate = statistics.median(rates)
        cpu = {k: statistics.median(w.cpu.get(k, 0.0) for w in windows) for k in
               ("server", "worker", "node", "client", "others")}  # fmt: skip
        verdict = _verdict(scenario, rate, p95, p99, first)
        lines.append(
            f"| {scenario.name} | {concurrency} | {scenario.goal}{verdict} | **{rate:,.0f}** ({', '.join(f'{r:,.0f}' for r in rates)}) "
            f"| {p50:.1f} ms | {p95:.1f} ms | {p99:.1f} ms | {statistics.median(w.body_bytes for w in windows):,.0f} B "
            f"| {' / '.join(f'{cpu[k]:.2f}' for k in cpu)} | {_load_range(windows)} |"
        )
    if "read" in o.scenarios and "baseline" in o.scenarios:
        lines += ["", *goal_one_lines(goal_one(results.windows), results.skipped)]
    failed = [w for w in results.windows if w.failed or w.errors]
    lines += [
        "",
        "Latency percentiles are the medians of the rounds' own percentiles; 'cores used' is CPU seconds per second "
        "of the window, from `/proc` (server: the master and workers of the gunicorn under load, the app's or the "
        "baseline's, the idle one counted under others; worker: `gridledger worker`; node: "
        "Anvil; client: the load generator, which competes with the server for the same 2 cores; others: the rest "
        "of the machine, other people's work); 'load' is the 1-minute load average at the end of the windows.",
    ]
    if failed:
        lines += [
            "",
            "Answers that were not 2xx (not in the latencies): "
            + "; ".join(f"{w.scenario} × {w.concurrency} round {w.round}: {w.statuses} {w.errors[:2]}" for w in failed),
        ]
    setup = results.setup
    lines += [
        "",
        f"Setup (not measured above): world {setup.get('world', 0):.0f} s, events appended in "
        f"{setup.get('events', 0):.0f} s, anchored in {setup.get('anchor', 0):.0f} s"
        + (
            f", the baseline's records fetched from the logged read and stored in {setup['baseline']:.0f} s"
            if "baseline" in setup
            else ""
        )
        + ".",
        "",
        f"Re-run: `.venv/bin/python scripts/bench_web.py --events {o.events} --seconds {o.seconds:g} "
        f"--rounds {o.rounds} --concurrency {','.join(str(c) for c in o.concurrencies)} --workers {o.workers} "
        f"--threads {o.threads} --scenarios {','.join(o.scenarios)}"
        + ("`." if o.database == "sqlite" else f" --database {o.database}`."),
        END,
    ]
    return "\n".join(lines)


def _verdict(scenario: Scenario, rate: float, p95: float, p99: float, events: int) -> str:
    if scenario.min_events is not None and events < scenario.min_events:
        return f": not judged ({events:,} events; the goal is at {scenario.min_events:,})"
    met = True
    if scenario.p95_goal_ms is not None:
        met &= p95 <= scenario.p95_goal_ms
    if scenario.p99_goal_ms is not None:
        met &= p99 <= scenario.p99_goal_ms
    if scenario.rps_goal is not None:
        met &= rate >= scenario.rps_goal
    if scenario.p95_goal_ms is None and scenario.p99_goal_ms is None and scenario.rps_goal is None:
        return ""
    return ": met" if met else ": **not met**"


@dataclass(frozen=True)
class GoalOneRow:
    """Goal 1 at one concurrency: the logged read against the baseline of the same rounds."""

    concurrency: int
    read_rate: float  # req/s, median of the rounds
    baseline_rate: float
    round_ratios: tuple[float, ...]  # logged read / baseline, round by round
    read_p99: float  # ms, median of the rounds' p99
    baseline_p99: float
    not_2xx: int  # answers that were not 2xx, both endpoints

    @property
    def ratio(self) -> float:
        return self.read_rate / self.baseline_rate if self.baseline_rate else 0.0

    def misses(self) -> list[str]:
        """What of goal 1 this concurrency misses (nothing: met)."""
        found = []
        if self.ratio < GOAL_ONE_RATIO:
            found.append(f"{self.ratio:.2f}× < {GOAL_ONE_RATIO:g}×")
        if not self.read_p99 <= self.baseline_p99:  # NaN (no 2xx answer) misses too
            found.append(f"p99 {self.read_p99:.1f} ms > {self.baseline_p99:.1f} ms")
        if self.read_rate < GOAL_ONE_RPS:
            found.append(f"{self.read_rate:,.0f} < {GOAL_ONE_RPS:,} req/s")
        if self.not_2xx:
            found.append(f"{self.not_2xx:,} answers not 2xx")
        return found


def goal_one(windows: Sequence[Window]) -> list[GoalOneRow]:
    """Goal 1 at each concurrency where both the logged read and the baseline were measured."""
    rows = []
    for concurrency in sorted({w.concurrency for w in windows}):
        read = {w.round: w for w in windows if w.scenario == "read" and w.concurrency == concurrency}
        base = {w.round: w for w in windows if w.scenario == "baseline" and w.concurrency == concurrency}
        if not read or not base:
            continue
        rounds = sorted(set(read) & set(base))
        rows.append(GoalOneRow(
            concurrency=concurrency,
            read_rate=statistics.median(w.rate for w in read.values()),
            baseline_rate=statistics.median(w.rate for w in base.values()),
            round_ratios=tuple(read[r].rate / base[r].rate if base[r].rate else 0.0 for r in rounds),
            read_p99=statistics.median(w.percentiles_ms()[2] for w in read.values()),
            baseline_p99=statistics.median(w.percentiles_ms()[2] for w in base.values()),
            not_2xx=sum(w.failed for w in (*read.values(), *base.values())),
        ))  # fmt: skip
    return rows


def goal_one_verdict(rows: Sequence[GoalOneRow]) -> str:
    """``met``, ``not met`` (a concurrency misses) or ``not judged`` (4 or 16 connections not measured)."""
    if any(row.misses() for row in rows):
        return "not met"
    measured = {row.concurrency for row in rows}
    if not set(GOAL_ONE_CONCURRENCIES) <= measured:
        return "not judged"
    return "met"


def goal_one_lines(rows: Sequence[GoalOneRow], skipped: dict[str, str]) -> list[str]:
    """Goal 1's paragraph and table in the report."""
    verdict = goal_one_verdict(rows)
    wanted = " and ".join(str(c) for c in GOAL_ONE_CONCURRENCIES)
    head = (
        f"Goal 1 (issue 14): the logged read at ≥ {GOAL_ONE_RATIO:g}× the no-ledger baseline's req/s at {wanted} "
        f"connections, p99 no worse, and ≥ {GOAL_ONE_RPS:,} req/s"
    )
    lines = [f"**{head}: {verdict}.**"]
    missing = [c for c in GOAL_ONE_CONCURRENCIES if c not in {row.concurrency for row in rows}]
    if missing:
        why = "; ".join(f"{key}: {skipped[key]}" for key in ("read", "baseline") if key in skipped)
        lines[0] += (
            f" Not measured at {', '.join(str(c) for c in missing)} connections" + (f" ({why})" if why else "") + "."
        )
    lines += [
        "",
        "| connections | logged read req/s | baseline req/s | ratio: medians (round by round) | logged read p99 "
        "| baseline p99 | goal 1 |",
        "|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in rows:
        misses = row.misses()
        lines.append(
            f"| {row.concurrency} | {row.read_rate:,.0f} | {row.baseline_rate:,.0f} | **{row.ratio:.2f}×** "
            f"({', '.join(f'{r:.2f}' for r in row.round_ratios)}) | {row.read_p99:.1f} ms | {row.baseline_p99:.1f} ms "
            f"| {'**not met**: ' + '; '.join(misses) if misses else 'met'} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> Results | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["client"]:
        client_main()
        return None
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the access log")
    parser.add_argument("--residents", type=int, default=500, help="residents, each with a record and a grant")
    parser.add_argument("--users", type=int, default=64, help="residents with a log-in and an API token")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per window")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per window")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the report gives medians)")
    parser.add_argument("--concurrency", default="4,16",
                        help="client connections (closed loop), comma-separated: each endpoint at each")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="endpoints to measure, comma-separated: ping, page, api (the history: judged with "
                             "1,000,000 events), read (the logged read), baseline (the same read without a ledger); "
                             "'read,baseline --events 20000' measures goal 1 in a few minutes")  # fmt: skip
    parser.add_argument("--ping-path", default="/api/v1/ping", help="the trivial endpoint (the ceiling)")
    parser.add_argument("--read-body", default="{}", help="JSON body of the record read")
    parser.add_argument("--anchor-interval", type=float, default=1.0, help="seconds between checkpoints")
    parser.add_argument(
        "--write-docs",
        dest="write_docs",
        action="store_true",
        default=False,
        help="write the results to docs/benchmarks.md (off by default: small runs stay out)",
    )
    parser.add_argument("--no-write-docs", dest="write_docs", action="store_false")
    add_database_option(parser)
    args = parser.parse_args(argv)
    if args.write_docs and args.database != "sqlite":
        parser.error("--write-docs writes the SQLite section; PostgreSQL's figures are not written there")
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    try:
        concurrencies = tuple(int(c) for c in args.concurrency.split(",") if c.strip())
    except ValueError:
        parser.error(f"--concurrency takes whole numbers separated by commas; got {args.concurrency!r}")
    if not concurrencies or min(concurrencies) < 1:
        parser.error("--concurrency needs at least one number of connections, each 1 or more")
    options = Options(
        events=args.events, residents=args.residents, users=min(args.users, args.residents), seconds=args.seconds,
        warmup=args.warmup, rounds=args.rounds, concurrencies=concurrencies, workers=args.workers,
        threads=args.threads, scenarios=scenarios, ping_path=args.ping_path, read_body=args.read_body,
        anchor_interval=args.anchor_interval, write_docs=args.write_docs, database=args.database,
    )  # fmt: skip
    with exit_when_unavailable():
        return run(options)

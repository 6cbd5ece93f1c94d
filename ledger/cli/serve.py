"""``gridledger serve``: the web app and the JSON API under gunicorn."""

from __future__ import annotations

import sys

import click

from ._base import console, load_settings, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GRIDLEDGER_WEB_HOST",
              help="Address to listen on (env GRIDLEDGER_WEB_HOST).")  # fmt: skip
@click.option("--port", type=int, default=8000, show_default=True, envvar="GRIDLEDGER_WEB_PORT",
              help="Port to listen on (env GRIDLEDGER_WEB_PORT).")  # fmt: skip
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--threads",
    type=int,
    default=8,
    show_default=True,
    help="Threads per worker (a logged read waits for its commit: more threads, bigger group commits).",
)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app and the JSON API with gunicorn (run 'gridledger worker' beside it)."""
    import os

    settings = load_settings(ask_password=True)
    problem = port_problem(host, port)
    if problem:
        raise click.UsageError(f"{problem}; choose another with --port or GRIDLEDGER_WEB_PORT")
    env = dict(os.environ)
    if settings.key_password is not None:
        env["GRIDLEDGER_KEY_PASSWORD"] = settings.key_password
    command = gunicorn_command(host, port, workers, threads)
    console.print(f"serving http://{host}:{port}/ with {workers} workers × {threads} threads (Ctrl-C to stop)")
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


#: gunicorn's access log without query strings or referrers: a search for a resident's
#: name (the committee's resident search is a GET) must not end up in a log file.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'


def gunicorn_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    """How ``serve`` runs gunicorn (the web benchmark runs the same)."""
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
        "--threads", str(threads), "--worker-class", "gthread", "--timeout", "60",
        "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
        "--config", "python:webapp.gunicorn_conf",  # the workers fork with the app's modules loaded
    ]  # fmt: skip
    if _gunicorn_has("control_socket_disable"):
        # gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for every
        # gunicorn of the user: two installations (or a test) would take it from each other.
        command.append("--no-control-socket")
    return [*command, "webapp.wsgi:app"]


def _gunicorn_has(setting: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(known.name == setting for known in KNOWN_SETTINGS)


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (taken, not an address here), else None.
    Binds with SO_REUSEADDR as gunicorn does, so a port in TIME_WAIT counts as free."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{host} is not an address to listen on ({exc.strerror})"
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"port {port} on {host} is taken (or not allowed): {exc.strerror}"
    return None

#!/usr/bin/env python3
"""Set up gridledger in this folder, then run it or test it.

    python3 scripts/project.py run    # set up, start the node, deploy, build the demo subdistrict
    python3 scripts/project.py test   # set up, run the test suite (extra arguments go to pytest)

Needs only Python 3.11+ and Node.js 20+ (with npm). Everything is installed into the
project folder: a virtual environment in .venv/, npm packages in node_modules/, and
machine state (chain, database, keys) in var/. Each step is skipped when already done,
so running again is quick and creates nothing twice.

Uses only the standard library: it runs before the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
GRIDLEDGER = BIN / "gridledger"
DEMO_PASSWORD_FILE = ROOT / "var" / "demo-key-password"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


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
    if env.get("GRIDLEDGER_KEY_PASSWORD") or env.get("GRIDLEDGER_KEY_PASSWORD_FILE"):
        return env
    if not DEMO_PASSWORD_FILE.exists():
        DEMO_PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(DEMO_PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    env["GRIDLEDGER_KEY_PASSWORD_FILE"] = str(DEMO_PASSWORD_FILE)
    return env


def main_run() -> None:
    setup()
    env = demo_env()
    say("preparing the database (var/gridledger.db unless DATABASE_URL is set)")
    run(GRIDLEDGER, "init", env=env)
    say("starting the local chain node (Anvil, interval mining, state in var/chain/)")
    run(GRIDLEDGER, "node", "start", env=env)
    say("deploying the contracts (or reusing the deployment on this chain)")
    run(GRIDLEDGER, "deploy", env=env)
    say("building the demo subdistrict")
    run(GRIDLEDGER, "demo", env=env)
    run(GRIDLEDGER, "org", "list", env=env)
    print()
    print("The node keeps running in the background. Next:")
    print("  .venv/bin/gridledger member list             # who acts for whom, from the chain")
    print("  .venv/bin/gridledger node status | stop      # the local chain")
    print("  .venv/bin/gridledger worker                  # send, index, anchor the access log (Ctrl-C)")
    print("  .venv/bin/gridledger log status              # how much of the access log is anchored")
    print("  python3 scripts/project.py run               # again: reuses everything, duplicates nothing")
    if "GRIDLEDGER_KEY_PASSWORD_FILE" in env and Path(env["GRIDLEDGER_KEY_PASSWORD_FILE"]) == DEMO_PASSWORD_FILE:
        print(
            f"  (demo keystore password in {DEMO_PASSWORD_FILE.relative_to(ROOT)}; "
            "export GRIDLEDGER_KEY_PASSWORD_FILE=var/demo-key-password to use the CLI)"
        )


def main_test(pytest_args: list[str]) -> None:
    setup()
    say("running the tests")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "run":
        main_run()
    else:
        main_test(sys.argv[2:])


if __name__ == "__main__":
    main()

"""The ``gridledger`` command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from .errors import LedgerError
from .settings import Settings

if TYPE_CHECKING:
    from .context import Ledger

# Piped output (CI logs, files) gets room for the tables instead of Rich's 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


def _settings(ask_password: bool = False) -> Settings:
    settings = Settings.from_env()
    if ask_password and settings.key_password is None and sys.stdin.isatty():
        password = click.prompt("Keystore password", hide_input=True)
        settings = settings.with_(key_password=password)
    return settings


@contextmanager
def _ledger(upgrade: bool = False) -> Iterator[Ledger]:
    from .context import Ledger

    ledger = Ledger.open(_settings(ask_password=True), upgrade=upgrade)
    try:
        yield ledger
    finally:
        ledger.close()


class _Group(click.Group):
    """Turns every :class:`LedgerError` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="gridledger")
def main() -> None:
    """gridledger: a permissioned ledger for community records."""


# -- set-up ------------------------------------------------------------------------------


@main.command()
def init() -> None:
    """Create var/ and bring the database schema up to date."""
    from .store import Store

    settings = _settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings, upgrade=True)
    store.close()
    console.print(f"database ready: {store.engine.url.render_as_string(hide_password=True)}")


@main.command("compile")
@click.option("--check", is_flag=True, help="Only check that contracts/build/ is fresh; write nothing.")
def compile_(check: bool) -> None:
    """Compile contracts/ into contracts/build/ (offline: native solc or solc-js)."""
    from node.compiler import compile_contracts, find_compiler, stale_artifacts, write_artifacts

    settings = _settings()
    compiler = find_compiler(settings)
    console.print(f"compiler: {compiler.kind} solc {compiler.version} ({compiler.path})")
    artifacts = compile_contracts(settings, compiler)
    if check:
        stale = stale_artifacts(settings, artifacts)
        if stale:
            raise LedgerError(f"stale artifacts in {settings.build_dir}: {', '.join(stale)}; run 'gridledger compile'")
        console.print(f"artifacts fresh: {', '.join(artifacts)}")
        return
    for path in write_artifacts(settings, artifacts):
        console.print(f"wrote {path.relative_to(settings.root)}")


# -- node ------------------------------------------------------------------------------


@main.group()
def node() -> None:
    """Run the managed local chain node (Anvil)."""


@node.command("start")
def node_start() -> None:
    """Start Anvil in the background (reuses a running one)."""
    from node.local import LocalNode

    status = LocalNode(_settings()).start()
    console.print(
        f"node running: pid {status.pid}, {status.client_version}, chain {status.chain_id}, "
        f"block {status.block_number}, {status.rpc_url}"
    )


@node.command("stop")
def node_stop() -> None:
    """Stop Anvil; it dumps its state to var/chain/ first."""
    from node.local import LocalNode

    stopped = LocalNode(_settings()).stop()
    console.print("node stopped, state saved" if stopped else "node was not running")


@node.command("status")
def node_status() -> None:
    """Say whether the node runs, and where its chain is."""
    from node.local import LocalNode

    status = LocalNode(_settings()).status()
    if not status.running:
        console.print(f"node not running (state file {status.state_file})")
        sys.exit(3)
    console.print(
        f"node running: pid {status.pid}, {status.client_version}, chain {status.chain_id}, "
        f"block {status.block_number}, {status.rpc_url}"
    )


# -- deployment --------------------------------------------------------------------------


@main.command()
@click.option("--redeploy", is_flag=True, help="Deploy afresh even if var/deployment.json names another chain.")
def deploy(redeploy: bool) -> None:
    """Deploy the contracts (or reuse the deployment on this chain)."""
    from node.deploy import deploy as run_deploy

    with _ledger(upgrade=True) as ledger:
        result = run_deploy(ledger, redeploy=redeploy)
        verb = "reused" if result.reused else "deployed"
        for name, deployed in result.deployment.contracts.items():
            console.print(f"{verb} {name} at {deployed.address} (block {deployed.block})")
        console.print(f"deployment record: {ledger.settings.deployment_file}")


# -- organisations and members -------------------------------------------------------------


@main.group()
def org() -> None:
    """Organisations: subdistrict offices, residents' committees, departments."""


@org.command("create")
@click.argument("code")
@click.option("--name", required=True, help="Human name (kept off chain).")
@click.option("--kind", type=click.Choice(["office", "committee", "department"]), required=True)
@click.option("--parent", help="Code of the office a committee or department belongs to.")
@click.option(
    "--department-kind", type=click.Choice(["civil-affairs", "health", "public-security", "social-security", "other"])
)
@click.option("--admin", "admin_label", help="Office: label of its first admin account (a key is made).")
@click.option("--member", "members", multiple=True, help="Committee: label of a signing member (repeat).")
@click.option("--threshold", type=int, help="Committee: signatures needed to certify (k of n).")
@click.option("--as", "actor", help="Sign as this account (label or address).")
def org_create(
    code: str,
    name: str,
    kind: str,
    parent: str | None,
    department_kind: str | None,
    admin_label: str | None,
    members: tuple[str, ...],
    threshold: int | None,
    actor: str | None,
) -> None:
    """Create an organisation with public code CODE."""
    from .membership import DepartmentKind, parse
    from .organisations import Organisations

    with _ledger() as ledger:
        orgs = Organisations(ledger)
        if kind == "office":
            if not admin_label:
                raise LedgerError("an office needs --admin LABEL for its first admin")
            tx = orgs.create_office(code, name, admin_label, registrar=actor or "governance")
        elif parent is None:
            raise LedgerError(f"a {kind} needs --parent OFFICE_CODE")
        elif kind == "committee":
            if not members or threshold is None:
                raise LedgerError("a committee needs --member LABEL (repeat) and --threshold K")
            tx = orgs.create_committee(code, name, parent, list(members), threshold, actor=actor)
        else:
            if not department_kind:
                raise LedgerError("a department needs --department-kind")
            tx = orgs.create_department(code, name, parent, parse(DepartmentKind, department_kind), actor=actor)  # type: ignore[arg-type]
        console.print(f"created {kind} {code} in transaction {tx}")


@org.command("list")
def org_list() -> None:
    """List organisations as the chain has them."""
    from .organisations import Organisations

    with _ledger() as ledger:
        ledger.indexer().run_once()  # read only: index up to the head, send nothing
        table = Table("code", "name", "kind", "parent", "k of n", "accounts", "id")
        for o in Organisations(ledger).organisations():
            kind = o.kind + (f" ({o.department_kind})" if o.department_kind else "")
            kn = f"{o.threshold} of {o.active_signers}" if o.kind == "committee" else ""
            table.add_row(
                o.code or "?", o.name or "?", kind, o.parent_code or "", kn, str(o.members), o.org_id[:18] + "…"
            )
        console.print(table)


@org.command("threshold")
@click.argument("code")
@click.argument("threshold", type=int)
@click.option("--as", "actor", help="Sign as this account (label or address).")
def org_threshold(code: str, threshold: int, actor: str | None) -> None:
    """Set committee CODE's signing threshold k."""
    from .organisations import Organisations

    with _ledger() as ledger:
        tx = Organisations(ledger).set_threshold(code, threshold, actor=actor)
        console.print(f"threshold of {code} set to {threshold} in transaction {tx}")


@main.group()
def member() -> None:
    """Accounts acting for organisations, and residents."""


ROLE_CHOICES = ["office-admin", "committee-member", "grid-worker", "department-officer", "resident"]


@member.command("add")
@click.argument("label")
@click.option("--org", "org_code", required=True, help="Code of the organisation.")
@click.option("--role", type=click.Choice(ROLE_CHOICES), required=True)
@click.option("--as", "actor", help="Sign as this account (label or address).")
def member_add(label: str, org_code: str, role: str, actor: str | None) -> None:
    """Add an account labelled LABEL (a key is made in the keystore)."""
    from .membership import Role, parse
    from .organisations import Organisations

    with _ledger() as ledger:
        tx = Organisations(ledger).add_member(label, org_code, parse(Role, role), actor=actor)  # type: ignore[arg-type]
        console.print(f"added {label} ({ledger.address_of(label)}) as {role} of {org_code} in transaction {tx}")


def _status_command(name: str, verb: str) -> None:
    @member.command(name, help=f"{verb.capitalize()} the account WHO (label or address).")
    @click.argument("who")
    @click.option("--as", "actor", help="Sign as this account (label or address).")
    def command(who: str, actor: str | None) -> None:
        from .organisations import Organisations

        with _ledger() as ledger:
            tx = getattr(Organisations(ledger), name)(who, actor=actor)
            console.print(f"{verb} {who} in transaction {tx}")


_status_command("suspend", "suspended")
_status_command("reinstate", "reinstated")
_status_command("revoke", "revoked")


@member.command("list")
@click.option("--org", "org_code", help="Only this organisation.")
def member_list(org_code: str | None) -> None:
    """List accounts as the chain has them."""
    from .organisations import Organisations

    with _ledger() as ledger:
        ledger.indexer().run_once()  # read only: index up to the head, send nothing
        table = Table("label", "address", "organisation", "role", "status")
        for m in Organisations(ledger).members(org_code):
            table.add_row(m.label or "", m.address, m.org_code or "?", m.role, m.status)
        console.print(table)


# -- background work -----------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="One cycle, then exit.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="Seconds between cycles.")
def worker(once: bool, interval: float) -> None:
    """Send the outbox, record receipts, recover lost blocks, and index events."""
    from .worker import Worker

    with _ledger() as ledger:
        runner = Worker(ledger, interval=interval, report=lambda line: console.print(line, highlight=False))
        if once:
            runner.once()
            return
        console.print(f"worker running against {ledger.settings.rpc_url}; Ctrl-C to stop")
        runner.run()


@main.command()
def demo() -> None:
    """Create (or reuse) the demo subdistrict: one office, three committees, four departments."""
    from .demo import build_demo

    with _ledger(upgrade=True) as ledger:
        report = build_demo(ledger, console)
        console.print(report)


@main.group()
def bench() -> None:
    """Benchmarks (results go to docs/benchmarks.md)."""


@bench.command("chain")
@click.option("-n", "count", type=int, default=5_000, show_default=True)
@click.option("--write-docs/--no-write-docs", default=True, show_default=True)
def bench_chain(count: int, write_docs: bool) -> None:
    """Outbox writes against the node's raw ceiling, in the same run."""
    from .bench import run

    run(count, write_docs=write_docs)


if __name__ == "__main__":  # pragma: no cover
    main()

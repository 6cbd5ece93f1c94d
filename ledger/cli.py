"""The ``gridledger`` command line."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from .errors import ConfigurationError, LedgerError
from .settings import Settings

if TYPE_CHECKING:
    from .context import Ledger
    from .lease import LeaseState

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
    """Create var/ and bring the database schema up to date.

    Upgrading an installation made before seals (migration 0006) seals its existing rows once,
    as they are at the upgrade, and needs the keystore password for that."""
    from .seal import SEALS_SINCE, Sealer, adopt_unsealed
    from .store import Store, current_revision, make_engine

    settings = _settings(ask_password=True)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    before = current_revision(engine)
    engine.dispose()
    adopting = before is not None and before < SEALS_SINCE
    if adopting and settings.key_password is None:
        raise ConfigurationError(
            f"this database is at migration {before}; upgrading past {SEALS_SINCE} seals its existing rows and needs "
            "the keystore password: set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE"
        )
    store = Store.open(settings, upgrade=True)
    if adopting:
        assert settings.key_password is not None
        counts = adopt_unsealed(store, Sealer.from_password(settings.key_password))
        console.print("sealed the rows written before seals existed: "
                      + ", ".join(f"{n} {table}" for table, n in counts.items()))  # fmt: skip
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


# -- backup and restore ---------------------------------------------------------------


@main.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def backup_command(directory: Path) -> None:
    """Back up the database (online), the keystores (encrypted, as they are) and the
    deployment record into DIRECTORY (new or empty), with a manifest of SHA-256 hashes."""
    from .backup import backup

    with _ledger() as ledger:
        made = backup(ledger, directory)
    m = made.manifest
    console.print(
        f"backed up {m['database']['kind']} (migration {m['database']['schemaRevision']}, {m['log']['size']} log events, "
        f"{sum(1 for f in m['files'] if f.startswith('keys/'))} keys) at chain block {m['chain']['head']['number']} "
        f"to {directory} in {made.seconds:.1f} s", highlight=False,
    )  # fmt: skip


@main.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a database that holds data.")
def restore_command(directory: Path, force: bool) -> None:
    """Restore the backup in DIRECTORY and catch it up with the chain (stop the web app and
    the worker first). Then run 'gridledger verify all': it names what the backup lacked."""
    from .backup import restore

    done = restore(_settings(ask_password=True), directory, force=force, report=err.print)
    console.print(f"restored the {done.database} database from {directory} (migration {done.revision}"
                  + (f", upgraded to {done.migrated_to}" if done.migrated_to else "") + ")", highlight=False)  # fmt: skip
    if done.deployment_written:
        console.print("wrote the deployment record from the backup")
    console.print(f"keys: {done.keys_added} restored"
                  + (f", {done.keys_kept} kept as they were (they differ from the backup's)" if done.keys_kept else ""))  # fmt: skip
    console.print(f"caught up with the chain: {done.events_indexed} events indexed, {done.checkpoints} checkpoints "
                  f"recorded, {done.erasures} erasures and {done.statuses} grant withdrawals or revocations applied "
                  "again", highlight=False)  # fmt: skip
    for sender, (old, new) in sorted(done.nonces.items()):
        console.print(f"nonce of {sender}: {old} -> {new} (used on chain after the backup)", highlight=False)
    if done.lost_events:
        console.print(
            f"access log: {done.log_size} events restored; events #{done.log_size}..#{done.resumed_at - 1} anchored "
            f"after the backup are lost; the log goes on from #{done.resumed_at}"
            + (f"; {done.unprovable} restored events can no longer be proven" if done.unprovable else ""),
            highlight=False,
        )  # fmt: skip
    else:
        console.print(f"access log: {done.log_size} events restored; nothing anchored was lost", highlight=False)
    console.print("run 'gridledger verify all': it names each version, grant and log entry the backup lacked")
    if done.problem:
        err.print(f"[bold red]not complete:[/] {done.problem}", highlight=False)
        sys.exit(1)


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
    """Stop the node: its keeper writes a last snapshot to var/chain/ first."""
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


# -- records ---------------------------------------------------------------------------------


def _content(text: str) -> object:
    """Record content from a JSON string, a JSON file, or '-' for standard input."""
    import json
    from pathlib import Path

    from .errors import InputError

    raw = sys.stdin.read() if text == "-" else Path(text).read_text(encoding="utf-8") if Path(text).is_file() else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", field="content") from None


@main.group()
def record() -> None:
    """Residents' records: collected once, certified k of n, erasable."""


@record.command("add")
@click.option("--subject", required=True, help="The resident the record is about (label or address).")
@click.option(
    "--category", required=True, help="identity, household, residence, health, social-security, property, elderly-care"
)
@click.option("--content", required=True, help="JSON, a JSON file, or - for standard input.")
@click.option("--as", "actor", required=True, help="The committee member or grid worker collecting it.")
def record_add(subject: str, category: str, content: str, actor: str) -> None:
    """Collect a new record (version 1)."""
    from .categories import parse_category
    from .records import Records

    with _ledger() as ledger:
        record_id, tx = Records(ledger).add(
            actor=actor, subject=subject, category=parse_category(category), content=_content(content)
        )
        console.print(f"record {record_id} version 1 committed in transaction {tx}")


@record.command("update")
@click.argument("record_id")
@click.option("--content", required=True, help="JSON, a JSON file, or - for standard input.")
@click.option("--expected-version", type=int, help="The version you loaded; refused if the record changed since.")
@click.option("--as", "actor", required=True, help="A committee member or grid worker of the record's committee.")
def record_update(record_id: str, content: str, expected_version: int | None, actor: str) -> None:
    """Add a new version of RECORD_ID."""
    from .records import Records

    with _ledger() as ledger:
        version, tx = Records(ledger).update(
            record_id, _content(content), actor=actor, expected_version=expected_version
        )
        console.print(f"record {record_id} version {version} committed in transaction {tx}")


@record.command("sign")
@click.argument("record_id")
@click.option("--as", "signer", required=True, help="The committee member signing (custodial key).")
def record_sign(record_id: str, signer: str) -> None:
    """Approve the newest version; certifies it when k signatures are in."""
    from .records import Records

    with _ledger() as ledger:
        outcome = Records(ledger).sign(record_id, signer=signer)
        console.print(f"{outcome.approvals} of {outcome.threshold} signatures")
        if outcome.certify_tx:
            console.print(f"certified in transaction {outcome.certify_tx}")


@record.command("certify")
@click.argument("record_id")
@click.option("--as", "actor", help="Who sends it (a member or grid worker of the committee).")
def record_certify(record_id: str, actor: str | None) -> None:
    """Send certify with the collected signatures (sign does this by itself at k)."""
    from .records import Records

    with _ledger() as ledger:
        console.print(f"certified in transaction {Records(ledger).certify(record_id, actor=actor)}")


@record.command("erase")
@click.argument("record_id")
@click.option("--reason", required=True, help="The legal reason (kept off chain; its hash goes on chain).")
@click.option("--as", "actor", required=True, help="An admin of the office governing the committee.")
def record_erase(record_id: str, reason: str, actor: str) -> None:
    """Delete the content and salts of every version; record the erasure on chain."""
    from .records import Records

    with _ledger() as ledger:
        console.print(f"erased; recorded in transaction {Records(ledger).erase(record_id, reason, actor=actor)}")


@record.command("show")
@click.argument("record_id")
def record_show(record_id: str) -> None:
    """Show the newest version of RECORD_ID: state, commitment, signers (not the content:
    that is read, and logged, with 'gridledger access')."""
    from .records import Records

    with _ledger() as ledger:
        ledger.indexer().run_once()
        view = Records(ledger).show(record_id)
        head = view.head
        state = (
            "erased"
            if view.erased
            else "certified"
            if head.certified
            else "on chain, awaiting signatures"
            if head.on_chain
            else "pending"
        )
        console.print(
            f"record {view.record_id} · {view.category.slug} · subject {ledger.label_of(view.subject) or view.subject}"
        )
        console.print(f"version {head.version} · {state} · commitment {head.content_hash}")
        if head.approvals:
            console.print(f"signed by: {', '.join(ledger.label_of(a) or a for a in head.approvals)}")
        console.print(f"content: gridledger access {view.record_id} --as YOU (every read of content is logged)")


@record.command("history")
@click.argument("record_id")
def record_history(record_id: str) -> None:
    """List every version of RECORD_ID (commitments, certification), without content."""
    from .records import Records

    with _ledger() as ledger:
        ledger.indexer().run_once()
        view = Records(ledger).show(record_id)
        table = Table("version", "commitment", "previous", "by", "at", "on chain", "certified by")
        for v in view.versions:
            table.add_row(
                str(v.version),
                v.content_hash[:18] + "…",
                v.prev_hash[:18] + "…",
                ledger.label_of(v.created_by) or v.created_by,
                v.created_at[:19],
                "yes" if v.on_chain else "no",
                ", ".join(ledger.label_of(s) or s for s in v.signers) or ("erased" if view.erased else ""),
            )
        console.print(table)


# -- grants ----------------------------------------------------------------------------------


@main.group()
def grant() -> None:
    """Residents' consent grants to departments."""


@grant.command("issue")
@click.option("--resident", required=True, help="The resident granting (label or address).")
@click.option("--department", required=True, help="Code of the department.")
@click.option("--categories", required=True, help="Comma-separated record categories, e.g. health,identity.")
@click.option(
    "--purpose", required=True, help="social-assistance, health-management, elderly-care, social-insurance, ..."
)
@click.option("--legal-basis", default="consent", show_default=True)
@click.option("--until", "until", required=True, help="Last day of validity, YYYY-MM-DD (exclusive of the next day).")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: now).")
@click.option("--purpose-text", default="", help="The purpose in plain words (kept off chain).")
@click.option("--relayer", help="A grid worker sending it for the resident (the resident still signs).")
def grant_issue(
    resident: str,
    department: str,
    categories: str,
    purpose: str,
    legal_basis: str,
    until: str,
    start: str | None,
    purpose_text: str,
    relayer: str | None,
) -> None:
    """Issue a grant from a resident to a department."""
    from .categories import parse_category
    from .consent import Consent, LegalBasis, Purpose, parse_date, parse_enum

    with _ledger() as ledger:
        grant_id, tx = Consent(ledger).issue(
            resident=resident, department=department,
            categories=[parse_category(c) for c in categories.split(",") if c.strip()],
            purpose=parse_enum(Purpose, purpose, "purpose"), legal_basis=parse_enum(LegalBasis, legal_basis, "legal_basis"),
            valid_until=parse_date(until) + 86_400, valid_from=parse_date(start) if start else None,
            purpose_text=purpose_text, relayer=relayer,
        )  # fmt: skip
        console.print(f"grant {grant_id} issued in transaction {tx}")


@grant.command("withdraw")
@click.argument("grant_id")
@click.option("--relayer", help="A grid worker sending it for the resident (the resident still signs).")
def grant_withdraw(grant_id: str, relayer: str | None) -> None:
    """Withdraw GRANT_ID as its resident."""
    from .consent import Consent

    with _ledger() as ledger:
        console.print(f"withdrawn in transaction {Consent(ledger).withdraw(grant_id, relayer=relayer)}")


@grant.command("revoke")
@click.argument("grant_id")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True, help="An admin of the office governing the department.")
def grant_revoke(grant_id: str, reason: str, actor: str) -> None:
    """Revoke GRANT_ID as an office admin."""
    from .consent import Consent

    with _ledger() as ledger:
        console.print(f"revoked in transaction {Consent(ledger).revoke(grant_id, reason, actor=actor)}")


@grant.command("list")
@click.option("--resident", help="Only this resident's grants.")
@click.option("--department", help="Only grants to this department (code).")
def grant_list(resident: str | None, department: str | None) -> None:
    """List grants and their status as the chain has it."""
    from datetime import datetime

    from .consent import Consent

    with _ledger() as ledger:
        ledger.indexer().run_once()
        table = Table("grant", "resident", "department", "categories", "valid until", "status")
        for g in Consent(ledger).list(resident=resident, department=department):
            until = datetime.fromtimestamp(g.valid_until, UTC).strftime("%Y-%m-%d")
            table.add_row(
                g.grant_id[:18] + "…",
                ledger.label_of(g.resident) or g.resident,
                g.department_code or g.department[:18],
                ",".join(c.slug for c in g.categories),
                until,
                g.status,
            )
        console.print(table)


@grant.command("show")
@click.argument("grant_id")
def grant_show(grant_id: str) -> None:
    """Show GRANT_ID with its full terms."""
    import json

    from .consent import Consent

    with _ledger() as ledger:
        ledger.indexer().run_once()
        g = Consent(ledger).show(grant_id)
        console.print(
            f"grant {g.grant_id} · {g.status} · {ledger.label_of(g.resident) or g.resident} → {g.department_code}"
        )
        console.print_json(json.dumps(g.terms, ensure_ascii=False))


# -- verification ------------------------------------------------------------------------------


@main.group()
def verify() -> None:
    """Check the database against the chain, its leaves and its seals (exit 0 clean, 1 findings, 2 could not check)."""


def _verify_command(parts: tuple[str, ...], *, keep: bool) -> None:
    """Runs the checks of ``parts``, prints one line per finding and a summary, and exits
    0 (clean), 1 (findings) or 2 (could not check)."""
    from .verify import record_run
    from .verify import verify as run_checks

    try:
        opened = _ledger()
        ledger = opened.__enter__()
    except LedgerError as exc:
        err.print(f"[bold red]could not check:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(2)
    try:
        report = run_checks(ledger, parts)
        for f in report.findings:  # one line each: easy to read, grep and diff
            where = f.subject if f.version is None else f"{f.subject} v{f.version}"
            console.print(f"[red]{f.code}[/] ({f.part}) {where}: {f.detail}", highlight=False)
        for problem in report.problems:
            console.print(f"[bold yellow]not checked[/]: {problem}", highlight=False)
        checked = ", ".join(f"{report.checked.get(p, 0)} {p}" for p in parts)
        console.print(
            f"checked {checked} against the chain in {report.seconds:.1f} s; {report.pending} still being written; "
            f"{len(report.findings)} finding(s)", highlight=False,
        )  # fmt: skip
        if keep and ledger.can_seal:
            record_run(ledger, report, by="cli")
    finally:
        opened.__exit__(None, None, None)
    sys.exit(report.exit_code)


@verify.command("all")
def verify_all_command() -> None:
    """Everything: the indexed tables, records, grants, the access log and the seals. The
    run is kept for the office's dashboard; schedule it and alert on exit 1 (or 2)."""
    from .verify import PARTS

    _verify_command(PARTS, keep=True)


def _part_command(part: str, summary: str) -> None:
    @verify.command(part, help=summary)
    def command() -> None:
        _verify_command((part,), keep=False)


_part_command("chain", "The indexed tables (organisations, members, record versions, grants, events) against the chain.")
_part_command("records", "Every record and version (commitments recomputed) and every approval against the chain.")
_part_command("grants", "Every stored grant (terms, fields, transactions, status) against the chain.")
_part_command("log", "Every leaf and column of the access log, its size, subtree hashes, checkpoints and reviews.")
_part_command("seals", "The rows only this installation vouches for: labels, names, log-ins, tokens, runs.")


def _print_verdict(verdict: object) -> None:
    from .verifier import Verdict

    assert isinstance(verdict, Verdict)
    for step in verdict.steps:
        mark = "[green]ok[/]" if step.ok else "[bold red]FAILED[/]"
        console.print(f"{step.number}. {step.title}: {mark} {step.detail}", highlight=False)
    failed = verdict.failed
    if failed is None:
        console.print("[bold green]VALID[/]: every step checked out against the chain")
    else:
        console.print(f"[bold red]INVALID[/]: step {failed.number} failed ({failed.title})", highlight=False)
        sys.exit(1)


@verify.command("bundle")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rpc-url", required=True, help="Any node of the chain, e.g. http://127.0.0.1:8545.")
def verify_bundle_command(path: Path, rpc_url: str) -> None:
    """Check an audit bundle against the chain alone (no database, no keys)."""
    from .verifier import load, verify_bundle

    _print_verdict(verify_bundle(load(path), rpc_url))


@verify.command("proof")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rpc-url", required=True, help="Any node of the chain, e.g. http://127.0.0.1:8545.")
def verify_proof_command(path: Path, rpc_url: str) -> None:
    """Check one access entry's proof file against the chain alone."""
    from .verifier import load, verify_proof

    _print_verdict(verify_proof(load(path), rpc_url))


# -- access and the log ------------------------------------------------------------------------


@main.command()
@click.argument("record_id")
@click.option("--as", "accessor", required=True, help="Who reads (label or address): an officer, member or admin.")
@click.option("--basis", type=click.Choice(["grant", "duty", "emergency"]), help="Default: chosen from your role.")
@click.option("--grant", "grant_id", help="The grant to read under (default: any active one of your department).")
@click.option("--emergency", "justification", help="Read under emergency basis with this written justification.")
@click.option("--disclose-on", help="Public security: keep it from the resident until YYYY-MM-DD.")
@click.option("--justification", "case", help="With --disclose-on: the investigation (kept off the log's leaf).")
def access(
    record_id: str,
    accessor: str,
    basis: str | None,
    grant_id: str | None,
    justification: str | None,
    disclose_on: str | None,
    case: str | None,
) -> None:
    """Read RECORD_ID under a basis. The access is logged before the content is shown;
    a refusal is logged too."""
    import json

    from .access import Access

    if justification is not None and basis is None:
        basis = "emergency"
    with _ledger() as ledger:
        got = Access(ledger).read(
            record_id, accessor=accessor, basis=basis, grant_id=grant_id,
            justification=justification or case, disclose_on=disclose_on,
        )  # fmt: skip
        status = "certified" if got.certified else "not yet certified"
        under = f"grant {got.grant_id}" if got.grant_id else got.basis
        err.print(f"logged as access event #{got.seq} ({under}); version {got.version}, {status}", highlight=False)
        console.print_json(json.dumps(got.content, ensure_ascii=False))


@main.group()
def log() -> None:
    """The access log: anchoring, status, a resident's history, proofs."""


@log.command("anchorer")
@click.option("--office", required=True, help="Code of the office designating the anchorer.")
@click.option("--as", "actor", required=True, help="An admin of that office.")
def log_anchorer(office: str, actor: str) -> None:
    """Create (or reuse) the anchorer account and designate it on AccessLogAnchor."""
    from .anchoring import designate_anchorer

    with _ledger() as ledger:
        account, tx = designate_anchorer(ledger, office, actor)
        label = ledger.settings.anchorer
        if tx is None:
            console.print(f"{label} ({account.address}) is already a designated anchorer")
        else:
            console.print(f"designated {label} ({account.address}) for {office} in {tx}")


@log.command("anchor")
@click.option("--timeout", type=float, default=60.0, show_default=True)
def log_anchor(timeout: float) -> None:
    """Anchor everything logged so far now, and wait for the chain to accept it."""
    from .anchoring import anchor_now

    with _ledger() as ledger:
        anchor_now(ledger, timeout=timeout, report=lambda line: err.print(line, highlight=False))
        anchored = ledger.log.anchored()
        if anchored is None:
            console.print("the log is empty: nothing to anchor")
        else:
            console.print(f"anchored {anchored.size} events: checkpoint #{anchored.chain_index} in {anchored.tx_hash}")


@log.command("status")
def log_status() -> None:
    """How much of the log is anchored, and whether reads are open or failed closed."""
    from .access import health
    from .history import anchored_checkpoint
    from .lease import read_lease

    with _ledger() as ledger:
        state = health(ledger.log, ledger.view, ledger.settings.anchor_fail_after)
        checkpoint = anchored_checkpoint(ledger)
        console.print(f"events: {state.size}; anchored: {state.anchored_size}; state: {state.state}", highlight=False)
        if state.behind:
            console.print(
                f"[red]the database holds {state.size} events, fewer than the {state.anchored_size} the chain has "
                "anchored: it was cut back or restored from an old backup (run 'gridledger verify all')[/]"
            )
        if checkpoint is not None:
            console.print(
                f"last checkpoint: #{checkpoint['index']} size {checkpoint['size']} root {checkpoint['root']} "
                f"in {checkpoint['txHash'] or 'a transaction this database does not confirm'} "
                f"(block {checkpoint['block']})", highlight=False,
            )  # fmt: skip
        if state.oldest_unanchored_ms is not None:
            console.print(
                f"oldest unanchored event waited {state.lag_seconds:.1f} s (reads close after "
                f"{state.limit_seconds:.0f} s)", highlight=False,
            )  # fmt: skip
        console.print(f"anchoring lease: {_lease_words(read_lease(ledger.store))}", highlight=False)
        if state.closed:
            sys.exit(1)


def _lease_words(lease: LeaseState | None) -> str:
    """The anchoring lease in words: who anchors, and for how long without a renewal."""
    import time

    if lease is None:
        return "never taken (no worker has run against this database)"
    if lease.released:
        return f"free (released by {lease.holder})"
    left = lease.expires_at / 1000 - time.time()
    if left <= 0:
        return f"expired {-left:.1f} s ago (last held by {lease.holder}): no worker is anchoring"
    renewed = time.time() - lease.renewed_at / 1000
    return f"held by {lease.holder}, renewed {renewed:.1f} s ago, expires in {left:.1f} s"


@log.command("history")
@click.argument("resident")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def log_history(resident: str, as_json: bool) -> None:
    """RESIDENT's accesses, newest first, each with its inclusion proof."""
    import dataclasses
    import json
    from datetime import datetime

    from .access import CHINA
    from .history import resident_history

    with _ledger() as ledger:
        history = resident_history(ledger, resident)
        if as_json:
            console.print_json(json.dumps(dataclasses.asdict(history), ensure_ascii=False))
            return
        cp = history.checkpoint
        if cp:
            console.print(f"proofs lead to checkpoint #{cp['index']} ({cp['size']} events) anchored in {cp['txHash']}")
        for e in history.entries:
            mark = "[green]proven[/]" if e.proof is not None else "[yellow]awaiting anchoring[/]"
            if e.leaf is None:
                console.print(f"#{e.seq} (your {e.resident_seq}) an access under legal hold, disclosed on "
                              f"{e.disclose_on} {mark}", highlight=False)  # fmt: skip
                continue
            leaf = e.leaf
            when = datetime.fromtimestamp(leaf["time"] / 1000, CHINA).isoformat(timespec="seconds")
            who = ledger.label_of(leaf["accessor"]) or leaf["accessor"]
            what = f"{leaf['outcome']} {leaf['action']} of {leaf['category']} record {leaf['recordId'][:10]}…"
            why = leaf["basis"] or leaf["reason"]
            console.print(f"#{e.seq} (your {e.resident_seq}) {when} {who}: {what} ({why}) {mark}", highlight=False)
        for f in history.findings:
            console.print(f"[red]finding[/] {f.kind}: {f.detail}", highlight=False)
        if history.findings:
            sys.exit(1)


@log.command("proof")
@click.argument("seq", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def log_proof(seq: int, out: Path) -> None:
    """Write access event SEQ with its inclusion proof, for 'gridledger verify proof'."""
    import json

    from .history import proof_document

    with _ledger() as ledger:
        out.write_text(json.dumps(proof_document(ledger, seq), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {out}")


# -- audit ---------------------------------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.option("--from", "start", help="First day, YYYY-MM-DD.")
@click.option("--to", "end", help="Last day, YYYY-MM-DD.")
@click.option("--department", help="Only this department (code).")
@click.option("--resident", help="Only this resident (label or address).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write findings as CSV.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PDF report.")
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-verifying bundle of the entries in scope.")  # fmt: skip
@click.option("--no-integrity", is_flag=True, help="Skip checking the database against the chain.")
@click.pass_context
def audit(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    department: str | None,
    resident: str | None,
    csv_path: Path | None,
    pdf_path: Path | None,
    bundle_path: Path | None,
    no_integrity: bool,
) -> None:
    """Findings: accesses against grants, emergency reviews, anomalies, integrity.

    Exits 1 when a finding of high severity or of integrity is reported, 2 when integrity
    could not be checked, else 0 (findings of lower severity are listed all the same)."""
    if ctx.invoked_subcommand is not None:
        return
    import json
    from collections import Counter

    from . import audit as audit_
    from .history import bundle

    with _ledger() as ledger:
        ledger.indexer().run_once()
        scope = audit_.scope_of(ledger, start=start, end=end, department=department, resident=resident)
        result = audit_.run(ledger, scope, integrity=not no_integrity)
        codes = audit_.org_codes(ledger)
        for f in result.findings:
            row = audit_.finding_row(f, codes)
            console.print(f"[red]{f.kind}[/] ({f.severity}) #{row[2] or '-'} {row[3]} {row[4]}: {f.detail}",
                          highlight=False)  # fmt: skip
        report = result.integrity
        if report is not None:
            for name in report.parts:
                found = report.of(name)
                verdict = "[green]intact[/]" if not found else f"[red]{len(found)} problem(s)[/]"
                console.print(f"integrity of {name}: {verdict}")
                for problem_found in found:
                    console.print(f"  [red]{problem_found.code}[/] {problem_found.subject}: {problem_found.detail}", highlight=False)
            for problem in report.problems:
                console.print(f"[bold yellow]integrity not checked[/]: {problem}", highlight=False)
        kinds = Counter(f.kind for f in result.findings)
        console.print(
            f"{result.events} events, {result.in_scope} in scope, {len(result.findings)} finding(s) "
            f"{dict(kinds) if kinds else ''} in {result.seconds:.1f} s", highlight=False,
        )  # fmt: skip
        if csv_path:
            csv_path.write_text(audit_.to_csv(ledger, result), encoding="utf-8")
            console.print(f"wrote {csv_path}")
        if pdf_path:
            audit_.to_pdf(ledger, result, pdf_path)
            console.print(f"wrote {pdf_path}")
        if bundle_path:
            document = bundle(ledger, scope, ledger.account(ledger.settings.anchorer))
            bundle_path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            console.print(
                f"wrote {bundle_path}: {len(document['entries'])} entries, {len(document['withheld'])} withheld"
            )
    sys.exit(result.exit_code)


@audit.command("review")
@click.argument("seq", type=int)
@click.argument("decision", type=click.Choice(["approve", "flag"]))
@click.option("--note", required=True, help="Why (kept off the log's leaf; its hash is signed).")
@click.option("--as", "reviewer", required=True, help="An admin of the office governing the department.")
def audit_review(seq: int, decision: str, note: str, reviewer: str) -> None:
    """Approve or flag emergency access SEQ, signed and logged."""
    from .audit import review

    with _ledger() as ledger:
        row = review(ledger, seq, decision, note, reviewer=reviewer)
        console.print(f"review of #{seq}: {decision}, signed by {row.reviewer}, logged as #{row.review_seq}")


@audit.command("pending")
def audit_pending() -> None:
    """Emergency accesses awaiting an office review."""
    from .audit import unreviewed

    with _ledger() as ledger:
        for event in unreviewed(ledger):
            console.print(f"#{event.seq} by {ledger.label_of(event.accessor) or event.accessor}: {event.justification}",
                          highlight=False)  # fmt: skip


# -- background work -----------------------------------------------------------------------

#: Seconds between a waiting worker's tries to reach the node: doubling up to the last.
NODE_WAIT = (0.25, 5.0)


def _open_when_the_node_answers(settings: Settings) -> Ledger:
    """The ledger, once the node answers: a worker started while the node is down (a
    restart after a crash of both) waits for it and says so, rather than exiting."""
    from .context import Ledger
    from .errors import NodeError

    pause, said = NODE_WAIT[0], ""
    while True:
        try:
            return Ledger.open(settings)
        except NodeError as exc:
            if str(exc) != said:
                console.print(f"waiting for the chain node: {exc}", highlight=False)
                said = str(exc)
        time.sleep(pause)
        pause = min(pause * 2, NODE_WAIT[1])


@main.command()
def outbox() -> None:
    """Chain writes by status; any in conflict are listed, and the exit code is 1."""
    from sqlalchemy import select

    from .store.models import OutboxTx

    with _ledger() as ledger:
        counts = ledger.outbox.counts()
        table = Table("status", "writes")
        for status in ("queued", "sent", "mined", "reverted", "conflict", "dropped"):
            if counts.get(status):
                table.add_row(status, str(counts[status]))
        console.print(table)
        if not counts.get("conflict"):
            return
        with ledger.store.session() as session:
            rows = session.scalars(select(OutboxTx).where(OutboxTx.status == "conflict").order_by(OutboxTx.id))
            listed = Table("id", "sender", "nonce", "purpose", "transaction", "why")
            for row in rows:
                listed.add_row(str(row.id), row.sender, str(row.nonce), row.purpose or "", row.tx_hash,
                               row.last_error or "")  # fmt: skip
        err.print(listed)
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="One cycle, then exit.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="Seconds between cycles.")
@click.option("--no-anchor", is_flag=True, help="Do not anchor the access log (another worker does).")
def worker(once: bool, interval: float, no_anchor: bool) -> None:
    """Send the outbox, record receipts, recover lost blocks, index events, and anchor the
    access log (every GRIDLEDGER_ANCHOR_INTERVAL s or GRIDLEDGER_ANCHOR_EVERY events)."""
    from .context import Ledger
    from .worker import Worker

    settings = _settings(ask_password=True)
    # SIGTERM (a supervisor, systemd, 'project.py run' stopping) ends it like Ctrl-C:
    # the current cycles finish, nothing is cut off half-way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        ledger = Ledger.open(settings) if once else _open_when_the_node_answers(settings)
    except KeyboardInterrupt:
        console.print("worker stopped before the node answered")
        return
    try:
        runner = Worker(
            ledger, interval=interval, anchor=not no_anchor, report=lambda line: console.print(line, highlight=False)
        )
        if once:
            runner.once()
            return
        holder = f" as {runner.lease.holder}" if runner.lease is not None else " (not anchoring: --no-anchor)"
        console.print(f"worker running against {ledger.settings.rpc_url}{holder}; Ctrl-C to stop", highlight=False)
        runner.run()
        console.print("worker stopped")
    finally:
        ledger.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GRIDLEDGER_WEB_HOST",
              help="Address to listen on (env GRIDLEDGER_WEB_HOST).")  # fmt: skip
@click.option("--port", type=int, default=8000, show_default=True, envvar="GRIDLEDGER_WEB_PORT",
              help="Port to listen on (env GRIDLEDGER_WEB_PORT).")  # fmt: skip
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=int, default=8, show_default=True, help="Threads per worker (a logged read waits for its commit: more threads, bigger group commits).")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app and the JSON API with gunicorn (run 'gridledger worker' beside it)."""
    import os

    settings = _settings(ask_password=True)
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


@main.group()
def user() -> None:
    """Log-ins for the web app."""


@user.command("add")
@click.argument("username")
@click.option("--account", required=True, help="The account (label or address) the user acts as.")
@click.option("--name", "display_name", required=True, help="The person's name as shown on the pages.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Asked when not given.")
@click.option("--replace", is_flag=True, help="Set a new password and name for an existing user.")
def user_add(username: str, account: str, display_name: str, password: str, replace: bool) -> None:
    """Create a web log-in acting as ACCOUNT; what it may do comes from the membership on chain."""
    from webapp.users import add_user

    with _ledger() as ledger:
        made = add_user(ledger, username, password, account=account, display_name=display_name, replace=replace)
    console.print(f"user {made.username} acts as {made.address}")
    if replace:
        console.print("every session of the old password has ended")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Stop USERNAME from logging in and end its sessions ('user add --replace' enables it again)."""
    from webapp.users import disable_user

    with _ledger() as ledger:
        disable_user(ledger, username)
    console.print(f"user {username} is disabled; its sessions have ended")


@main.group()
def token() -> None:
    """API tokens for other systems (only their hashes are kept)."""


@token.command("create")
@click.option("--as", "account", required=True, help="The account the token acts for (label or address).")
@click.option("--name", required=True, help="The system that will use it.")
def token_create(account: str, name: str) -> None:
    """Print a new token for ACCOUNT in its current organisation and role; shown once."""
    from webapp.users import create_token

    with _ledger() as ledger:
        issued = create_token(ledger, account, name)
    console.print(f"token #{issued.id} ({issued.role} of {issued.org_id[:10]}…); keep it secret, it is shown once:")
    click.echo(issued.token)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Stop a token from working."""
    from webapp.users import revoke_token

    with _ledger() as ledger:
        revoke_token(ledger, token_id)
    console.print(f"token #{token_id} revoked")


@main.command()
@click.option("--logins", is_flag=True, help="Only print the demo log-ins (who to try, what to look at).")
@click.option("--url", default=None, help="The web app's address, shown above the log-ins.")
def demo(logins: bool, url: str | None) -> None:
    """Create (or reuse) the demo subdistrict: one office, three committees of five, four
    departments, about 300 residents (GRIDLEDGER_DEMO_RESIDENTS) with their records, grants,
    accesses and web log-ins."""
    from .demo import build_demo, print_logins

    if logins:
        print_logins(url, console)
        return
    with _ledger(upgrade=True) as ledger:
        report = build_demo(ledger, console)
        console.print(report)
    console.print("the demo log-ins: 'gridledger demo --logins'")


@main.group()
def bench() -> None:
    """Benchmarks (results go to docs/benchmarks.md)."""


@bench.command("chain")
@click.option("-n", "count", type=int, default=5_000, show_default=True, help="Writes per leg.")
@click.option("--kinds", default="membership,records,grants", show_default=True, help="Which writes to measure.")
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--write-docs/--no-write-docs", default=True, show_default=True)
def bench_chain(count: int, kinds: str, rounds: int, write_docs: bool) -> None:
    """Outbox writes against the node's raw ceiling, in the same run."""
    from .bench import run

    run(
        count,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        rounds=rounds,
        write_docs=write_docs,
        console=console,
    )


if __name__ == "__main__":  # pragma: no cover
    main()

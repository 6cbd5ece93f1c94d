"""Backups and restores: ``gridledger backup DIR`` and ``gridledger restore DIR``.

A backup is a folder: a consistent online copy of the database (SQLite's backup API, or
``pg_dump`` of the installation's schema in one snapshot), the keystores copied as they are
(encrypted), the deployment record, and ``manifest.json`` (:data:`FORMAT`: when, the
database's kind and schema revision, the chain, the chain's head when the copy was taken,
the deployment's addresses, the log's size, and the SHA-256 of every file). The manifest is
written last: a folder without one is no backup.

A restore checks the manifest against the configured chain and deployment and every file
against its hash, refuses to overwrite a database that holds data unless forced, puts the
database back, and catches it up with the chain, which kept going meanwhile:

* the indexer reads the chain from the backup's cursor on (the indexed tables are the
  chain's; nothing is lost of them);
* every sender's next nonce is read from the chain, so no new write reuses one that a
  transaction sent after the backup took;
* erasures, withdrawals and revocations the chain recorded after the backup are applied to
  the restored rows (an erased record's content never comes back with a backup);
* checkpoints anchored after the backup get their rows, and when the chain has anchored more
  events than the backup holds, the log resumes after them (:mod:`ledger.loggap`): the lost
  events are recorded as a gap (``log_gaps``) and the log goes on numbering at the chain's
  last checkpoint.

What lived only in the database after the backup is gone: the content of versions committed
since, the terms of grants issued since, written reasons, the events of the gap. The restore
is recorded (``restores``, sealed) so that ``gridledger verify all`` names each of them as
lost (``content-lost``, ``terms-lost``, ``reason-lost``, ``entries-lost``, ``proofs-lost``),
never as an alteration and never silently.

Run a restore with the web app and the worker stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, MetaData, func, select, text, update
from sqlalchemy.engine import make_url

from . import deployment as deployment_file
from . import hints
from .chain import connect, rpc
from .context import Ledger
from .errors import ConfigurationError, StoreError, VerificationError
from .loggap import anchored_events, append_inputs, bridge, chain_checkpoints
from .merkle import Frontier
from .seal import SEALS_SINCE, adopt_unsealed, log_head_seal, row_seal
from .settings import Settings
from .store import Store, alembic_config, current_revision, make_engine, migrate
from .store.models import (
    ChainGrant,
    ChainRecordVersion,
    GrantTerms,
    LogCheckpoint,
    LogGap,
    LogHead,
    LogNode,
    NonceCursor,
    OutboxTx,
    Record,
    RecordVersion,
    Restore,
    utcnow,
)

FORMAT = "gridledger-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
POSTGRES_FILE = "database.pgdump"
DEPLOYMENT_FILE = "deployment.json"
KEYS = "keys"

Report = Callable[[str], None]


@dataclass(frozen=True)
class Backup:
    directory: Path
    manifest: dict[str, Any]
    seconds: float


@dataclass
class Restored:
    """What a restore did, for the operator (``gridledger restore`` prints it)."""

    database: str
    revision: str  # the backup's schema revision
    migrated_to: str | None  # the revision it was upgraded to, when newer
    keys_added: int = 0
    keys_kept: int = 0  # keys already in place whose file differs from the backup's (kept)
    deployment_written: bool = False
    events_indexed: int = 0
    nonces: dict[str, tuple[int, int]] = field(default_factory=dict)  # sender -> (restored, now)
    erasures: int = 0  # erasures the chain recorded after the backup, applied again
    statuses: int = 0  # grants withdrawn or revoked after the backup
    checkpoints: int = 0  # rows added for checkpoints anchored after the backup
    log_size: int = 0  # events the backup held
    resumed_at: int = 0  # the sequence number the log goes on from
    unprovable: int = 0  # restored events whose proofs need leaves lost in the gap
    problem: str | None = None  # what keeps the restore from being complete (reads stay closed)

    @property
    def lost_events(self) -> int:
        return self.resumed_at - self.log_size


# -- backup ------------------------------------------------------------------------------------


def backup(ledger: Ledger, directory: Path) -> Backup:
    """Writes a backup of the installation to ``directory`` (new or empty), online: writers
    go on while the copy is taken, and the copy is one state of the database."""
    began = time.monotonic()
    settings = ledger.settings
    if directory.exists() and any(directory.iterdir()):
        raise ConfigurationError(f"{directory} is not empty; give a new folder for each backup")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    deployment = ledger.deployment
    # The head before the copy: every transaction mined by then was stored (with its rows)
    # before it was sent, so the copy holds it; what the chain records later may be missing.
    head = rpc(ledger.w3, "eth_getBlockByNumber", ["latest", False])
    kind = ledger.store.engine.dialect.name
    if kind == "sqlite":
        name, facts = SQLITE_FILE, _copy_sqlite(ledger.store.engine, directory / SQLITE_FILE)
    elif kind == "postgresql":
        name, facts = POSTGRES_FILE, _dump_postgres(ledger.store.engine, directory / POSTGRES_FILE)
    else:
        raise ConfigurationError(f"backups of {kind} databases are not supported (SQLite and PostgreSQL are)")
    keys = directory / KEYS
    keys.mkdir(mode=0o700)
    if settings.keys_dir.is_dir():
        for path in sorted(settings.keys_dir.glob("*.json")):
            _copy_private(path, keys / path.name)
    shutil.copyfile(settings.deployment_file, directory / DEPLOYMENT_FILE)
    now = time.time()
    manifest = {
        "format": FORMAT,
        "createdAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "createdAtMs": int(now * 1000),
        "database": {"kind": kind, "file": name, "schemaRevision": facts["revision"], "schema": facts.get("schema")},
        "chain": {
            "chainId": deployment.chain_id,
            "genesisHash": deployment.genesis_hash,
            "head": {"number": int(head["number"], 16), "hash": str(head["hash"])},
            "indexedTo": facts["indexedTo"],
        },
        "deployment": {"block": deployment.block,
                       "contracts": {n: c.address for n, c in sorted(deployment.contracts.items())}},  # fmt: skip
        "log": {"size": facts["logSize"], "anchored": facts["anchored"]},
        "files": {
            rel: {"sha256": _sha256(directory / rel), "bytes": (directory / rel).stat().st_size}
            for rel in sorted(_files(directory))
        },
    }
    _write_private(directory / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    _fsync_dir(directory)
    return Backup(directory, manifest, time.monotonic() - began)


_FACTS = {
    "revision": "SELECT version_num FROM alembic_version",
    "logSize": "SELECT size FROM log_head WHERE id = 1",
    "anchored": "SELECT MAX(size) FROM log_checkpoints WHERE status = 'anchored'",
    "cursor": "SELECT block_number, block_hash FROM index_cursors WHERE name = 'events'",
}


def _facts(execute: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, Any]:
    cursor = execute(_FACTS["cursor"])
    return {
        "revision": str(execute(_FACTS["revision"])[0][0]),
        "logSize": int(execute(_FACTS["logSize"])[0][0]),
        "anchored": int(execute(_FACTS["anchored"])[0][0] or 0),
        "indexedTo": {"number": int(cursor[0][0]), "hash": str(cursor[0][1])} if cursor else None,
    }


def _copy_sqlite(engine: Engine, target: Path) -> dict[str, Any]:
    """SQLite's online backup through the raw connection: one step, so one read transaction
    (WAL lets writers go on meanwhile); the copy is then made self-contained (no WAL)."""
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            facts = _facts(lambda sql: list(copy.execute(sql)))
        finally:
            copy.close()
    finally:
        raw.close()
    os.chmod(target, 0o600)
    return facts


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URI for the pg tools (no password in the arguments: it goes in PGPASSWORD)."""
    url = engine.url
    plain = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} is not installed; it comes with PostgreSQL's client tools (apt-get install "
                                 "postgresql-client)")  # fmt: skip
    return found


def _dump_postgres(engine: Engine, target: Path) -> dict[str, Any]:
    """``pg_dump`` of the installation's schema from a snapshot exported by a repeatable-read
    transaction, whose reads give the manifest's facts: the dump and the facts are one state."""
    uri, env = _libpq(engine)
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            facts = _facts(lambda sql: [tuple(r) for r in connection.execute(text(sql))])
            facts["schema"] = schema
            done = subprocess.run(
                [_pg_tool("pg_dump"), f"--snapshot={snapshot}", "--format=custom", f"--schema={schema}", "--no-owner",
                 "--no-privileges", f"--file={target}", f"--dbname={uri}"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
    if done.returncode != 0:
        raise StoreError(f"pg_dump failed: {done.stderr.strip()}")
    os.chmod(target, 0o600)
    return facts


# -- restore -----------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    """The backup's manifest, once every file it names has its SHA-256 (and no file is
    unnamed). Raises :class:`VerificationError` for a damaged or incomplete backup."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerificationError(f"{directory} holds no {MANIFEST}: it is not a (complete) gridledger backup") from None
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise VerificationError(f"{path} is format {found!r}; this gridledger restores {FORMAT!r}")
    files = manifest.get("files") or {}
    present = set(_files(directory))
    for rel in sorted(set(files) | present):
        if rel not in files:
            raise VerificationError(f"{rel} is in the backup but not in its manifest: the backup was altered")
        if rel not in present:
            raise VerificationError(f"{rel} is missing from the backup")
        found = _sha256(directory / rel)
        if found != files[rel]["sha256"]:
            raise VerificationError(f"{rel} is damaged: its SHA-256 is {found}, the manifest says {files[rel]['sha256']}")
    return manifest


def restore(settings: Settings, directory: Path, *, force: bool = False, report: Report = print) -> Restored:
    """Restores the backup in ``directory`` into the configured database and catches it up
    with the chain (see the module's docstring). Refuses a backup of another chain or
    deployment, a damaged one, and (without ``force``) a database that holds data."""
    if settings.key_password is None:
        raise ConfigurationError(
            "a restore seals what it records and needs the keystore password: set GRIDLEDGER_KEY_PASSWORD or "
            "GRIDLEDGER_KEY_PASSWORD_FILE"
        )
    manifest = read_manifest(directory)
    manifest_sha = hashlib.sha256((directory / MANIFEST).read_bytes()).hexdigest()
    chain = manifest["chain"]
    if int(chain["chainId"]) != settings.chain_id:
        raise ConfigurationError(
            f"the backup is of chain {chain['chainId']}; this installation is configured for chain {settings.chain_id}"
        )
    w3 = connect(settings)
    genesis = deployment_file.genesis_hash(w3)
    if genesis.lower() != str(chain["genesisHash"]).lower():
        raise ConfigurationError(
            f"the backup is of the chain with genesis {chain['genesisHash']}; the node at {settings.rpc_url} has "
            f"genesis {genesis}: it is another chain"
        )
    database = manifest["database"]
    kind = make_url(settings.db_url).get_backend_name()
    if kind != database["kind"]:
        raise ConfigurationError(f"the backup holds a {database['kind']} database; DATABASE_URL names {kind}")
    scripts = ScriptDirectory.from_config(alembic_config(settings.db_url))
    try:
        scripts.get_revision(database["schemaRevision"])
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown revision
        raise ConfigurationError(
            f"the backup's schema is at migration {database['schemaRevision']}, which this gridledger does not know: "
            "restore it with the version that made it"
        ) from None
    backed_up = deployment_file.Deployment.from_json(json.loads((directory / DEPLOYMENT_FILE).read_text("utf-8")))
    configured = deployment_file.load(settings.deployment_file)
    if configured is not None and configured.binding() != backed_up.binding():
        raise ConfigurationError(
            f"the backup is of another deployment (contracts {manifest['deployment']['contracts']}) than the one in "
            f"{settings.deployment_file}; restore it into an installation of that deployment"
        )
    if configured is None:
        problem = deployment_file.mismatch(backed_up, w3, _artifact_hashes(settings))
        if problem:
            raise ConfigurationError(f"the backup's deployment cannot be used on this node: {problem}")
    engine = make_engine(settings.db_url)
    try:
        held = _holds_data(engine)
        if held and not force:
            raise StoreError(
                f"the database {engine.url.render_as_string(hide_password=True)} holds data ({held}); restore does not "
                "overwrite it unless given --force (take a backup of it first if it may be needed)"
            )
        if kind == "sqlite":
            _restore_sqlite(engine, directory / database["file"])
        else:
            _restore_postgres(engine, directory / database["file"], database.get("schema"))
        migrated = _migrate(engine, settings)
    finally:
        engine.dispose()
    result = Restored(database=kind, revision=database["schemaRevision"], migrated_to=migrated)
    if configured is None:
        deployment_file.save(settings.deployment_file, backed_up)
        result.deployment_written = True
    result.keys_added, result.keys_kept = _restore_keys(directory / KEYS, settings.keys_dir)
    ledger = Ledger(settings, Store.open(settings), w3)
    try:
        ledger.deployment  # noqa: B018 - checks the restored database's binding against the deployment
        catch_up(ledger, manifest, manifest_sha, result, report=report)
    finally:
        ledger.close()
    return result


def _artifact_hashes(settings: Settings) -> dict[str, str]:
    from .chain import CONTRACTS, artifact_hash

    return {name: artifact_hash(settings, name) for name in CONTRACTS}


def _holds_data(engine: Engine) -> str:
    """What rows the database holds (empty when none: a new or freshly initialised one)."""
    meta = MetaData()
    meta.reflect(engine)
    held = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            query = select(func.count()).select_from(table)
            if table.name == "log_head":
                query = query.where(table.c.size > 0)
            count = connection.execute(query).scalar_one()
            if count:
                held.append(f"{count} {table.name}")
    return ", ".join(held)


def _restore_sqlite(engine: Engine, source: Path) -> None:
    """SQLite's backup API the other way: the restored file's pages into the configured
    database, in one step under its write lock (safe with its WAL; no stale file left)."""
    path = engine.url.database
    assert path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    target = sqlite3.connect(path)
    try:
        origin.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        origin.close()


def _restore_postgres(engine: Engine, dump: Path, schema: str | None) -> None:
    """``pg_restore`` of the dump into the configured schema, emptied first (its own tables
    only), in one transaction."""
    with engine.begin() as connection:
        current = connection.execute(text("SELECT current_schema()")).scalar()
        if current is None and schema:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            current = schema
        if schema and current != schema:
            raise ConfigurationError(
                f"the backup is of schema {schema!r}; DATABASE_URL's search path leads to {current!r}: restore into a "
                "database whose search path names that schema"
            )
    meta = MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
    uri, env = _libpq(engine)
    tool = _pg_tool("pg_restore")
    listing = subprocess.run([tool, "--list", str(dump)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise StoreError(f"pg_restore cannot read {dump}: {listing.stderr.strip()}")
    # The schema itself exists already (it may be public, owned by the database): leave it out.
    entries = [line for line in listing.stdout.splitlines() if not _SCHEMA_ENTRY.search(line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(entries) + "\n")
    chosen = Path(handle.name)
    try:
        done = subprocess.run(
            [tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
             f"--use-list={chosen}", f"--dbname={uri}", str(dump)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        chosen.unlink(missing_ok=True)
    if done.returncode != 0:
        raise StoreError(f"pg_restore failed: {done.stderr.strip()}")


_SCHEMA_ENTRY = re.compile(r"^\s*\d+;\s+\d+\s+\d+\s+(SCHEMA\s+-\s|COMMENT\s+-\s+SCHEMA\s)")


def _migrate(engine: Engine, settings: Settings) -> str | None:
    """Brings a restored older schema up to this version's (sealing, as ``init`` does, the
    rows of a backup from before seals). Returns the new revision when it moved."""
    before = current_revision(engine)
    migrate(engine)
    after = current_revision(engine)
    if before is not None and before < SEALS_SINCE:
        if settings.key_password is None:
            raise ConfigurationError(
                f"the backup is at migration {before}; upgrading past {SEALS_SINCE} seals its rows and needs the "
                "keystore password: set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE"
            )
        from .seal import Sealer

        store = Store(engine)
        adopt_unsealed(store, Sealer.from_password(settings.key_password))
    return after if after != before else None


def _restore_keys(source: Path, target: Path) -> tuple[int, int]:
    """Copies the backup's keystores that are not in place; never replaces or deletes one (a
    key made after the backup stays, and one in place is kept even when its file differs)."""
    added = kept = 0
    if not source.is_dir():
        return 0, 0
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    for path in sorted(source.glob("*.json")):
        destination = target / path.name
        if destination.exists():
            kept += destination.read_bytes() != path.read_bytes()
            continue
        _copy_private(path, destination)
        added += 1
    return added, kept


# -- catching up with the chain ----------------------------------------------------------------


def catch_up(ledger: Ledger, manifest: dict[str, Any], manifest_sha: str, result: Restored,
             *, report: Report = print) -> None:  # fmt: skip
    """Brings a restored database up to the chain and records the restore (see the module's
    docstring). ``result`` is filled in as it goes."""
    result.events_indexed = ledger.indexer().run_once()
    result.nonces = resync_nonces(ledger)
    result.erasures, result.statuses = _apply_chain_states(ledger)
    log = ledger.log
    result.log_size = log.size()
    anchor = ledger.deployment.address("AccessLogAnchor")
    events = anchored_events(ledger.w3, ledger.indexer().decoder.decode, anchor, ledger.deployment.block,
                             ledger.settings.log_window)  # fmt: skip
    checkpoints = chain_checkpoints(events)
    result.checkpoints = _record_checkpoints(ledger, checkpoints)
    restored_block = int(rpc(ledger.w3, "eth_blockNumber", []), 16)
    found = None
    try:
        log.extend(result.log_size)
        inputs = append_inputs(ledger.w3, [c.tx_hash for c in checkpoints if c.size > result.log_size], anchor)
        found = bridge(result.log_size, log.leaf_hashes, checkpoints, inputs)
    except (StoreError, VerificationError) as exc:
        result.problem = (
            f"the log cannot resume after the chain's last checkpoint: {exc}. Reads stay closed (the database holds "
            "fewer events than the chain anchored)."
        )
        report(result.problem)
    sealer = ledger.sealer
    with ledger.store.session() as session, session.begin():
        row = Restore(
            at=int(time.time() * 1000), backup_at=int(manifest["createdAtMs"]),
            backup_block=int(manifest["chain"]["head"]["number"]), restored_block=restored_block,
            log_size=result.log_size, resumed_at=found.end if found else result.log_size, manifest_sha256=manifest_sha,
        )  # fmt: skip
        session.add(row)
        session.flush()
        row.seal = row_seal(sealer, "restores", row)
        if found is not None:
            gap = LogGap(start_seq=found.start, end_seq=found.end, restore_id=row.id,
                         checkpoint_index=found.checkpoint.index, checkpoint_tx=found.checkpoint.tx_hash)  # fmt: skip
            gap.seal = row_seal(sealer, "log_gaps", gap)
            session.add(gap)
            for (level, idx), value in sorted(found.nodes.items()):
                session.add(LogNode(level=level, idx=idx, hash=value))
            last = Frontier.resume(found.end, found.frontier).last()
            session.execute(
                update(LogHead).where(LogHead.id == 1)
                .values(size=found.end, hashed=found.end, seal=log_head_seal(sealer, found.end, last))
            )  # fmt: skip
            result.resumed_at = found.end
            result.unprovable = len(found.unprovable)
        else:
            result.resumed_at = result.log_size


def resync_nonces(ledger: Ledger) -> dict[str, tuple[int, int]]:
    """Moves every sender's next nonce up to the chain's (pending) count: transactions sent
    after the backup used nonces the restored cursors do not know. Returns the ones moved."""
    moved: dict[str, tuple[int, int]] = {}
    with ledger.store.session() as session, session.begin():
        for cursor in session.scalars(select(NonceCursor)).all():
            chain = int(ledger.w3.eth.get_transaction_count(cursor.sender, "pending"))  # type: ignore[arg-type]
            stored = session.scalar(select(func.max(OutboxTx.nonce)).where(OutboxTx.sender == cursor.sender))
            wanted = max(cursor.next_nonce, chain, -1 if stored is None else stored + 1)
            if wanted != cursor.next_nonce:
                moved[cursor.sender] = (cursor.next_nonce, wanted)
                cursor.next_nonce = wanted
    return moved


def _apply_chain_states(ledger: Ledger) -> tuple[int, int]:
    """Applies to the restored rows what the chain recorded since: erasures (content and salts
    deleted, as an erasure does; the written reason is lost) and grants withdrawn or revoked."""
    erased = 0
    statuses = 0
    with ledger.store.session() as session, session.begin():
        gone = {
            str(r).lower()
            for r in session.scalars(select(ChainRecordVersion.record_id).where(ChainRecordVersion.erased.is_(True)))
        }
        for record in session.scalars(select(Record).where(Record.erased_at.is_(None))).all():
            if record.record_id.lower() in gone:
                record.erased_at = utcnow()
                record.erase_reason = None
                for version in session.scalars(select(RecordVersion).where(RecordVersion.record_id == record.record_id)):
                    version.content = None
                    version.salt = None
                hints.clear_record(session, record.record_id)
                erased += 1
        chain = {g.grant_id.lower(): g for g in session.scalars(select(ChainGrant))}
        for grant in session.scalars(select(GrantTerms)).all():
            on_chain = chain.get(grant.grant_id.lower())
            if on_chain is not None and on_chain.status != grant.status and on_chain.status != "active":
                grant.status = on_chain.status
                grant.status_tx = on_chain.status_tx
                grant.status_reason = None
                statuses += 1
    return erased, statuses


def _record_checkpoints(ledger: Ledger, checkpoints: list[Any]) -> int:
    """Rows for the checkpoints the chain anchored that the restored database does not
    record as anchored (the anchorer builds the next one on the last)."""
    added = 0
    with ledger.store.session() as session, session.begin():
        rows = {r.size: r for r in session.scalars(select(LogCheckpoint))}
        previous = 0
        for checkpoint in checkpoints:
            row = rows.get(checkpoint.size)
            values = {"status": "anchored", "block_number": checkpoint.block, "chain_index": checkpoint.index}
            if row is None:
                session.add(LogCheckpoint(size=checkpoint.size, root="0x" + checkpoint.root.hex(), prev_size=previous,
                                          tx_hash=checkpoint.tx_hash, anchored_at=utcnow(), **values))  # fmt: skip
                added += 1
            elif row.status != "anchored":
                for key, value in values.items():
                    setattr(row, key, value)
                row.anchored_at = utcnow()
            previous = checkpoint.size
    return added


# -- files -------------------------------------------------------------------------------------


def _files(directory: Path) -> Iterator[str]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST and not path.name.startswith("."):
            yield path.relative_to(directory).as_posix()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_private(source: Path, target: Path) -> None:
    _write_private(target, source.read_bytes())


def _write_private(target: Path, data: bytes) -> None:
    """Writes ``data`` to a new file readable by its owner only, on disk before it returns."""
    draft = target.with_name(f".{target.name}.{os.getpid()}.part")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, target)


def _fsync_dir(directory: Path) -> None:
    for folder in (directory, directory / KEYS):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


"""``gridledger init``, ``gridledger compile``: the database schema, and the contracts' artifacts."""

from __future__ import annotations

import click

from ..errors import ConfigurationError, LedgerError
from ._base import console, load_settings, main


@main.command()
def init() -> None:
    """Create var/ and bring the database schema up to date.

    Upgrading an installation made before seals (migration 0006) seals its existing rows once,
    as they are at the upgrade, and needs the keystore password for that."""
    from ..seal import SEALS_SINCE, Sealer, adopt_unsealed
    from ..store import Store, current_revision, make_engine

    settings = load_settings(ask_password=True)
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

    settings = load_settings()
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

"""The gridledger command line, run in-process against the session's node."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ledger.cli import main
from ledger.settings import Settings


@pytest.fixture
def run(settings: Settings, ledger, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDLEDGER_VAR", str(settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("GRIDLEDGER_NODE_PORT", str(settings.node_port))
    monkeypatch.setenv("GRIDLEDGER_KEY_PASSWORD", "test-password")
    monkeypatch.setenv("GRIDLEDGER_BLOCK_TIME", "0.2")
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_member_add_then_list_shows_it(run, world) -> None:  # type: ignore[no-untyped-def]
    added = run("member", "add", "cli-worker", "--org", world.committee, "--role", "grid-worker")
    assert added.exit_code == 0, added.output
    assert "added cli-worker" in added.output
    listed = run("member", "list", "--org", world.committee)
    assert listed.exit_code == 0
    assert "cli-worker" in listed.output and "grid-worker" in listed.output


def test_forbidden_change_fails_with_the_contract_error(run, world) -> None:  # type: ignore[no-untyped-def]
    result = run("member", "suspend", world.members[0], "--as", world.other_admin)
    assert result.exit_code == 1
    assert "MembershipUnauthorized" in result.output


def test_threshold_above_n_is_refused(run, world) -> None:  # type: ignore[no-untyped-def]
    result = run("org", "threshold", world.committee, "9")
    assert result.exit_code == 1
    assert "MembershipInvalidThreshold" in result.output and "signers=3" in result.output


def test_incomplete_org_create_says_what_is_missing(run, world) -> None:  # type: ignore[no-untyped-def]
    result = run("org", "create", "cmte-new", "--name", "New", "--kind", "committee", "--parent", world.office)
    assert result.exit_code == 1
    assert "--member LABEL" in result.output and "--threshold K" in result.output


def test_org_list_shows_k_of_n(run, world) -> None:  # type: ignore[no-untyped-def]
    result = run("org", "list")
    assert result.exit_code == 0
    assert world.committee in result.output and "2 of 3" in result.output


def test_worker_once_sends_queued_writes_and_indexes_them(run, ledger, world) -> None:  # type: ignore[no-untyped-def]
    from ledger.membership import Role
    from ledger.organisations import Organisations

    tx_hash = Organisations(ledger, wait=False).add_member("queued-worker", world.committee, Role.GRID_WORKER)
    assert not Organisations(ledger).is_member("queued-worker")  # stored, not yet on chain
    run("worker", "--once")  # sends it
    ledger.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    result = run("worker", "--once")  # records the receipt and indexes the event
    assert result.exit_code == 0, result.output
    assert Organisations(ledger).is_member("queued-worker")
    assert ledger.outbox.counts().get("mined", 0) >= 1


def test_the_records_and_consent_story_from_the_command_line(run, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import re

    content = tmp_path / "health.json"
    content.write_text(json.dumps({"blood_type": "A", "chronic_conditions": ["哮喘 asthma"]}, ensure_ascii=False))
    added = run(
        "record",
        "add",
        "--subject",
        world.resident,
        "--category",
        "health",
        "--content",
        str(content),
        "--as",
        world.grid_worker,
    )
    assert added.exit_code == 0, added.output
    record_id = re.search(r"record (0x[0-9a-f]{64})", added.output).group(1)  # type: ignore[union-attr]

    assert "1 of 2 signatures" in run("record", "sign", record_id, "--as", world.members[0]).output
    signed = run("record", "sign", record_id, "--as", world.members[1])
    assert "2 of 2 signatures" in signed.output and "certified in transaction" in signed.output
    shown = run("record", "show", record_id)
    assert "certified" in shown.output and "哮喘 asthma" in shown.output
    assert "yes" in run("record", "history", record_id).output

    issued = run(
        "grant",
        "issue",
        "--resident",
        world.resident,
        "--department",
        world.department,
        "--categories",
        "health",
        "--purpose",
        "health-management",
        "--until",
        "2030-12-31",
        "--relayer",
        world.grid_worker,
    )
    assert issued.exit_code == 0, issued.output
    first = re.search(r"grant (0x[0-9a-f]{64})", issued.output).group(1)  # type: ignore[union-attr]
    second = re.search(
        r"grant (0x[0-9a-f]{64})",
        run(
            "grant",
            "issue",
            "--resident",
            world.resident,
            "--department",
            world.department,
            "--categories",
            "health,identity",
            "--purpose",
            "social-assistance",
            "--until",
            "2030-12-31",
        ).output,
    ).group(1)  # type: ignore[union-attr]
    assert run("grant", "revoke", first, "--reason", "duplicate grant", "--as", world.admin).exit_code == 0
    assert run("grant", "withdraw", second).exit_code == 0
    listed = run("grant", "list", "--resident", world.resident).output
    assert "revoked" in listed and "withdrawn" in listed

    assert run("verify", "records").exit_code == 0
    assert run("verify", "grants").exit_code == 0


def test_verify_exits_non_zero_on_a_finding(run, ledger, world) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from ledger.categories import Category
    from ledger.records import Records
    from ledger.store.models import RecordVersion

    record_id, _ = Records(ledger).add(
        actor=world.grid_worker,
        subject=world.resident,
        category=Category.HEALTH,
        content={"blood_type": "O", "chronic_conditions": []},
    )
    with ledger.store.session() as session, session.begin():
        session.execute(update(RecordVersion).where(RecordVersion.record_id == record_id).values(salt="0x" + "00" * 32))
    result = run("verify", "records")
    assert result.exit_code == 1
    assert "content-edited" in result.output and record_id in result.output

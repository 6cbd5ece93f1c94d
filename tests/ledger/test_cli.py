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
    result = run("org", "create", "cmte-new", "--name-zh", "新居委会", "--name-en", "New", "--kind", "committee",
                 "--parent", world.office)  # fmt: skip
    assert result.exit_code == 1
    assert "--member LABEL" in result.output and "--threshold K" in result.output


def test_org_list_shows_k_of_n(run, world) -> None:  # type: ignore[no-untyped-def]
    result = run("org", "list")
    assert result.exit_code == 0
    assert world.committee in result.output and "2 of 3" in result.output


def test_org_create_needs_both_names(run, world) -> None:  # type: ignore[no-untyped-def]
    missing = run("org", "create", "dept-x", "--name-zh", "某科", "--kind", "department", "--parent", world.office,
                  "--department-kind", "other")  # fmt: skip
    assert missing.exit_code == 2 and "--name-en" in missing.output
    blank = run("org", "create", "dept-x", "--name-zh", "某科", "--name-en", " ", "--kind", "department",
                "--parent", world.office, "--department-kind", "other")  # fmt: skip
    assert blank.exit_code == 1 and "a Chinese and an English name" in blank.output


def test_org_rename_gives_both_names_and_list_shows_them(run, ledger, world) -> None:  # type: ignore[no-untyped-def]
    from ledger.verify import verify

    renamed = run("org", "rename", world.department, "--name-zh", "甲卫生健康委", "--name-en", "Health Commission A")
    assert renamed.exit_code == 0, renamed.output
    listed = run("org", "list").output
    assert "甲卫生健康委" in listed and "Health Commission A" in listed
    assert verify(ledger, ("seals",)).exit_code == 0  # sealed anew
    unknown = run("org", "rename", "no-such-org", "--name-zh", "无", "--name-en", "None")
    assert unknown.exit_code == 1 and "no organisation with code 'no-such-org'" in unknown.output


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
    assert "certified" in shown.output and "哮喘 asthma" not in shown.output  # content only through a logged read
    read = run("access", record_id, "--as", world.members[2])
    assert read.exit_code == 0 and "哮喘 asthma" in read.output and "logged as access event #" in read.output
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


def test_grant_issue_to_another_offices_department_prints_why(run, world) -> None:  # type: ignore[no-untyped-def]
    """Regression: the one-office rule holds on the command line too, directly and relayed."""
    created = run("org", "create", "dept-b-health", "--name-zh", "乙卫生健康办", "--name-en", "Health B", "--kind", "department",
                  "--parent", world.other_office, "--department-kind", "health")  # fmt: skip
    assert created.exit_code == 0, created.output
    for relayer in ((), ("--relayer", world.grid_worker)):
        refused = run("grant", "issue", "--resident", world.resident, "--department", "dept-b-health",
                      "--categories", "health", "--purpose", "health-management", "--until", "2030-12-31", *relayer)  # fmt: skip
        assert refused.exit_code == 1
        assert "InputError: department: dept-b-health belongs to another office (office-b)" in refused.output
        assert "the resident's committee belongs to office-a" in refused.output
    assert "dept-b-health" not in run("grant", "list", "--resident", world.resident).output


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


def test_user_add_replace_and_disable_keep_the_log_in_sealed_and_end_its_sessions(run, ledger, world) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from ledger.seal import row_sealed
    from ledger.store.models import WebSession, WebUser

    def user() -> WebUser:
        with ledger.store.session() as session:
            found = session.scalar(select(WebUser).where(WebUser.username == "cli-user"))
        assert found is not None and row_sealed(ledger.sealer, "web_users", found)
        return found

    def sessions() -> int:
        with ledger.store.session() as session:
            return len(list(session.scalars(select(WebSession.id_hash))))

    def log_in(user_id: int) -> None:  # as the web app stores a session
        now = datetime.now(UTC)
        with ledger.store.session() as session, session.begin():
            session.add(WebSession(id_hash=f"{user_id:064x}", user_id=user_id, created_at=now,
                                   expires_at=now + timedelta(hours=8)))  # fmt: skip

    added = run(
        "user", "add", "cli-user", "--account", world.resident, "--name", "张三", "--password", "first password 1"
    )
    assert added.exit_code == 0, added.output
    log_in(user().id)
    disabled = run("user", "disable", "cli-user")
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    assert user().disabled and sessions() == 0
    log_in(user().id)  # (a session left from before, say)
    again = run("user", "add", "cli-user", "--account", world.resident, "--name", "张三", "--password",
                "second password 2", "--replace")  # fmt: skip
    assert again.exit_code == 0 and "every session of the old password has ended" in again.output
    assert not user().disabled and sessions() == 0
    assert run("user", "disable", "nobody-here").exit_code == 1


def test_the_access_log_story_from_the_command_line(run, ledger, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 4's done-when: a department reads under a grant, the resident's history shows
    it with a proof the standalone verifier accepts, a withdrawn grant stops the next
    read, and the audit lists a planted violation."""
    import json
    import re

    from ledger.accesslog import Draft

    content = tmp_path / "health.json"
    content.write_text(
        json.dumps({"blood_type": "AB", "chronic_conditions": [], "allergies": ["海鲜 seafood"]}, ensure_ascii=False)
    )
    added = run("record", "add", "--subject", world.resident, "--category", "health", "--content", str(content),
                "--as", world.grid_worker)  # fmt: skip
    record_id = re.search(r"record (0x[0-9a-f]{64})", added.output).group(1)  # type: ignore[union-attr]
    run("record", "sign", record_id, "--as", world.members[0])
    run("record", "sign", record_id, "--as", world.members[1])
    issued = run("grant", "issue", "--resident", world.resident, "--department", world.department,
                 "--categories", "health", "--purpose", "health-management", "--until", "2030-12-31")  # fmt: skip
    grant_id = re.search(r"grant (0x[0-9a-f]{64})", issued.output).group(1)  # type: ignore[union-attr]

    read = run("access", record_id, "--as", world.officer)
    assert read.exit_code == 0, read.output
    assert "海鲜 seafood" in read.output and f"grant {grant_id}" in read.output
    seq = int(re.search(r"access event #(\d+)", read.output).group(1))  # type: ignore[union-attr]
    cohort = tmp_path / "cohort.txt"  # a department system's list: the record, a blank line, a record not on chain
    cohort.write_text(f"{record_id}\n\n0x{'ab' * 32}\n")
    many = run("access-many", "--from", str(cohort), "--as", world.officer)
    lines = [json.loads(line) for line in many.stdout.splitlines()]
    assert many.exit_code == 1 and [line["status"] for line in lines] == ["read", "not-found"], many.output
    assert lines[0]["content"]["allergies"] == ["海鲜 seafood"] and lines[0]["grantId"] == grant_id
    assert lines[0]["seq"] == seq + 1 and "1 read, 0 refused (all logged), 1 not found" in many.stderr
    assert run("access-many", record_id, "--as", world.officer).exit_code == 0

    assert run("log", "anchor").exit_code == 0
    history = run("log", "history", world.resident)
    assert history.exit_code == 0, history.output
    assert f"#{seq} " in history.output and "proven" in history.output and world.officer in history.output
    proof = tmp_path / "proof.json"
    assert run("log", "proof", str(seq), "--out", str(proof)).exit_code == 0
    verified = run("verify", "proof", str(proof), "--rpc-url", ledger.settings.rpc_url)
    assert verified.exit_code == 0 and "VALID" in verified.output, verified.output

    assert run("grant", "withdraw", grant_id).exit_code == 0
    refused = run("access", record_id, "--as", world.officer, "--grant", grant_id)
    assert refused.exit_code == 1 and "access refused" in refused.output and "logged as access event" in refused.output

    head = int(ledger.w3.eth.block_number)  # planted: a read the service never checked
    ledger.log.append([Draft(
        action="read", outcome="allowed", resident=ledger.address_of(world.resident),
        accessor=ledger.address_of(world.officer), time=int(ledger.w3.eth.get_block("latest")["timestamp"]) * 1000,
        record_id=record_id, category="health", organisation="0x" + __import__("ledger.membership").membership.org_id(
            world.department).hex(), basis="grant", grant_id=grant_id, purpose=2, block=head,
    )])  # fmt: skip
    assert run("log", "anchor").exit_code == 0
    report = tmp_path / "audit"
    audited = run("audit", "--csv", f"{report}.csv", "--bundle", f"{report}.json")
    assert audited.exit_code == 1, audited.output  # a read after withdrawal is a finding of high severity
    assert "after-withdrawal" in audited.output and "refused-attempt" in audited.output
    assert "integrity of log: intact" in audited.output
    assert "after-withdrawal" in (tmp_path / "audit.csv").read_text()  # codes: the CSV is for programs
    assert run("audit", "--pdf", f"{report}.pdf").exit_code == 2  # the report is the office's export page
    bundle = run("verify", "bundle", f"{report}.json", "--rpc-url", ledger.settings.rpc_url)
    assert bundle.exit_code == 0 and "VALID" in bundle.output, bundle.output
    status = run("log", "status")
    assert status.exit_code == 0 and "state: ok" in status.output
    checked = run("verify", "log")
    assert checked.exit_code == 0 and "0 finding(s)" in checked.output, checked.output


def test_serve_refuses_a_taken_port_and_says_how_to_choose_another(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        by_option = run("serve", "--port", str(port))
        monkeypatch.setenv("GRIDLEDGER_WEB_PORT", str(port))
        by_environment = run("serve")
    for result in (by_option, by_environment):
        assert result.exit_code == 2, result.output
        assert f"port {port} on 127.0.0.1 is taken" in result.output
        assert "--port or GRIDLEDGER_WEB_PORT" in result.output


#: Runs the commands given as JSON in argv[1], one after the other, then says which of the
#: web app's frameworks were imported.
IN_A_FRESH_PYTHON = """
import json, sys
import ledger.cli.users, ledger.cli.tokens
from click.testing import CliRunner
from ledger.cli import main
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    print(result.output)
    if result.exit_code:
        sys.exit(result.exit_code)
print("imported:", sorted(m for m in ("flask", "flask_babel", "flask_wtf", "webapp") if m in sys.modules))
"""


def test_the_user_and_token_commands_do_not_import_flask(settings: Settings, ledger, world) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "GRIDLEDGER_VAR": str(settings.var_dir), "DATABASE_URL": settings.db_url,
           "GRIDLEDGER_NODE_PORT": str(settings.node_port), "GRIDLEDGER_KEY_PASSWORD": "test-password"}  # fmt: skip
    commands = [
        ["user", "add", "flaskless", "--account", world.resident, "--name", "李四", "--password", "a password 12"],
        ["user", "disable", "flaskless"],
        ["token", "create", "--as", world.officer, "--name", "flaskless system"],
    ]
    ran = subprocess.run([sys.executable, "-c", IN_A_FRESH_PYTHON, json.dumps(commands)], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "user flaskless acts as" in ran.stdout and "keep it secret" in ran.stdout
    assert "imported: []" in ran.stdout, ran.stdout


def test_the_incremental_audit_from_the_command_line(run, ledger, world) -> None:  # type: ignore[no-untyped-def]
    """The first run audits in full and marks; the next reads only what came since; both
    exit non-zero on a finding of high severity, as the full audit does."""
    from ledger.accesslog import Draft
    from ledger.membership import org_id

    def plant() -> None:  # a read under a grant the chain does not know
        ledger.log.append([Draft(
            action="read", outcome="allowed", resident=ledger.address_of(world.resident),
            accessor=ledger.address_of(world.officer), time=int(ledger.w3.eth.get_block("latest")["timestamp"]) * 1000,
            record_id="0x" + "ab" * 32, category="health", organisation="0x" + org_id(world.department).hex(),
            basis="grant", grant_id="0x" + "42" * 32, purpose=2,
        )])  # fmt: skip
        assert run("log", "anchor").exit_code == 0

    plant()
    first = run("audit", "--incremental")
    assert first.exit_code == 1 and "unknown-grant" in first.output, first.output
    assert "audit in full (no-mark): events 0..0" in first.output and "marked #1" in first.output
    again = run("audit", "--incremental")
    assert again.exit_code == 0 and "audit incremental: no new anchored events after #0 (0 rows read)" in again.output
    plant()
    day = run("audit", "--incremental")
    assert day.exit_code == 1 and "audit incremental: events 1..1 (1 rows read)" in day.output, day.output
    assert run("audit", "--incremental", "--department", world.department).exit_code == 2  # a usage error
    assert run("audit", "--full").exit_code == 2

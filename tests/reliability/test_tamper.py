"""The tamper campaign, as an independent auditor runs it: for every table and column the
system reads, an edit (and deletes, inserts, reorders where they apply) on a fresh copy of
a populated database, on SQLite and on PostgreSQL. Each is reported by ``verify all`` with
its own finding and ``gridledger verify all`` and ``gridledger audit`` exit 1; the
untouched copy is clean and exits 0. (What is refused at read time as well is in
``test_read_time.py``.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text

from ledger.cli import main
from ledger.context import Ledger
from ledger.verify import Problem, verify

from .conftest import Backend, Facts, Populated

P = Problem
Edit = Callable[[Connection, Facts], Any]


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit
    codes: frozenset[Problem]  # each must be among the findings
    sqlite_only: bool = False  # a value PostgreSQL's column types would refuse outright


def sql(statement: str, **fixed: Any) -> Edit:
    """An edit as one SQL statement; ``:name`` parameters come from ``fixed`` or the facts."""

    def edit(c: Connection, f: Facts) -> None:
        params = {k: v for k, v in vars(f).items() if f":{k}" in statement} | fixed
        done = c.execute(text(statement), params)
        assert done.rowcount != 0, f"the edit changed nothing: {statement}"

    return edit


def steps(*edits: Edit) -> Edit:
    def edit(c: Connection, f: Facts) -> None:
        for one in edits:
            one(c, f)

    return edit


def case(name: str, edit: Edit, *codes: Problem, sqlite_only: bool = False) -> Case:
    return Case(name, edit, frozenset(codes), sqlite_only)


ZERO32 = "0x" + "00" * 32
FAKE32 = "0x" + "ab" * 32
FAKE20 = "0x" + "ab" * 20

CASES = [
    # -- the indexed tables (chain) --------------------------------------------------------------
    case("organisations.kind", sql("UPDATE organisations SET kind = 'office' WHERE org_id = :department"), P.INDEX_DIFFERS),
    case("organisations.department_kind", sql("UPDATE organisations SET department_kind = 'public-security' "
         "WHERE org_id = :department"), P.INDEX_DIFFERS),
    case("organisations.parent_id", sql("UPDATE organisations SET parent_id = :x WHERE org_id = :department", x=FAKE32),
         P.INDEX_DIFFERS),
    case("organisations.threshold", sql("UPDATE organisations SET threshold = 1 WHERE kind = 'committee'"), P.INDEX_DIFFERS),
    case("organisations.active_signers", sql("UPDATE organisations SET active_signers = 99 WHERE kind = 'committee'"),
         P.INDEX_DIFFERS),
    case("organisations.created_block", sql("UPDATE organisations SET created_block = 1 WHERE org_id = :department"),
         P.INDEX_DIFFERS),
    case("organisations.created_tx", sql("UPDATE organisations SET created_tx = :x WHERE org_id = :department", x=FAKE32),
         P.INDEX_DIFFERS),
    case("organisations insert", sql("INSERT INTO organisations (org_id, kind, department_kind, parent_id, threshold, "
         "active_signers, created_block, created_tx) VALUES (:x, 'department', 'health', NULL, 0, 0, 1, :x)", x=FAKE32),
         P.INDEX_EXTRA),
    case("members.role", sql("UPDATE members SET role = 'department-officer', org_id = :department WHERE address = :resident"),
         P.INDEX_DIFFERS),
    case("members.status", sql("UPDATE members SET status = 'suspended' WHERE address = :officer"), P.INDEX_DIFFERS),
    case("members.org_id", sql("UPDATE members SET org_id = :police_org WHERE address = :officer"), P.INDEX_DIFFERS),
    case("members.added_block", sql("UPDATE members SET added_block = 1, updated_block = 1 WHERE address = :officer"),
         P.INDEX_DIFFERS),
    case("members delete", sql("DELETE FROM members WHERE address = :officer"), P.INDEX_MISSING),
    case("members insert", sql("INSERT INTO members (address, org_id, role, status, added_block, updated_block) "
         "VALUES (:x, :department, 'department-officer', 'active', 1, 1)", x="0x" + "Ab" * 20), P.INDEX_EXTRA),
    case("chain_record_versions.subject", sql("UPDATE chain_record_versions SET subject = :resident2 WHERE record_id = :record"),
         P.INDEX_DIFFERS),
    case("chain_record_versions.category", sql("UPDATE chain_record_versions SET category = 4 WHERE record_id = :record"),
         P.INDEX_DIFFERS),
    case("chain_record_versions.content_hash", sql("UPDATE chain_record_versions SET content_hash = :x "
         "WHERE record_id = :record AND version = 1", x=FAKE32), P.INDEX_DIFFERS),
    case("chain_record_versions.certified_tx", sql("UPDATE chain_record_versions SET certified_tx = NULL, signers = NULL "
         "WHERE record_id = :record AND version = 2"), P.INDEX_DIFFERS),
    case("chain_record_versions.erased", sql("UPDATE chain_record_versions SET erased = :no WHERE record_id = :erased",
         no=False), P.INDEX_DIFFERS),
    case("chain_record_versions.committee_id", sql("UPDATE chain_record_versions SET committee_id = :x "
         "WHERE record_id = :record", x=FAKE32), P.INDEX_DIFFERS),
    case("chain_record_versions delete", sql("DELETE FROM chain_record_versions WHERE record_id = :record AND version = 2"),
         P.INDEX_MISSING),
    case("chain_grants.resident", sql("UPDATE chain_grants SET resident = :resident2 WHERE grant_id = :grant"),
         P.INDEX_DIFFERS),
    case("chain_grants.status", sql("UPDATE chain_grants SET status = 'active' WHERE grant_id = :withdrawn"),
         P.INDEX_DIFFERS),
    case("chain_grants.categories", sql("UPDATE chain_grants SET categories = 127 WHERE grant_id = :grant"),
         P.INDEX_DIFFERS),
    case("chain_grants.valid_until", sql("UPDATE chain_grants SET valid_until = valid_until + 999999 WHERE grant_id = :grant"),
         P.INDEX_DIFFERS),
    case("chain_grants.department", sql("UPDATE chain_grants SET department = :police_org WHERE grant_id = :grant"),
         P.INDEX_DIFFERS),
    case("chain_grants delete", sql("DELETE FROM chain_grants WHERE grant_id = :revoked"), P.INDEX_MISSING),
    case("chain_grants insert", sql("INSERT INTO chain_grants (grant_id, resident, department, categories, purpose, "
         "legal_basis, valid_from, valid_until, terms_hash, status, relayer, issued_block, issued_tx, status_block, "
         "status_tx) VALUES (:x, :resident, :department, 1, 2, 1, 0, 9999999999, :x, 'active', NULL, 1, :x, 1, :x)",
         x=FAKE32), P.INDEX_EXTRA),
    case("chain_events.args", sql("UPDATE chain_events SET args = REPLACE(args, '\"version\": 2', '\"version\": 3') "
         "WHERE event = 'RecordCommitted' AND args LIKE '%\"version\": 2%'"), P.EVENT_DIFFERS),
    case("chain_events delete", sql("DELETE FROM chain_events WHERE event = 'GrantWithdrawn'"), P.EVENT_MISSING),
    case("chain_events insert", sql("INSERT INTO chain_events (block_number, block_hash, log_index, tx_hash, contract, "
         "event, args) VALUES (1, :x, 99, :x, 'ConsentRegistry', 'GrantRevoked', '{}')", x=FAKE32), P.EVENT_EXTRA),
    case("index_cursors.block_hash", sql("UPDATE index_cursors SET block_hash = :x", x=FAKE32), P.CURSOR_OFF_CHAIN),
    # -- records -----------------------------------------------------------------------------------
    case("records.subject", sql("UPDATE records SET subject = :resident2 WHERE record_id = :record"), P.RECORD_DIFFERS),
    case("records.category", sql("UPDATE records SET category = 1 WHERE record_id = :property"), P.RECORD_DIFFERS),
    case("records.committee_id", sql("UPDATE records SET committee_id = :x WHERE record_id = :record", x=FAKE32),
         P.RECORD_DIFFERS),
    case("records.created_by", sql("UPDATE records SET created_by = :officer WHERE record_id = :record"), P.RECORD_DIFFERS),
    case("records.erased_at set", sql("UPDATE records SET erased_at = created_at WHERE record_id = :record"),
         P.ERASURE_NOT_ANCHORED),
    case("records.erased_at cleared", sql("UPDATE records SET erased_at = NULL WHERE record_id = :erased"),
         P.RECORD_DIFFERS),
    case("records.category as text", sql("UPDATE records SET category = 'health' WHERE record_id = :property"),
         P.RECORD_DIFFERS, sqlite_only=True),
    case("records delete", steps(sql("DELETE FROM approvals WHERE record_id = :property"),
                                 sql("DELETE FROM record_versions WHERE record_id = :property"),
                                 sql("DELETE FROM records WHERE record_id = :property")), P.NO_CONTENT),
    case("records insert", steps(
        sql("INSERT INTO records (record_id, committee_id, subject, category, created_by, created_at) "
            "SELECT :x, committee_id, subject, category, created_by, created_at FROM records WHERE record_id = :record",
            x=FAKE32),
        sql("INSERT INTO record_versions (record_id, version, content, salt, content_hash, prev_hash, created_by, "
            "created_at, tx_hash) SELECT :x, version, content, salt, content_hash, prev_hash, created_by, created_at, :x "
            "FROM record_versions WHERE record_id = :record AND version = 1", x=FAKE32)), P.NEVER_ANCHORED),
    case("record_versions.content", sql("UPDATE record_versions SET content = REPLACE(content, '\"AB\"', '\"O\"') "
         "WHERE record_id = :record AND version = 2"), P.CONTENT_EDITED),
    case("record_versions.salt", sql("UPDATE record_versions SET salt = :x WHERE record_id = :record AND version = 1",
         x=FAKE32), P.CONTENT_EDITED),
    case("record_versions.content_hash", sql("UPDATE record_versions SET content_hash = :x WHERE record_id = :record "
         "AND version = 1", x=FAKE32), P.VERSION_DIFFERS),
    case("record_versions.prev_hash", sql("UPDATE record_versions SET prev_hash = :x WHERE record_id = :record AND "
         "version = 2", x=FAKE32), P.VERSION_DIFFERS),
    case("record_versions.created_by", sql("UPDATE record_versions SET created_by = :officer WHERE record_id = :record "
         "AND version = 2"), P.VERSION_DIFFERS),
    case("record_versions.tx_hash", sql("UPDATE record_versions SET tx_hash = :x WHERE record_id = :record AND "
         "version = 2", x=FAKE32), P.VERSION_DIFFERS),
    case("record_versions content deleted", sql("UPDATE record_versions SET content = NULL, salt = NULL "
         "WHERE record_id = :property"), P.NO_CONTENT),
    case("record_versions content after erasure", sql("UPDATE record_versions SET content = '{}', salt = :x "
         "WHERE record_id = :erased", x=FAKE32), P.CONTENT_AFTER_ERASURE),
    case("record_versions.content not JSON", sql("UPDATE record_versions SET content = 'not json' WHERE record_id = "
         ":property"), P.CONTENT_EDITED),
    case("record_versions.content as a number", sql("UPDATE record_versions SET content = 7 WHERE record_id = :property"),
         P.CONTENT_EDITED, sqlite_only=True),
    case("resident_hints insert", sql("INSERT INTO resident_hints (resident, id_number_masked, id_record_id, id_version, "
         "updated_at) VALUES (:resident, '110101********0000', :record, 1, CURRENT_TIMESTAMP)"), P.HINT_DIFFERS),
    case("resident_hints from an erased record", sql("INSERT INTO resident_hints (resident, address_masked, "
         "address_record_id, address_version, updated_at) VALUES (:resident, '白鹤小区 3 幢', :erased, 1, "
         "CURRENT_TIMESTAMP)"), P.HINT_DIFFERS),
    case("record_versions delete", sql("DELETE FROM record_versions WHERE record_id = :record AND version = 2"),
         P.VERSION_MISSING),
    case("record_versions reorder", steps(
        sql("UPDATE record_versions SET version = 99 WHERE record_id = :record AND version = 1"),
        sql("UPDATE record_versions SET version = 1 WHERE record_id = :record AND version = 2"),
        sql("UPDATE record_versions SET version = 2 WHERE record_id = :record AND version = 99")), P.VERSION_DIFFERS,
         P.CONTENT_EDITED),
    case("record_versions insert", sql("INSERT INTO record_versions (record_id, version, content, salt, content_hash, "
         "prev_hash, created_by, created_at, tx_hash) SELECT record_id, 3, content, salt, content_hash, content_hash, "
         "created_by, created_at, :x FROM record_versions WHERE record_id = :record AND version = 2", x=FAKE32),
         P.NEVER_ANCHORED),
    case("approvals.signature", sql("UPDATE approvals SET signature = :x WHERE record_id = :property",
         x="0x" + "11" * 65), P.APPROVAL_INVALID),
    case("approvals.signer", sql("UPDATE approvals SET signer = :officer WHERE id = (SELECT MIN(id) FROM approvals "
         "WHERE record_id = :property)"), P.APPROVAL_INVALID),
    case("approvals.content_hash", sql("UPDATE approvals SET content_hash = :x WHERE record_id = :property", x=FAKE32),
         P.APPROVAL_INVALID),
    case("approvals insert", sql("INSERT INTO approvals (record_id, version, content_hash, signer, signature, created_at) "
         "SELECT record_id, version, content_hash, :officer, signature, created_at FROM approvals WHERE record_id = "
         ":property AND id = (SELECT MIN(id) FROM approvals WHERE record_id = :property)"), P.APPROVAL_INVALID),
    # -- grants ------------------------------------------------------------------------------------
    case("grants.terms", sql("UPDATE grants SET terms = REPLACE(terms, 'health_management', 'public_security') "
         "WHERE grant_id = :grant"), P.TERMS_EDITED),
    case("grants.terms_hash", sql("UPDATE grants SET terms_hash = :x WHERE grant_id = :grant", x=FAKE32), P.TERMS_EDITED),
    case("grants.categories", sql("UPDATE grants SET categories = 127 WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.categories as text", sql("UPDATE grants SET categories = 'all' WHERE grant_id = :grant"),
         P.FIELDS_DIFFER, sqlite_only=True),
    case("grants.resident", sql("UPDATE grants SET resident = :resident2 WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.department", sql("UPDATE grants SET department = :police_org WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.purpose", sql("UPDATE grants SET purpose = 6 WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.legal_basis", sql("UPDATE grants SET legal_basis = 5 WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.valid_from", sql("UPDATE grants SET valid_from = 0 WHERE grant_id = :grant"), P.FIELDS_DIFFER),
    case("grants.valid_until", sql("UPDATE grants SET valid_until = valid_until + 999999 WHERE grant_id = :grant"),
         P.FIELDS_DIFFER),
    case("grants.relayer", sql("UPDATE grants SET relayer = NULL WHERE grant_id = :relayed"), P.FIELDS_DIFFER),
    case("grants.tx_hash", sql("UPDATE grants SET tx_hash = :x WHERE grant_id = :grant", x=FAKE32), P.FIELDS_DIFFER),
    case("grants.status", sql("UPDATE grants SET status = 'active' WHERE grant_id = :withdrawn"), P.STATUS_DIFFERS),
    case("grants.status_tx", sql("UPDATE grants SET status_tx = :x WHERE grant_id = :revoked", x=FAKE32),
         P.STATUS_DIFFERS),
    case("grants delete", sql("DELETE FROM grants WHERE grant_id = :revoked"), P.UNKNOWN_GRANT),
    case("grants insert", sql("INSERT INTO grants (grant_id, resident, department, categories, purpose, legal_basis, "
         "valid_from, valid_until, terms, terms_hash, status, relayer, created_at, tx_hash) SELECT :x, resident, "
         "department, categories, purpose, legal_basis, valid_from, valid_until, terms, terms_hash, status, relayer, "
         "created_at, :x FROM grants WHERE grant_id = :grant", x=FAKE32), P.NEVER_ANCHORED),
    # -- the access log --------------------------------------------------------------------------
    case("access_log.leaf", sql("UPDATE access_log SET leaf = :x WHERE seq = 1", x=b'{"format":"gridledger-access/1"}'),
         P.LEAF_HASH_MISMATCH, P.CHECKPOINT_MISMATCH),
    case("access_log.leaf and leaf_hash, anchored", steps(
        sql("UPDATE access_log SET leaf = (SELECT leaf FROM access_log WHERE seq = 8), leaf_hash = (SELECT leaf_hash "
            "FROM access_log WHERE seq = 8) WHERE seq = 2")), P.CHECKPOINT_MISMATCH, P.LEAF_MOVED),
    case("access_log.leaf not JSON", sql("UPDATE access_log SET leaf = :x WHERE seq = 9", x=b"not json"),
         P.LEAF_UNREADABLE, P.LEAF_HASH_MISMATCH),
    case("access_log.leaf as text", sql("UPDATE access_log SET leaf = CAST(leaf AS TEXT) WHERE seq = 3"),
         P.LEAF_UNREADABLE, sqlite_only=True),
    case("access_log.leaf_hash as text", sql("UPDATE access_log SET leaf_hash = 'abc' WHERE seq = 3"),
         P.LEAF_HASH_MISMATCH, sqlite_only=True),
    case("access_log.seal", sql("UPDATE access_log SET seal = :x WHERE seq = 9", x=b"\x00" * 32), P.LEAF_UNSEALED),
    case("access_log.seal removed", sql("UPDATE access_log SET seal = NULL WHERE seq = 2"), P.LEAF_UNSEALED),
    *[
        case(f"access_log.{column}", sql(f"UPDATE access_log SET {column} = {value} WHERE seq = :seq_", seq_=seq),
             P.COLUMN_DIFFERS)
        for column, value, seq in [
            ("resident", "'0x0000000000000000000000000000000000000001'", 0),
            ("resident_seq", "resident_seq + 50", 2),
            ("time", "time + 1", 1),
            ("accessor", "'0x0000000000000000000000000000000000000002'", 0),
            ("organisation", f"'{FAKE32}'", 0),
            ("record_id", f"'{FAKE32}'", 1),
            ("action", "'review'", 1),
            ("outcome", "'allowed'", 4),
            ("basis", "'emergency'", 0),
            ("grant_id", "NULL", 0),
            ("disclose_on", "'2099-01-01'", 0),
            ("disclose_on", "NULL", 6),
        ]
    ],
    case("access_log.time as text", sql("UPDATE access_log SET time = 'yesterday' WHERE seq = 1"), P.COLUMN_DIFFERS,
         sqlite_only=True),
    case("access_log.justification", sql("UPDATE access_log SET justification = '例行检查 routine' WHERE seq = :emergency"),
         P.JUSTIFICATION_DIFFERS),
    case("access_log.justification removed", sql("UPDATE access_log SET justification = NULL WHERE seq = :held"),
         P.JUSTIFICATION_DIFFERS),
    case("access_log delete", sql("DELETE FROM access_log WHERE seq = 3"), P.LEAF_MISSING, P.CHECKPOINT_MISMATCH),
    case("access_log delete past the checkpoint", sql("DELETE FROM access_log WHERE seq = 8"), P.LEAF_MISSING),
    case("access_log reorder", steps(
        sql("UPDATE access_log SET seq = 100 WHERE seq = 1"), sql("UPDATE access_log SET seq = 1 WHERE seq = 2"),
        sql("UPDATE access_log SET seq = 2 WHERE seq = 100")), P.LEAF_MOVED, P.CHECKPOINT_MISMATCH),
    case("access_log a fake event past the checkpoint, log_head raised", steps(
        sql("INSERT INTO access_log (seq, resident, resident_seq, leaf, leaf_hash, time, accessor, organisation, "
            "record_id, action, outcome, basis, grant_id, disclose_on, justification, seal) SELECT 10, resident, "
            "resident_seq + 1, REPLACE(CAST(leaf AS TEXT), '\"seq\"\\:9', '\"seq\"\\:10'), leaf_hash, time, accessor, "
            "organisation, record_id, action, outcome, basis, grant_id, disclose_on, justification, seal FROM access_log "
            "WHERE seq = 9"), sql("UPDATE log_head SET size = 11")), P.LEAF_UNSEALED, P.HEAD_UNSEALED, sqlite_only=True),
    case("access_log a copied event past the checkpoint, log_head raised", steps(
        sql("INSERT INTO access_log (seq, resident, resident_seq, leaf, leaf_hash, time, accessor, organisation, "
            "record_id, action, outcome, basis, grant_id, disclose_on, justification, seal) SELECT 10, resident, "
            "resident_seq + 1, leaf, leaf_hash, time, accessor, organisation, record_id, action, outcome, basis, "
            "grant_id, disclose_on, justification, seal FROM access_log WHERE seq = 9"),
        sql("UPDATE log_head SET size = 11")), P.LEAF_MOVED, P.HEAD_UNSEALED, P.NUMBERING),
    case("access_log newest events cut off, log_head lowered", steps(
        sql("DELETE FROM access_log WHERE seq = 9"), sql("UPDATE log_head SET size = 9")), P.HEAD_UNSEALED),
    case("access_log the whole log cut off", steps(
        sql("DELETE FROM access_log"), sql("DELETE FROM log_nodes"), sql("UPDATE log_head SET size = 0, hashed = 0, "
            "seal = NULL")), P.CHECKPOINT_MISMATCH),
    case("log_head.size raised", sql("UPDATE log_head SET size = size + 1"), P.LEAF_MISSING, P.HEAD_UNSEALED),
    case("log_head.size lowered", sql("UPDATE log_head SET size = size - 1"), P.BEYOND_HEAD, P.HEAD_UNSEALED),
    case("log_head.seal", sql("UPDATE log_head SET seal = :x", x=b"\x01" * 32), P.HEAD_UNSEALED),
    case("log_head.hashed", sql("UPDATE log_head SET hashed = hashed + 5"), P.NODE_EXTRA),
    case("log_nodes.hash", sql("UPDATE log_nodes SET hash = :x WHERE level = 1 AND idx = 0", x=b"\x02" * 32),
         P.NODE_DIFFERS),
    case("log_nodes delete", sql("DELETE FROM log_nodes WHERE level = 2 AND idx = 0"), P.NODE_MISSING),
    case("log_nodes insert", sql("INSERT INTO log_nodes (level, idx, hash) VALUES (5, 7, :x)", x=b"\x03" * 32),
         P.NODE_EXTRA),
    case("log_checkpoints anchored set back to queued", sql("UPDATE log_checkpoints SET status = 'queued'"),
         P.CHECKPOINT_ROW_DIFFERS),
    case("log_checkpoints.root", sql("UPDATE log_checkpoints SET root = :x", x=FAKE32), P.CHECKPOINT_NOT_ON_CHAIN),
    case("log_checkpoints.chain_index", sql("UPDATE log_checkpoints SET chain_index = 5"), P.CHECKPOINT_ROW_DIFFERS),
    case("log_checkpoints.block_number", sql("UPDATE log_checkpoints SET block_number = 1"), P.CHECKPOINT_ROW_DIFFERS),
    case("log_checkpoints.tx_hash", sql("UPDATE log_checkpoints SET tx_hash = :x", x=FAKE32), P.CHECKPOINT_ROW_DIFFERS),
    case("log_checkpoints delete", sql("DELETE FROM log_checkpoints"), P.CHECKPOINT_ROW_MISSING),
    case("log_checkpoints fake anchored", sql("INSERT INTO log_checkpoints (size, root, prev_size, tx_hash, status, "
         "created_at, block_number, chain_index) SELECT 10, root, 8, :x, 'anchored', created_at, block_number, 1 FROM "
         "log_checkpoints", x=FAKE32), P.CHECKPOINT_NOT_ON_CHAIN),
    case("emergency_reviews.decision", sql("UPDATE emergency_reviews SET decision = 'flag' WHERE access_seq = :emergency"),
         P.REVIEW_DIFFERS),
    case("emergency_reviews.note", sql("UPDATE emergency_reviews SET note = 'fine' WHERE access_seq = :emergency"),
         P.REVIEW_DIFFERS),
    case("emergency_reviews.reviewer", sql("UPDATE emergency_reviews SET reviewer = :officer WHERE access_seq = :held"),
         P.REVIEW_DIFFERS),
    case("emergency_reviews.signature", sql("UPDATE emergency_reviews SET signature = :x WHERE access_seq = :held",
         x="0x" + "22" * 65), P.REVIEW_DIFFERS),
    case("emergency_reviews.statement", sql("UPDATE emergency_reviews SET statement = '{}' WHERE access_seq = :held"),
         P.REVIEW_DIFFERS),
    case("emergency_reviews delete", sql("DELETE FROM emergency_reviews WHERE access_seq = :emergency"), P.REVIEW_MISSING),
    case("emergency_reviews insert", sql("INSERT INTO emergency_reviews (access_seq, decision, note, reviewer, statement, "
         "signature, review_seq, created_at) SELECT 0, decision, note, reviewer, statement, signature, 99, created_at "
         "FROM emergency_reviews WHERE access_seq = :emergency"), P.REVIEW_DIFFERS),
    # -- sealed rows -----------------------------------------------------------------------------
    case("accounts.label", sql("UPDATE accounts SET label = 'cmte-a-resident-x' WHERE address = :resident"),
         P.ROW_UNSEALED),
    case("accounts.address", sql("UPDATE accounts SET address = :x WHERE address = :resident2", x=FAKE20), P.ROW_UNSEALED),
    case("accounts insert", sql("INSERT INTO accounts (address, label, kind, created_at) SELECT :x, 'intruder', kind, "
         "created_at FROM accounts WHERE address = :resident", x=FAKE20), P.ROW_UNSEALED),
    case("org_profiles.name_zh", sql("UPDATE org_profiles SET name_zh = '假的' WHERE org_id = :department"),
         P.ROW_UNSEALED),
    case("org_profiles.name_en", sql("UPDATE org_profiles SET name_en = 'fake' WHERE org_id = :department"),
         P.ROW_UNSEALED),
    case("org_profiles names swapped", sql("UPDATE org_profiles SET name_zh = name_en, name_en = name_zh "
         "WHERE org_id = :department"), P.ROW_UNSEALED),
    case("org_profiles.legacy_name set", sql("UPDATE org_profiles SET legacy_name = name_zh || ' ' || name_en "
         "WHERE org_id = :department"), P.ROW_UNSEALED),
    case("org_profiles.code", sql("UPDATE org_profiles SET code = 'dept-x' WHERE org_id = :department"),
         P.ROW_UNSEALED, P.CODE_MISMATCH),
    case("web_users.address", sql("UPDATE web_users SET address = :officer WHERE username = 'resident'"),
         P.ROW_UNSEALED),
    case("web_users.password_hash", sql("UPDATE web_users SET password_hash = (SELECT password_hash FROM web_users "
         "WHERE username = 'resident') WHERE username = 'officer'"), P.ROW_UNSEALED),
    case("web_users.disabled", sql("UPDATE web_users SET disabled = :no WHERE username = 'gone'", no=False),
         P.ROW_UNSEALED),
    case("web_users.display_name", sql("UPDATE web_users SET display_name = '王某' WHERE username = 'resident'"),
         P.ROW_UNSEALED),
    case("web_users insert", sql("INSERT INTO web_users (username, password_hash, address, display_name, created_at, "
         "disabled) SELECT 'intruder', password_hash, :officer, display_name, created_at, disabled FROM web_users "
         "WHERE username = 'resident'"), P.ROW_UNSEALED),
    case("api_tokens.role", sql("UPDATE api_tokens SET role = 'office-admin' WHERE name = 'health department system'"),
         P.ROW_UNSEALED),
    case("api_tokens.org_id", sql("UPDATE api_tokens SET org_id = :police_org WHERE name = 'health department system'"),
         P.ROW_UNSEALED),
    case("api_tokens.revoked_at cleared", sql("UPDATE api_tokens SET revoked_at = NULL WHERE name = 'old system'"),
         P.ROW_UNSEALED),
    case("api_tokens.token_hash", sql("UPDATE api_tokens SET token_hash = :x WHERE name = 'old system'", x="ab" * 32),
         P.ROW_UNSEALED),
    case("verify_runs a faked clean run", sql("INSERT INTO verify_runs (at, exit_code, by, summary, seal) SELECT at + 1, "
         "0, by, summary, seal FROM verify_runs"), P.ROW_UNSEALED),
    case("verify_runs.exit_code", sql("UPDATE verify_runs SET exit_code = 0, summary = '{}'"), P.ROW_UNSEALED),
]


def test_the_untouched_copy_is_clean_and_the_commands_exit_0(trial: Ledger, populated: Populated, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    report = verify(trial, catch_up=False)
    assert report.exit_code == 0, (report.findings, report.problems)
    assert report.checked["log"] >= populated.facts.size and report.checked["chain"] > 0
    assert _cli(trial, monkeypatch, "verify", "all").exit_code == 0
    assert _cli(trial, monkeypatch, "audit").exit_code == 0


@pytest.mark.parametrize("tamper", CASES, ids=[c.name for c in CASES])
def test_each_edit_is_reported_with_its_own_finding(tamper: Case, trial: Ledger, backend: Backend, populated: Populated,
                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if tamper.sqlite_only and backend.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse this value outright")
    with trial.store.engine.begin() as connection:
        tamper.edit(connection, populated.facts)
    report = verify(trial, catch_up=False)
    found = {f.code for f in report.findings}
    assert tamper.codes <= found, (tamper.name, sorted(found), report.problems)
    assert report.exit_code == 1


def test_the_commands_exit_1_on_findings(trial: Ledger, populated: Populated, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The exit codes a schedule alerts on, for an edit of each part."""
    for part, edit in [
        ("chain", sql("UPDATE members SET status = 'suspended' WHERE address = :officer")),
        ("log", sql("UPDATE access_log SET disclose_on = '2099-01-01' WHERE seq = 0")),
        ("seals", sql("UPDATE accounts SET label = 'x' WHERE address = :resident")),
    ]:
        with trial.store.engine.begin() as connection:
            edit(connection, populated.facts)
        verified = _cli(trial, monkeypatch, "verify", "all")
        assert verified.exit_code == 1 and f"({part})" in verified.output, verified.output
        audited = _cli(trial, monkeypatch, "audit")
        assert audited.exit_code == 1, audited.output
    assert _cli(trial, monkeypatch, "verify", "log").exit_code == 1
    assert _cli(trial, monkeypatch, "verify", "grants").exit_code == 0  # an untouched part is clean


def test_a_value_of_the_wrong_type_is_a_finding_not_a_crash(trial: Ledger, backend: Backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Regression: a leaf stored as text made `gridledger audit` die with a TypeError."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL's bytea column refuses text outright")
    with trial.store.engine.begin() as connection:
        connection.execute(text("UPDATE access_log SET leaf = CAST(leaf AS TEXT), leaf_hash = 'x' WHERE seq = 2"))
        connection.execute(text("UPDATE log_head SET size = 'many'"))
    for command in (("audit",), ("verify", "all"), ("verify", "log")):
        result = _cli(trial, monkeypatch, *command)
        assert result.exit_code == 1 and "Traceback" not in result.output, (command, result.output)
        assert "leaf-unreadable" in result.output, result.output


def test_could_not_check_exits_2(trial: Ledger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDLEDGER_NODE_PORT", "1")  # nothing answers there
    monkeypatch.setenv("GRIDLEDGER_RPC_URL", "http://127.0.0.1:1")
    result = _cli(trial, monkeypatch, "verify", "all", node=False)
    assert result.exit_code == 2, result.output


def test_without_the_keystore_password_seals_are_not_checked_and_it_says_so(trial: Ledger, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("GRIDLEDGER_KEY_PASSWORD", raising=False)
    result = _cli(trial, monkeypatch, "verify", "all", password=False)
    assert result.exit_code == 2 and "seals were not checked" in result.output, result.output


def _cli(ledger: Ledger, monkeypatch, *args: str, node: bool = True, password: bool = True):  # type: ignore[no-untyped-def]
    settings = ledger.settings
    monkeypatch.setenv("GRIDLEDGER_VAR", str(settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    if node:
        monkeypatch.setenv("GRIDLEDGER_NODE_PORT", str(settings.node_port))
        monkeypatch.delenv("GRIDLEDGER_RPC_URL", raising=False)
    if password:
        monkeypatch.setenv("GRIDLEDGER_KEY_PASSWORD", "test-password")
    monkeypatch.delenv("GRIDLEDGER_KEY_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("GRIDLEDGER_BLOCK_TIME", "0.2")
    return CliRunner().invoke(main, list(args), catch_exceptions=False)

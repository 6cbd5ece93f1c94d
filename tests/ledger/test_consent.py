"""Consent grants through the library: issue (direct and relayed), withdraw, revoke,
expiry, and isActive as the one rule."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select, update

from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import ContractRevert, InputError
from ledger.formats import to_hex
from ledger.membership import DepartmentKind, org_id
from ledger.organisations import Organisations
from ledger.store.models import Organisation, OutboxTx

YEAR = 365 * 86_400
OTHER_DEPT = "dept-b-health"


@pytest.fixture
def consent(ledger: Ledger) -> Consent:
    return Consent(ledger)


def _issue(consent: Consent, world, **extra):  # type: ignore[no-untyped-def]
    args = dict(
        resident=world.resident,
        department=world.department,
        categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT,
        legal_basis=LegalBasis.CONSENT,
        valid_until=int(time.time()) + YEAR,
        purpose_text="家庭医生签约服务 family doctor service",
    )
    args.update(extra)
    return consent.issue(**args)


def _active(ledger: Ledger, grant_id: str, category: Category = Category.HEALTH, org: str = "dept-a-health") -> bool:
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    return bool(
        ledger.contract("ConsentRegistry")
        .functions.isActive(bytes.fromhex(grant_id[2:]), org_id(org), int(category), now)
        .call()
    )


def test_resident_issues_and_withdraws(consent: Consent, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    grant_id, _ = _issue(consent, world)
    view = consent.show(grant_id)
    assert view.status == "active" and view.relayer is None
    assert view.terms["purpose"]["text"] == "家庭医生签约服务 family doctor service"
    assert view.terms["collectionMethod"] == "issued by the resident"
    assert _active(ledger, grant_id)
    assert not _active(ledger, grant_id, Category.PROPERTY)  # outside its categories

    consent.withdraw(grant_id)
    assert consent.show(grant_id).status == "withdrawn"
    assert not _active(ledger, grant_id)


def test_grid_worker_relays_the_residents_signature(consent: Consent, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    nonce_before = ledger.contract("ConsentRegistry").functions.nonces(ledger.address_of(world.resident)).call()
    grant_id, _ = _issue(consent, world, relayer=world.grid_worker)
    view = consent.show(grant_id)
    assert view.status == "active"
    assert view.relayer == ledger.address_of(world.grid_worker)
    assert view.resident == ledger.address_of(world.resident)  # the resident's grant, not the worker's
    assert ledger.contract("ConsentRegistry").functions.nonces(view.resident).call() == nonce_before + 1

    consent.withdraw(grant_id, relayer=world.grid_worker)
    assert consent.show(grant_id).status == "withdrawn"


def test_only_a_grid_worker_of_the_residents_committee_may_relay(consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ContractRevert) as caught:
        _issue(consent, world, relayer=world.other_member)
    assert caught.value.name == "ConsentRegistryNotRelayer"
    assert consent.list(resident=world.resident) == []  # nothing written


def test_office_admin_revokes_and_another_office_cannot(consent: Consent, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    grant_id, _ = _issue(consent, world)
    with pytest.raises(ContractRevert) as caught:
        consent.revoke(grant_id, "not theirs to revoke", actor=world.other_admin)
    assert caught.value.name == "ConsentRegistryUnauthorized"
    assert consent.show(grant_id).status == "active"

    consent.revoke(grant_id, "department merged", actor=world.admin)
    assert consent.show(grant_id).status == "revoked"
    assert not _active(ledger, grant_id)
    with pytest.raises(ContractRevert) as again:
        consent.withdraw(grant_id)
    assert again.value.name == "ConsentRegistryNotActive"


def test_expiry_is_a_status_of_its_own(consent: Consent, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    grant_id, _ = _issue(consent, world, valid_from=now - 10, valid_until=now + 30)
    assert consent.show(grant_id).status == "active"
    ledger.w3.provider.make_request("evm_increaseTime", [60])  # type: ignore[arg-type]
    ledger.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert consent.show(grant_id).status == "expired"
    assert not _active(ledger, grant_id)


def test_bad_grant_input_is_refused_before_anything_is_written(consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as no_categories:
        _issue(consent, world, categories=[])
    assert no_categories.value.field == "categories"
    with pytest.raises(InputError) as window:
        _issue(consent, world, valid_from=int(time.time()), valid_until=int(time.time()) - 1)
    assert window.value.field == "valid_until"
    with pytest.raises(InputError) as dept:
        _issue(consent, world, department=world.committee)  # a committee is not a department
    assert dept.value.field == "department"
    assert consent.list(resident=world.resident) == []


def _other_office_department(orgs: Organisations) -> str:
    """A health department under office-b, for this test only (the session world has none)."""
    orgs.create_department(OTHER_DEPT, "Health B", "office-b", DepartmentKind.HEALTH)
    return OTHER_DEPT


def _outbox_size(ledger: Ledger) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxTx)) or 0)


@pytest.mark.parametrize("relayed", [False, True], ids=["direct", "relayed"])
def test_a_grant_to_another_offices_department_is_refused_before_anything_is_sent(
    consent: Consent, world, ledger: Ledger, orgs: Organisations, relayed: bool
) -> None:  # type: ignore[no-untyped-def]
    """Regression: the API let a resident grant to a department of another office."""
    department = _other_office_department(orgs)
    resident = ledger.address_of(world.resident)
    nonce = ledger.contract("ConsentRegistry").functions.nonces(resident).call()
    sent = _outbox_size(ledger)

    with pytest.raises(InputError) as caught:
        _issue(consent, world, department=department, relayer=world.grid_worker if relayed else None)

    assert caught.value.field == "department"
    message = str(caught.value)
    assert "another office (office-b)" in message and "committee belongs to office-a" in message
    assert _outbox_size(ledger) == sent  # nothing signed into the outbox, nothing sent
    assert ledger.contract("ConsentRegistry").functions.nonces(resident).call() == nonce
    assert consent.list(resident=world.resident) == []
    # the resident's own office's departments still take grants, both ways
    grant_id, _ = _issue(consent, world, department=world.police, relayer=world.grid_worker if relayed else None)
    assert consent.show(grant_id).department == to_hex(org_id(world.police))


def test_the_office_rule_is_decided_from_the_chain_not_the_tables(
    consent: Consent, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    """Someone who edits the indexed organisations to put office-b's department under
    office-a does not get the grant past the library: it asks the chain."""
    department = _other_office_department(orgs)
    with ledger.store.session() as session, session.begin():
        session.execute(
            update(Organisation).where(Organisation.org_id == to_hex(org_id(department)))
            .values(parent_id=to_hex(org_id(world.office)))
        )  # fmt: skip

    with pytest.raises(InputError) as caught:
        _issue(consent, world, department=department)

    assert caught.value.field == "department" and "office-b" in str(caught.value)


def test_the_contract_refusal_of_another_office_is_decoded(
    consent: Consent, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    """Past the library's own check (a call built by hand), the outbox's simulation refuses
    with the contract's error, decoded with its arguments, and writes nothing."""
    department = org_id(_other_office_department(orgs))
    now = int(ledger.w3.eth.get_block("latest")["timestamp"])
    fields = (os.urandom(32), department, 1 << int(Category.HEALTH), 2, 1, now, now + YEAR, os.urandom(32))
    sent = _outbox_size(ledger)

    with pytest.raises(ContractRevert) as caught:
        ledger.submit(ledger.account(world.resident), consent.calls.issue(fields))

    assert caught.value.name == "ConsentRegistryOtherOffice"
    assert caught.value.args_by_name == {
        "department": to_hex(department),
        "departmentOffice": to_hex(org_id(world.other_office)),
        "residentOffice": to_hex(org_id(world.office)),
    }
    assert _outbox_size(ledger) == sent

"""The account card's queries on a real store: a complete account, and every record that may be
missing in field data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from centinela.data.account_card import (
    HistoryScope,
    account_history,
    account_notes,
    add_account_note,
    load_account_card,
)
from centinela.data.alarm_actions import ActionRefused
from centinela.data.records import EventRecord
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from tests.account_seed import DAYS_OVERDUE, GRACE_DAYS, seed_full_account
from tests.helpers import add_monitored_customer

TODAY = date(2026, 6, 10)


def burglary(account: str | None, zone: str = "002", receiver: str | None = None) -> Signal:
    return Signal(protocol="ADM-CID", raw=f"{account}|1130", account=account, receiver=receiver,
                  code="130", qualifier="1", zone=zone, partition="01")


async def record(store: Store, signal: Signal) -> EventRecord:
    (event,) = await store.record([signal])
    return event


async def test_complete_account_loads_every_part(store: Store) -> None:
    seeded = await seed_full_account(store, "2201", "Clínica San Rafael", TODAY)
    event = await record(store, burglary("2201"))

    card = await load_account_card(store.reader, event, TODAY)

    assert card.account_number == "2201"
    assert card.account is not None and card.account.id == seeded.account_id
    assert card.account.location == "Planta baja, consultorios 1-4"
    assert card.account.instructions is not None and card.account.instructions.startswith("1. Llamar")
    assert card.customer is not None and card.customer.name == "Clínica San Rafael"
    assert card.customer.phone == "02 245 6789"
    assert [zone.number for zone in card.zones] == ["1", "2", "9", "10"]
    assert [(c.position, c.name, c.phone) for c in card.contacts] == [
        (1, "Dra. Ana Ruiz", "099 111 1111"), (2, "Luis Paz", "099 222 2222"), (3, "Carlos Mena", "099 333 3333")]
    alarm, internet = card.services
    assert (alarm.ref, alarm.state, alarm.monitors_account, alarm.days_left) == ("K-100", "active", True, None)
    assert (internet.ref, internet.plan_name, internet.state, internet.monitors_account) == (
        "K-101", "Internet 20 Mbps", "grace", False)
    assert internet.days_left == GRACE_DAYS + 1 - DAYS_OVERDUE
    assert internet.cut_on == TODAY + timedelta(days=internet.days_left)
    assert card.notes == ()
    assert card.history == HistoryScope("2201", seeded.account_id)


async def test_event_without_account_number_loads_empty(store: Store) -> None:
    event = await record(store, burglary(None))

    card = await load_account_card(store.reader, event, TODAY)

    assert card.account_number is None
    assert (card.account, card.customer, card.history) == (None, None, None)
    assert card.zones == card.contacts == card.services == card.notes == ()


async def test_unknown_account_loads_with_its_history(store: Store) -> None:
    first = await record(store, burglary("9999"))
    second = await record(store, burglary("9999", zone="005"))
    await record(store, burglary("1111"))

    card = await load_account_card(store.reader, second, TODAY)

    assert card.account_number == "9999"
    assert (card.account, card.customer) == (None, None)
    assert card.history == HistoryScope("9999", None)
    history = await account_history(store.reader, card.history, 10)
    assert [event.id for event in history] == [second.id, first.id]


async def test_account_with_nothing_but_its_number(store: Store) -> None:
    async with store.transaction() as db:
        account_id = (await db.execute("INSERT INTO alarm_accounts (account_number) VALUES ('3300')")).lastrowid
    event = await record(store, burglary("3300"))
    assert event.alarm_account_id == account_id

    card = await load_account_card(store.reader, event, TODAY)

    assert card.account is not None and card.account.id == account_id
    assert (card.account.location, card.account.instructions, card.customer) == (None, None, None)
    assert card.zones == card.contacts == card.services == card.notes == ()


async def test_contract_without_plan_or_invoices_shows_its_state_alone(store: Store) -> None:
    account_id = await add_monitored_customer(store, "4400", "Ferretería Loja", contract_state="suspended")
    event = await record(store, burglary("4400"))
    assert event.service_suspended

    card = await load_account_card(store.reader, event, TODAY)

    assert card.customer is not None and card.customer.name == "Ferretería Loja"
    (service,) = card.services
    assert (service.state, service.monitors_account, service.plan_name) == ("suspended", True, None)
    assert (service.days_left, service.cut_on) == (None, None)
    assert card.history == HistoryScope("4400", account_id)


async def test_account_registered_after_its_events_is_found_by_number(store: Store) -> None:
    event = await record(store, burglary("5500", receiver="R1"))
    assert event.unknown_account
    account_id = await add_monitored_customer(store, "5500", "Panadería Sur")

    card = await load_account_card(store.reader, event, TODAY)

    assert card.account is not None and card.account.id == account_id
    assert card.customer is not None and card.customer.name == "Panadería Sur"
    assert card.history is not None and card.history.includes(event)


async def test_contract_holder_is_the_customer_shown(store: Store) -> None:
    account_id = await add_monitored_customer(store, "6600", "Antiguo Dueño", contract_state=None)
    async with store.transaction() as db:
        holder = (await db.execute("INSERT INTO customers (name) VALUES ('Nuevo Titular')")).lastrowid
        await db.execute("INSERT INTO contracts (customer_id, service_kind, state, alarm_account_id)"
                         " VALUES (?, 'alarm', 'active', ?)", (holder, account_id))
    event = await record(store, burglary("6600"))

    card = await load_account_card(store.reader, event, TODAY)

    assert card.customer is not None and card.customer.name == "Nuevo Titular"


async def test_history_pages_back_and_leaves_other_registrations_out(store: Store) -> None:
    await add_monitored_customer(store, "7700", "Sede Norte", receiver="R1")
    other = await add_monitored_customer(store, "7700", "Sede Sur", receiver="R2")
    ours = [await record(store, burglary("7700", zone=f"{n:03d}", receiver="R1")) for n in range(5)]
    theirs = await record(store, burglary("7700", receiver="R2"))
    assert theirs.alarm_account_id == other

    card = await load_account_card(store.reader, ours[-1], TODAY)
    assert card.history is not None
    first = await account_history(store.reader, card.history, 3)
    rest = await account_history(store.reader, card.history, 3, before_id=first[-1].id)

    assert [event.id for event in first + rest] == [event.id for event in reversed(ours)]
    assert not card.history.includes(theirs)


async def test_note_is_stored_with_operator_and_audited(store: Store) -> None:
    account_id = await add_monitored_customer(store, "8800", "Óptica Centro")
    async with store.transaction() as db:
        await add_account_note(db, account_id, "maria", "  Cliente pide llamar antes de las 22h  ")
    async with store.transaction() as db:
        await add_account_note(db, account_id, "pedro", "Cambió la clave")

    notes = await account_notes(store.reader, account_id)

    assert [(note.operator, note.text) for note in notes] == [
        ("pedro", "Cambió la clave"), ("maria", "Cliente pide llamar antes de las 22h")]
    async with store.reader.execute(
        "SELECT actor, action, entity_id FROM audit_log WHERE action = 'account.note' ORDER BY id"
    ) as cur:
        assert [tuple(row) for row in await cur.fetchall()] == [
            ("maria", "account.note", str(account_id)), ("pedro", "account.note", str(account_id))]


async def test_empty_note_and_missing_account_are_refused(store: Store) -> None:
    account_id = await add_monitored_customer(store, "8801", "Kiosco")
    with pytest.raises(ActionRefused, match="vacía"):
        async with store.transaction() as db:
            await add_account_note(db, account_id, "maria", "   ")
    with pytest.raises(ActionRefused, match="No existe"):
        async with store.transaction() as db:
            await add_account_note(db, account_id + 100, "maria", "hola")
    assert await account_notes(store.reader, account_id) == ()

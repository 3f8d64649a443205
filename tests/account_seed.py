"""A fully described monitored account (customer, location, zones, call list, action plan, a
monitoring contract and an internet contract in grace) written through SQL, for the account card
tests and for trying the card by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from centinela.billing.periods import Cycle, period_starting
from centinela.data.settings import set_setting
from centinela.data.store import Store

GRACE_DAYS = 5
DAYS_OVERDUE = 2
"""The internet invoice fell due this many days before ``today``: GRACE_DAYS + 1 - DAYS_OVERDUE
days of grace are left."""
INSTRUCTIONS = (
    "1. Llamar al primer contacto y pedir la clave.\n"
    "2. Sin respuesta: despachar patrulla.\n"
    "3. Incendio: llamar a bomberos (102) antes que a los contactos."
)


@dataclass(frozen=True, slots=True)
class SeededAccount:
    account_id: int
    customer_id: int
    alarm_contract_id: int
    internet_contract_id: int


async def seed_full_account(store: Store, number: str, customer: str, today: date) -> SeededAccount:
    period = period_starting(today.replace(day=1), 1, Cycle.MONTHLY)
    async with store.transaction() as db:
        customer_id = (await db.execute(
            "INSERT INTO customers (ref, name, tax_id, email, phone, mobile, address, city, notes)"
            " VALUES ('C-0042', ?, '1790012345001', 'admin@clinica.example', '02 245 6789', '099 123 4567',"
            " 'Av. Colón 1234 y Amazonas', 'Quito', 'Cliente desde 2019')",
            (customer,),
        )).lastrowid
        account_id = (await db.execute(
            "INSERT INTO alarm_accounts (account_number, customer_id, location, latitude, longitude, device_type,"
            " instructions, notes) VALUES (?, ?, 'Planta baja, consultorios 1-4', -0.2041, -78.4907,"
            " 'DSC PowerSeries Neo', ?, 'Perro en el patio')",
            (number, customer_id, INSTRUCTIONS),
        )).lastrowid
        await db.executemany(
            "INSERT INTO zones (account_id, number, name, kind) VALUES (?, ?, ?, ?)",
            [(account_id, "10", "Bodega", "burglary"), (account_id, "2", "Recepción", "burglary"),
             (account_id, "1", "Puerta principal", "entry"), (account_id, "9", "Detector de humo", "fire")],
        )
        # Inserted out of order: the call list follows position, not insertion.
        await db.executemany(
            "INSERT INTO contacts (account_id, position, name, phone, relation, notes) VALUES (?, ?, ?, ?, ?, ?)",
            [(account_id, 3, "Carlos Mena", "099 333 3333", "Guardia", None),
             (account_id, 1, "Dra. Ana Ruiz", "099 111 1111", "Gerente", "Clave: ROSA"),
             (account_id, 2, "Luis Paz", "099 222 2222", "Administrador", None)],
        )
        alarm_plan = (await db.execute(
            "INSERT INTO plans (name, service_kind, price, currency) VALUES ('Monitoreo 24h', 'alarm', '25.00', 'USD')"
        )).lastrowid
        internet_plan = (await db.execute(
            "INSERT INTO plans (name, service_kind, price, currency) VALUES ('Internet 20 Mbps', 'internet', '30.00', 'USD')"
        )).lastrowid
        contract = (
            "INSERT INTO contracts (ref, customer_id, service_kind, plan_id, anchor_day, current_period_start,"
            " current_period_end, state, alarm_account_id) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)"
        )
        alarm_contract_id = (await db.execute(
            contract, ("K-100", customer_id, "alarm", alarm_plan, period.start.isoformat(), period.end.isoformat(),
                       "active", account_id),
        )).lastrowid
        internet_contract_id = (await db.execute(
            contract, ("K-101", customer_id, "internet", internet_plan, period.start.isoformat(),
                       period.end.isoformat(), "grace", None),
        )).lastrowid
        due = today - timedelta(days=DAYS_OVERDUE)
        await db.execute(
            "INSERT INTO invoices (number, customer_id, invoice_date, due_date, currency, subtotal, total, residual)"
            " VALUES ('F-001', ?, ?, ?, 'USD', '30.00', '30.00', '30.00')",
            (customer_id, (due - timedelta(days=10)).isoformat(), due.isoformat()),
        )
        await set_setting(db, "billing.default_grace_days", GRACE_DAYS, "test")
    assert customer_id and account_id and alarm_contract_id and internet_contract_id
    return SeededAccount(account_id, customer_id, alarm_contract_id, internet_contract_id)

"""Demo mode: fictional monitored customers and simulated panels that talk real DC-09 over TCP.

Lets a newcomer see alarms arrive the moment the console starts. Every demo record carries a
``DEMO-`` reference so it is never mistaken for a real customer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from centinela.data.operators import add_operator, count_operators
from centinela.data.store import Store
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import build_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    ref: str
    name: str
    city: str
    account: str
    location: str
    token: str  # which DC-09 format the simulated panel speaks
    contract_state: str = "active"


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("DEMO-001", "Ferretería La Estrella (demo)", "Medellín", "1001", "Cra 45 #12-30", "ADM-CID"),
    DemoCustomer("DEMO-002", "Panadería San José (demo)", "Quito", "1002", "Av. Amazonas N34-12", "SIA-DCS"),
    DemoCustomer("DEMO-003", "Clínica Dental Sonrisas (demo)", "Lima", "1003", "Jr. Ucayali 455", "ADM-CID"),
    DemoCustomer("DEMO-004", "Residencia Gómez Pérez (demo)", "Guadalajara", "1004", "Calle Hidalgo 210", "SIA-DCS"),
    DemoCustomer("DEMO-005", "Bodega El Porvenir (demo)", "Santiago", "1005", "Los Aromos 1780", "ADM-CID",
                 contract_state="suspended"),
    DemoCustomer("DEMO-006", "Colegio Nuevo Horizonte (demo)", "Bogotá", "1006", "Cl. 80 #20-15", "ADM-CID"),
)
UNREGISTERED_ACCOUNT = "9F99"
"""A panel nobody registered: the console must show it, flagged, rather than drop it."""


async def seed_demo_accounts(store: Store) -> None:
    async with store.transaction() as db:
        for customer in DEMO_CUSTOMERS:
            await db.execute(
                "INSERT INTO customers (ref, name, city, address) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (ref) DO NOTHING",
                (customer.ref, customer.name, customer.city, customer.location),
            )
            await db.execute(
                "INSERT INTO alarm_accounts (account_number, customer_id, location, device_type, instructions,"
                " test_interval_s) SELECT ?, id, ?, 'Panel de demostración', ?, 86400 FROM customers WHERE ref = ?"
                " ON CONFLICT DO NOTHING",
                (customer.account, customer.location,
                 "Llamar al contacto principal; si no responde, despachar patrulla.", customer.ref),
            )
            await db.execute(
                "INSERT INTO contracts (ref, customer_id, service_kind, price, currency, billing_cycle, state,"
                " alarm_account_id)"
                " SELECT ?, c.id, 'alarm', '30.00', 'USD', 'monthly', ?, a.id"
                " FROM customers c JOIN alarm_accounts a ON a.customer_id = c.id"
                " WHERE c.ref = ? AND a.account_number = ?"
                " ON CONFLICT (ref) DO NOTHING",
                (f"{customer.ref}-MON", customer.contract_state, customer.ref, customer.account),
            )


DEMO_OPERATOR = ("demo", "demo1234")


async def seed_demo_operator(store: Store) -> bool:
    """A demo admin, only while no operator exists: a newcomer can log in at once, and a real
    installation (which has its own operators) never gets it."""
    async with store.transaction() as db:
        if await count_operators(db):
            return False
        await add_operator(db, DEMO_OPERATOR[0], DEMO_OPERATOR[1], role="admin", full_name="Operador de demostración")
    return True


# (weight, Contact ID code, qualifier, number, SIA code) — mostly routine traffic, now and then
# an alarm, as a real station sees it.
_TRAFFIC: tuple[tuple[int, str, str, str, str], ...] = (
    (30, "602", "1", "000", "RP"),   # periodic test
    (20, "401", "1", "003", "OP"),   # opening by user 3
    (20, "401", "3", "003", "CL"),   # closing by user 3
    (8, "130", "1", "004", "BA"),    # burglary zone 4
    (8, "130", "3", "004", "BR"),    # burglary restore
    (5, "301", "1", "000", "AT"),    # AC loss
    (3, "110", "1", "002", "FA"),    # fire zone 2
    (3, "120", "1", "001", "PA"),    # panic
    (3, "100", "1", "005", "MA"),    # medical
)


def _data_block(token: str, account: str, code: str, qualifier: str, number: str, sia_code: str) -> str:
    if token == "SIA-DCS":
        return f"#{account}|Nri1/{sia_code}{number}"
    return f"#{account}|{qualifier}{code} 01 {number}"


@dataclass(slots=True)
class DemoPanels:
    host: str
    port: int
    count: int = 6
    interval: float = 4.0

    async def run(self) -> None:
        panels = [(c.account, c.token) for c in DEMO_CUSTOMERS[: self.count]]
        panels.append((UNREGISTERED_ACCOUNT, "ADM-CID"))
        await asyncio.gather(*(self._panel(account, token, n) for n, (account, token) in enumerate(panels)))

    async def _panel(self, account: str, token: str, seed: int) -> None:
        rng = random.Random(seed)
        weights = [w for w, *_ in _TRAFFIC]
        sequence = 0
        # The unregistered panel speaks rarely, like a mistyped account would.
        slowdown = 6 if account == UNREGISTERED_ACCOUNT else 1
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                log.warning("demo panel %s cannot connect: %s", account, exc)
                await asyncio.sleep(5)
                continue
            try:
                while True:
                    _, code, qualifier, number, sia_code = rng.choices(_TRAFFIC, weights)[0]
                    sequence = sequence % 9999 + 1
                    frame = build_frame(
                        token, f"{sequence:04d}", account=account,
                        data=_data_block(token, account, code, qualifier, number, sia_code),
                        timestamp=utcnow(),
                    )
                    writer.write(frame)
                    await writer.drain()
                    await asyncio.wait_for(reader.readuntil(b"\r"), timeout=10)
                    await asyncio.sleep(rng.expovariate(1 / (self.interval * slowdown)))
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                log.info("demo panel %s link lost (%s); reconnecting", account, exc)
            finally:
                writer.close()
            await asyncio.sleep(1)

"""The Odoo sync worker: drains the outbox to Odoo, pulls Odoo's changes, and says how it went.

One cycle (``sync_once``): push the outbox in order, pull customers, contracts, invoice payment
states and payments (``data/odoo_pull.py``), now and then look for records deleted in Odoo, and
record the outcome. ``run()`` repeats it every ``interval`` seconds (sooner after ``wake()``), waiting
longer while Odoo is unreachable, for as long as the owner process runs.

Order and retries. The outbox is drained oldest first and an item that could not reach Odoo
(``OdooUnavailable``) stops the drain: it waits its exponential backoff (``outbox.backoff``) and
nothing behind it overtakes it, so a reconnection never reaches Odoo before the suspension it undoes.
When the pull of the same cycle shows Odoo answering again, the queue is retried at once instead of
waiting out the backoff. An item Odoo refuses for its data is parked with the reason (``centinela
sync parked``, ``centinela sync retry ID``) and the queue moves on. Consecutive invoices go in one
batch of a few calls (search, create, post); a batch Odoo refuses is retried item by item so only
the bad invoice is parked. Items are marked done only after Odoo confirmed them, in their own
transaction: killed between the two, the worker pushes them again, which the invoice and task
pushes detect (see ``data/odoo_push.py``).

Settings are read from the store (``odoo.*``, over the bootstrap ``[odoo]``; see
``data/settings_rules.odoo_from_saved``) at every cycle, so enabling Odoo or changing its address in
the console takes effect at the next cycle without a restart. Only one process syncs a data folder
(``SyncLock``): the console's owner process, or ``centinela sync`` from the shell.

Status. ``status`` (and ``status_hub`` for subscribers) gives the status bar the link (connected,
unreachable, refused, misconfigured, off, standby), the last success, the last error and the
backlog; the same is kept in ``odoo_sync_state`` so every console and ``centinela sync status`` see it.

Billing calls ``refresh_payments(customer_ids)`` right before a cut: it pulls those customers' invoice
payment states and payments now, and returns ``fresh=False`` (never raises) when Odoo cannot answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import aiosqlite
from centinela.data import outbox
from centinela.data.audit import audit
from centinela.data.odoo_gateway import (
    OdooAuthError,
    OdooError,
    OdooSettings,
    OdooUnavailable,
    open_gateway,
)
from centinela.data.odoo_link import OdooLink
from centinela.data.odoo_mappings import CONTRACT_MAPS, PARTNERS, PAYMENTS
from centinela.data.odoo_pull import BATCH_SIZE, PullCounts, Puller
from centinela.data.odoo_push import Outcome, Pusher, batchable
from centinela.data.outbox import OutboxItem
from centinela.data.ownership import ReceiverLock
from centinela.data.pubsub import Hub
from centinela.data.settings import settings_with_prefix
from centinela.data.settings_rules import odoo_from_saved
from centinela.data.store import Store
from centinela.data.timeutil import from_db, to_db, utcnow

from centinela.config import Config

log = logging.getLogger(__name__)

Link = Literal["unknown", "off", "standby", "connected", "unreachable", "refused", "misconfigured"]

SYNC_LOCK_FILENAME = "odoo-sync.lock"
INTERVAL_S = 60.0
PUSH_BATCH = 100
MAX_WAIT_S = 900.0
_ANY_TIME = datetime(9999, 1, 1, tzinfo=UTC)


class SyncLock(ReceiverLock):
    """Only one process pulls and drains the outbox of a data folder (the same ``flock`` as the
    receiver's, on its own file)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, SYNC_LOCK_FILENAME)

    def holder(self) -> str:
        """Who holds the lock, said for a person."""
        owner = self.owner()
        return f"another process syncs this data folder ({owner.describe() if owner else 'unknown'})"


class SyncOff(Exception):
    """Odoo is not enabled ("off"), or not configured enough to try ("misconfigured")."""

    def __init__(self, message: str, link: Link = "misconfigured") -> None:
        super().__init__(message)
        self.link: Link = link


@dataclass(frozen=True, slots=True)
class SyncStatus:
    link: Link
    pending: int = 0
    parked: int = 0
    oldest_pending_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    server_version: str | None = None
    updated_at: datetime | None = None

    @property
    def bar(self) -> tuple[Literal["off", "ok", "backlog", "down"], int]:
        """For the status bar: the state to show and the items waiting (pending and parked)."""
        waiting = self.pending + self.parked
        if self.link in ("off", "unknown"):
            return "off", waiting
        if self.link in ("unreachable", "refused", "misconfigured"):
            return "down", waiting
        return ("backlog" if waiting else "ok"), waiting


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one cycle did."""

    pushed: int = 0
    parked: int = 0
    pulled: PullCounts | None = None  # None: the pull did not run to its end
    error: str | None = None
    calls: int = 0  # RPC calls the cycle made


@dataclass(frozen=True, slots=True)
class PaymentRefresh:
    """``fresh``: the store holds these customers' payments as current as they can be (Odoo answered,
    or Odoo sync is off and the store is the only record); False: cutting them now would be blind."""

    fresh: bool
    from_odoo: bool = False
    invoices: int = 0  # invoices and payments Odoo sent back
    payments: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Session:
    """One configured connection: the settings it was made for and what works through it."""

    settings: OdooSettings
    mapping: str
    fsm_project: str
    link: OdooLink
    puller: Puller
    pusher: Pusher
    server_version: str


async def odoo_enabled(store: Store, config: Config) -> bool:
    """Whether Odoo sync is on, as the settings screen (over the configuration file) says."""
    return odoo_from_saved(await settings_with_prefix(store.reader, "odoo"), config.odoo).enabled


async def read_sync_status(store: Store) -> SyncStatus:
    """The last recorded outcome and the current backlog, as any process on this data folder sees it."""
    backlog = await outbox.backlog(store.reader)
    async with store.reader.execute(
        "SELECT link, server_version, last_success_at, last_error, last_error_at, updated_at FROM odoo_sync_state"
    ) as cur:
        row = await cur.fetchone()
    status = SyncStatus("unknown", backlog.pending, backlog.parked, backlog.oldest_pending)
    if row is None:
        return status
    link, version, success, error, error_at, updated = row
    return replace(status, link=link, server_version=version, last_success_at=from_db(success), last_error=error,
                   last_error_at=from_db(error_at), updated_at=from_db(updated))


@dataclass(frozen=True, slots=True)
class ParkedItem:
    id: int
    created_at: datetime
    operation: str
    payload: dict[str, object]
    attempts: int
    error: str | None


async def parked_items(db: aiosqlite.Connection) -> list[ParkedItem]:
    """Odoo pushes set aside for an admin, oldest first."""
    async with db.execute(
        "SELECT id, created_at, operation, payload, attempts, last_error FROM outbox"
        " WHERE state = 'parked' AND target = 'odoo' ORDER BY id"
    ) as cur:
        rows = await cur.fetchall()
    items = []
    for item_id, created, operation, payload, attempts, error in rows:
        created_at = from_db(created)
        assert created_at is not None  # NOT NULL in the schema
        items.append(ParkedItem(item_id, created_at, operation, json.loads(payload), attempts, error))
    return items


async def retry_parked(db: aiosqlite.Connection, item_id: int, actor: str) -> None:
    """Queue a parked item again (the admin fixed its data); LookupError when it is not parked."""
    async with db.execute("SELECT state FROM outbox WHERE id = ? AND target = 'odoo'", (item_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise LookupError(f"there is no Odoo outbox item {item_id}")
    if row[0] != "parked":
        raise LookupError(f"outbox item {item_id} is not parked (it is {row[0]})")
    await outbox.requeue(db, item_id)
    await audit(db, actor, "outbox.requeue", "outbox", item_id)


class SyncWorker:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        lock: SyncLock | None = None,
        interval: float = INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        push_batch: int = PUSH_BATCH,
        overlap: timedelta = timedelta(minutes=5),
        removal_check_every: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self.lock = lock or SyncLock(store.path.parent)
        self.interval = interval
        self.batch_size = batch_size
        self.push_batch = push_batch
        self.overlap = overlap
        self.removal_check_every = removal_check_every
        self.clock = clock
        self.status_hub: Hub[SyncStatus] = Hub()
        self._status = SyncStatus("unknown")
        self._session: _Session | None = None
        self._session_lock = asyncio.Lock()
        self._cycle_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._failures = 0

    @property
    def status(self) -> SyncStatus:
        return self._status

    def wake(self) -> None:
        """Run the next cycle now (after a billing run, or when the Odoo settings changed)."""
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------------

    async def run(self, on_cycle: Callable[[SyncReport], None] | None = None) -> None:
        """Sync until cancelled; stands by while another process syncs this data folder.
        ``on_cycle`` hears each cycle's report (the shell command prints it)."""
        while not self.lock.try_acquire():
            await self._publish(replace(await read_sync_status(self.store), link="standby",
                                        last_error=self.lock.holder()))
            await self._sleep(self.interval)
        try:
            while True:
                try:
                    report = await self.sync_once()
                    if on_cycle is not None:
                        on_cycle(report)
                except Exception:  # noqa: BLE001 - the worker must outlive one failed cycle
                    log.exception("Odoo sync cycle failed")
                    self._failures += 1
                await self._sleep(self._next_wait())
        finally:
            self.lock.release()

    def _next_wait(self) -> float:
        if not self._failures:
            return self.interval
        return min(MAX_WAIT_S, max(self.interval, outbox.backoff(self._failures, base=self.interval).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    # -- one cycle -----------------------------------------------------------------------------------

    async def sync_once(self, *, check_removed: bool | None = None) -> SyncReport:
        """Push, pull and record the outcome. Odoo's failures end up in the report and the status,
        not as exceptions. ``check_removed`` None: when the last check is older than
        ``removal_check_every``."""
        async with self._cycle_lock:
            try:
                session = await self._open()
            except SyncOff as exc:
                await self._record(exc.link, error=str(exc))
                return SyncReport(error=str(exc))
            except OdooError as exc:
                return await self._failed(exc, SyncReport())
            calls_before = session.link.calls
            pushed = parked = 0
            try:
                pushed, parked, waiting = await self._drain(session, force=False)
                pulled = await session.puller.pull()
                if waiting:  # Odoo answers again: do not wait out the backoff of the queue's head
                    more_pushed, more_parked, _ = await self._drain(session, force=True)
                    pushed, parked = pushed + more_pushed, parked + more_parked
                if await self._removal_check_due(session, check_removed):
                    pulled.removed = await session.puller.check_removed()
            except OdooError as exc:
                report = SyncReport(pushed, parked, None, str(exc), session.link.calls - calls_before)
                return await self._failed(exc, report)
            self._failures = 0
            await self._record("connected", version=session.server_version, success=True)
            return SyncReport(pushed, parked, pulled, None, session.link.calls - calls_before)

    async def refresh_payments(self, customer_ids: Iterable[int]) -> PaymentRefresh:
        """Those customers' invoice payment states and payments, from Odoo, now; never raises."""
        try:
            session = await self._open()
            counts = await session.puller.refresh_customers(customer_ids)
        except SyncOff as exc:
            return PaymentRefresh(exc.link == "off", error=str(exc))
        except OdooError as exc:
            log.warning("payment refresh from Odoo failed: %s", exc)
            return PaymentRefresh(False, error=str(exc))
        return PaymentRefresh(True, True, counts.invoices, counts.payments)

    async def _failed(self, exc: OdooError, report: SyncReport) -> SyncReport:
        self._failures += 1
        if isinstance(exc, OdooUnavailable):
            link: Link = "unreachable"
        elif isinstance(exc, OdooAuthError):
            link = "refused"
            self._session = None  # fixed credentials need a new gateway
        else:
            link = "misconfigured"
            self._session = None
        log.warning("Odoo sync: %s: %s", link, exc)
        await self._record(link, error=str(exc))
        return replace(report, error=str(exc))

    async def _removal_check_due(self, session: _Session, wanted: bool | None) -> bool:
        if wanted is not None:
            return wanted
        async with self.store.reader.execute(
            "SELECT checked_at FROM odoo_cursors WHERE model = ?", (session.puller.contracts.model,)
        ) as cur:
            row = await cur.fetchone()
        checked = row[0] if row else None
        last = from_db(checked)
        if last is None:
            # The first pull brought everything there is: nothing can have been deleted since.
            async with self.store.transaction() as db:
                for model in (PARTNERS.model, session.puller.contracts.model, PAYMENTS.model):
                    await db.execute(
                        "INSERT INTO odoo_cursors (model, checked_at) VALUES (?, ?)"
                        " ON CONFLICT (model) DO UPDATE SET checked_at = coalesce(checked_at, excluded.checked_at)",
                        (model, to_db(self.clock())),
                    )
            return False
        return self.clock() - last >= self.removal_check_every

    # -- the connection ------------------------------------------------------------------------------

    async def _open(self) -> _Session:
        """The session for the current settings, made anew when they changed."""
        saved = await settings_with_prefix(self.store.reader, "odoo")
        values = odoo_from_saved(saved, self.config.odoo)
        if not values.enabled:
            raise SyncOff("Odoo sync is disabled (odoo.enabled)", "off")
        missing = [name for name in ("url", "database", "user") if not getattr(values, name)]
        if values.secret is None:
            missing.append("secret")
        if missing:
            raise SyncOff(f"Odoo settings incomplete: {', '.join('odoo.' + name for name in missing)}")
        settings = OdooSettings(values.url, values.database, values.user, values.secret or "",
                                transport=values.transport)
        async with self._session_lock:
            current = self._session
            if current and (current.settings, current.mapping, current.fsm_project) == (
                settings, values.mapping, values.fsm_project
            ):
                return current
            try:
                gateway = await asyncio.to_thread(open_gateway, settings)
            except ValueError as exc:
                raise SyncOff(f"Odoo settings: {exc}") from None
            link = OdooLink(gateway)
            version = await link.version()
            await link.login()
            mapping = CONTRACT_MAPS[values.mapping]
            puller = Puller(link, self.store, mapping, batch_size=self.batch_size, overlap=self.overlap,
                            clock=self.clock)
            pusher = Pusher(link, self.store, mapping, fsm_project=values.fsm_project, language=self.config.language)
            self._session = _Session(settings, values.mapping, values.fsm_project, link, puller, pusher,
                                     version.server_version)
            log.info("Odoo %s at %s (%s mapping)", version.server_version, settings.url, values.mapping)
            return self._session

    # -- the outbox ----------------------------------------------------------------------------------

    async def _drain(self, session: _Session, *, force: bool) -> tuple[int, int, bool]:
        """Push due items in order; returns (pushed, parked, head waiting for its retry time).
        ``force``: retry the head now, whatever its backoff says."""
        pushed = parked = 0
        while True:
            items = await outbox.due(self.store.reader, limit=self.push_batch, now=_ANY_TIME if force else self.clock())
            head = await self._head()
            if not items or head is None:
                return pushed, parked, False
            if items[0].id != head:
                return pushed, parked, True
            group = _leading_group(items)
            try:
                outcomes = await session.pusher.push(group)
            except OdooUnavailable as exc:
                async with self.store.transaction() as db:
                    await outbox.mark_retry(db, group[0].id, str(exc), now=self.clock())
                raise
            except OdooError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug with one item must not stop the queue
                log.exception("pushing outbox item %d failed", group[0].id)
                outcomes = [Outcome(group[0].id, f"internal error: {exc!r}")]
            done, refused = await self._settle(outcomes)
            pushed, parked = pushed + done, parked + refused

    async def _head(self) -> int | None:
        async with self.store.reader.execute(
            "SELECT min(id) FROM outbox WHERE state = 'pending' AND target = 'odoo'"
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def _settle(self, outcomes: Sequence[Outcome]) -> tuple[int, int]:
        async with self.store.transaction() as db:
            for outcome in outcomes:
                if outcome.error is not None:
                    log.warning("outbox item %d parked: %s", outcome.item_id, outcome.error)
                    await outbox.park(db, outcome.item_id, outcome.error)
                    continue
                await outbox.mark_done(db, outcome.item_id)
                if outcome.invoice is not None:
                    await db.execute("UPDATE invoices SET odoo_id = ? WHERE id = ?", outcome.invoice[::-1])
        refused = sum(outcome.error is not None for outcome in outcomes)
        return len(outcomes) - refused, refused

    # -- status --------------------------------------------------------------------------------------

    async def _record(self, link: Link, *, version: str | None = None, success: bool = False,
                      error: str | None = None) -> None:
        if success or (link, error) != (self._status.link, self._status.last_error):
            await self._write_state(link, version, success, error)
        # else the same failure again (Odoo off for weeks): nothing new to write, but the backlog moves
        await self._publish(await read_sync_status(self.store))

    async def _write_state(self, link: Link, version: str | None, success: bool, error: str | None) -> None:
        now = to_db(self.clock())
        async with self.store.transaction() as db:
            await db.execute(
                "INSERT INTO odoo_sync_state (id, link, server_version, last_success_at, last_error, last_error_at,"
                " updated_at) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET link = excluded.link,"
                " server_version = coalesce(excluded.server_version, server_version),"
                " last_success_at = coalesce(excluded.last_success_at, last_success_at),"
                " last_error = CASE WHEN excluded.link = 'connected' THEN NULL ELSE excluded.last_error END,"
                " last_error_at = coalesce(excluded.last_error_at, last_error_at), updated_at = excluded.updated_at",
                (link, version, now if success else None, error, None if error is None else now, now),
            )

    async def _publish(self, status: SyncStatus) -> None:
        self._status = status
        self.status_hub.publish(status)


def _leading_group(items: Sequence[OutboxItem]) -> list[OutboxItem]:
    """The first item, with the items right behind it that go to Odoo in the same batch."""
    first = items[0]
    if not batchable(first.operation):
        return [first]
    group = [first]
    for item in items[1:]:
        if item.operation != first.operation:
            break
        group.append(item)
    return group

"""The service both front-ends host: store, receivers, demo panels. The TUI and ``--headless``
differ only in how they show what this produces."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field

from centinela.billing.worker import BillingScheduler, BillingWorker
from centinela.config import Config, ReceiverConfig, SerialPortConfig, parse_endpoint
from centinela.data.accounts import AccountKeys
from centinela.data.change_feed import ChangeFeed
from centinela.data.event_batch import LinkTest
from centinela.data.odoo_sync import SyncWorker, odoo_enabled, read_sync_status
from centinela.data.ownership import ReceiverLock
from centinela.data.settings import settings_with_prefix
from centinela.data.settings_rules import receivers_from_saved
from centinela.data.store import Store
from centinela.data.supervision import late_to_test_sweep
from centinela.data.timeutil import utcnow
from centinela.receiver.dc09 import FrameReceived
from centinela.receiver.decode import signals_from_frame
from centinela.receiver.serial_link import SerialListener
from centinela.receiver.signal import Signal
from centinela.receiver.stats import ReceiverStats
from centinela.receiver.supervision import link_signal
from centinela.receiver.tcp import Committed, TcpListener
from centinela.receiver.udp import UdpListener

Listener = TcpListener | UdpListener | SerialListener

log = logging.getLogger(__name__)

KEY_REFRESH_SECONDS = 2.0
SYNC_STATUS_SECONDS = 5.0


@dataclass(slots=True)
class ListenerState:
    label: str
    up: bool
    error: str | None = None


@dataclass(slots=True)
class Runtime:
    config: Config
    demo: bool = False
    store: Store | None = None
    stats: ReceiverStats = field(default_factory=ReceiverStats)
    keys: AccountKeys = field(default_factory=AccountKeys)
    listeners: list[Listener] = field(default_factory=list)
    listener_states: list[ListenerState] = field(default_factory=list)
    feed: ChangeFeed | None = None
    lock: ReceiverLock | None = None
    takeover_interval: float = 2.0
    sync: SyncWorker | None = None
    billing: BillingWorker | None = None
    _sync_bar: tuple[str, int] = ("off", 0)
    fixed_listeners: bool = False
    """Listen options came from the command line: saved listener settings do not apply."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Open the store and follow its changes; receive signals if no other process does,
        otherwise stand by and take over when that process goes away."""
        self.store = await Store.open(self.config.data_dir)
        # Every console can act on billing (a payment, a manual cut); only the owner schedules it.
        store = self.store
        self.billing = BillingWorker(store, odoo_is_master=lambda: odoo_enabled(store, self.config))
        self.feed = ChangeFeed(self.store)
        self.feed.settings_listeners.append(self._settings_changed)
        # Primed before start() returns: whatever commits from now on is published.
        await self.feed.prime()
        self.lock = ReceiverLock(self.config.data_dir)
        self._spawn(self.feed.run(), "change-feed")
        self._spawn(self._watch_sync(), "sync-state")
        if self.lock.try_acquire():
            await self._become_owner()
        else:
            owner = self.lock.owner()
            log.info("receiver owned by %s; standing by", owner.describe() if owner else "another process")
            self._spawn(self._stand_by(), "standby")

    def sync_state(self) -> tuple[str, int]:
        """Odoo sync for the status bar: ("off" | "ok" | "backlog" | "down", items queued)."""
        if self.sync is not None:
            return self.sync.status.bar
        return self._sync_bar

    async def _watch_sync(self) -> None:
        """A console that does not run the sync reads how it goes from the store."""
        assert self.store is not None
        while self.sync is None:
            try:
                self._sync_bar = (await read_sync_status(self.store)).bar
            except Exception:  # noqa: BLE001 - the status bar can wait for the next try
                log.exception("could not read the Odoo sync state")
            await asyncio.sleep(SYNC_STATUS_SECONDS)

    @property
    def is_owner(self) -> bool:
        return self.lock is not None and self.lock.held

    async def _stand_by(self) -> None:
        while not self.lock or not self.lock.try_acquire():
            await asyncio.sleep(self.takeover_interval)
        log.warning("the receiver's owner went away: this process takes over")
        await self._become_owner()

    def _spawn(self, coroutine: Coroutine[object, object, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def _become_owner(self) -> None:
        assert self.store is not None and self.feed is not None
        self.feed.include_new_events = False
        self.store.start()
        await self.keys.refresh(self.store.reader)
        await self.store.started()  # listen only once what is heard can be committed
        await self._start_listeners()
        self._spawn(self._supervise(), "supervision")
        self._spawn(self._follow_keys(), "account-keys")
        self.sync = SyncWorker(self.store, self.config)
        self._spawn(self.sync.run(), "odoo-sync")
        assert self.billing is not None
        # Right before a cut, the customer's payments are read again from Odoo (when it is on).
        self.billing.refresh_payments = self.sync.refresh_payments
        self._spawn(BillingScheduler(self.billing).run(), "billing-scheduler")
        if self.demo:
            await self._start_demo()

    async def _receiver_config(self) -> ReceiverConfig:
        """Listeners as an admin saved them in the console, over the configuration file; listen
        options given on the command line win over both."""
        assert self.store is not None
        if self.fixed_listeners:
            return self.config.receiver
        saved = await settings_with_prefix(self.store.reader, "receiver")
        return receivers_from_saved(saved, self.config.receiver)

    async def _start_listeners(self) -> None:
        receiver = await self._receiver_config()
        for endpoint in receiver.tcp:
            host, port = parse_endpoint(endpoint)
            await self._listen(
                f"tcp://{endpoint}",
                TcpListener(host, port, self._commit_frame, self.stats, key_for=self.keys,
                            idle_timeout=receiver.idle_timeout),
            )
        for endpoint in receiver.udp:
            host, port = parse_endpoint(endpoint)
            await self._listen(f"udp://{endpoint}", UdpListener(host, port, self._commit_frame, self.stats,
                                                                  key_for=self.keys))
        for port in receiver.serial:
            await self._listen(f"serial://{port.device}", self._serial_listener(port))

    async def _settings_changed(self, kinds: frozenset[str]) -> None:
        """An admin saved settings (in this console or another): apply what this process runs."""
        assert self.store is not None
        if "rules" in kinds:
            await self.store.writer.load_rules(self.store.reader)
        if "receivers" in kinds:
            await self.reload_receivers()
        if "odoo" in kinds and self.sync is not None:
            self.sync.wake()

    async def reload_receivers(self) -> None:
        """Apply listener settings an admin changed, without restarting the console."""
        if not self.is_owner:
            return
        for listener in self.listeners:
            await listener.stop()
        self.listeners.clear()
        self.listener_states.clear()
        await self._start_listeners()

    async def _listen(self, configured: str, listener: Listener) -> None:
        try:
            await listener.start()
        except (OSError, ValueError) as exc:
            # A busy port must not keep the console from starting: operators still need the
            # history, and the status bar shows the listener as down.
            log.error("cannot listen on %s: %s", configured, exc.strerror or exc)
            self.listener_states.append(ListenerState(configured, False, exc.strerror or str(exc)))
            return
        self.listeners.append(listener)
        self.listener_states.append(ListenerState(listener.label, True))

    def _serial_listener(self, port: SerialPortConfig) -> SerialListener:
        label = f"serial://{port.device}"

        async def link_lost() -> None:
            await self._record_system(link_signal(label, lost=True, detail="Sin latido del receptor"))

        async def link_restored() -> None:
            await self._record_system(link_signal(label, lost=False))

        return SerialListener(
            port.device, self._commit_signals, self.stats, baudrate=port.baudrate, bytesize=port.bytesize,
            parity=port.parity, stopbits=port.stopbits, heartbeat_timeout=port.heartbeat_timeout,
            on_link_lost=link_lost, on_link_restored=link_restored,
        )

    async def _record_system(self, signal: Signal) -> None:
        assert self.store is not None
        try:
            await self.store.record([signal])
        except Exception:  # noqa: BLE001 - the log still says what happened
            log.exception("could not store system event %s", signal.code)

    @property
    def tcp_listeners(self) -> list[TcpListener]:
        return [listener for listener in self.listeners if isinstance(listener, TcpListener)]

    async def _start_demo(self) -> None:
        from centinela.demo import DemoPanels, seed_demo_accounts, seed_demo_operator

        assert self.store is not None
        await seed_demo_accounts(self.store)
        await seed_demo_operator(self.store)
        if not self.tcp_listeners:
            log.error("demo panels not started: no TCP listener is up")
            return
        target = self.tcp_listeners[0]
        host = "127.0.0.1" if target.host in ("0.0.0.0", "::", "") else target.host
        panels = DemoPanels(host, target.bound_port, count=self.config.demo.panels, interval=self.config.demo.interval)
        self._spawn(panels.run(), "demo-panels")

    async def _follow_keys(self) -> None:
        """Pick up keys an admin sets (from the console or the shell) within seconds."""
        assert self.store is not None
        while True:
            await asyncio.sleep(KEY_REFRESH_SECONDS)
            try:
                if await self.keys.refresh(self.store.reader):
                    log.debug("account keys reloaded")
            except Exception:  # noqa: BLE001 - keep the old keys, try again next time
                log.exception("could not reload account keys")

    async def _supervise(self) -> None:
        """Look for accounts late to test, for as long as the runtime runs."""
        assert self.store is not None
        while True:
            try:
                late = await self.store.run_writer_job(late_to_test_sweep)
                if late:
                    log.warning("%d account(s) late to test", len(late))
            except Exception:  # noqa: BLE001 - supervision must outlive one failed sweep
                log.exception("late-to-test sweep failed")
            await asyncio.sleep(self.config.receiver.supervision_interval)

    async def _commit_signals(self, signals: list[Signal]) -> None:
        assert self.store is not None
        await self.store.record(signals)
        self.stats.last_signal_at = utcnow()

    def _commit_frame(self, event: FrameReceived, committed: Committed) -> None:
        """Decode and queue for the durable commit; the writer calls ``committed`` (and the
        transport ACKs) right after. No task or future per frame."""
        assert self.store is not None
        frame = event.frame
        signals = signals_from_frame(frame)
        link_test = None if signals else LinkTest(frame.account, frame.receiver, frame.line or None)
        received_at = self.stats.last_signal_at = utcnow()
        self.store.record_with(signals, received_at, link_test=link_test, notify=committed)

    async def stop(self) -> None:
        """Stop taking signals first, then commit what is in flight, then close the store."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for listener in self.listeners:
            await listener.stop()
        self.listeners.clear()
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.lock is not None:
            self.lock.release()

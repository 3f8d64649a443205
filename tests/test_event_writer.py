"""What the event path does inside its transaction: duplicates, restores, last-seen, supervision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from centinela.config import Config, ReceiverConfig
from centinela.data.event_batch import EventBatcher, EventChanges, LinkTest, Submission, connect_writer
from centinela.data.store import Store
from centinela.data.supervision import late_to_test_sweep
from centinela.data.timeutil import to_db, utcnow
from centinela.receiver.dc09 import build_frame
from centinela.receiver.signal import Signal
from centinela.receiver.supervision import link_signal
from centinela.runtime import Runtime
from tests.helpers import add_monitored_customer, exchange


def cid(account: str, sequence: str, qualifier: str, code: str, zone: str = "004") -> Signal:
    return Signal(protocol="ADM-CID", raw=f"{account}|{qualifier}{code}", account=account, sequence=sequence,
                  code=code, qualifier=qualifier, partition="01", zone=zone)


async def actions(store: Store, event_id: int) -> list[tuple[str, str, str]]:
    async with store.reader.execute(
        "SELECT operator, action, note FROM event_actions WHERE event_id = ? ORDER BY id", (event_id,)
    ) as cur:
        return [tuple(row) for row in await cur.fetchall()]


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[Runtime]:
    running = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=["127.0.0.1:0"], supervision_interval=3600)))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_retransmitted_frame_is_acked_again_but_stored_once(runtime: Runtime) -> None:
    assert runtime.store is not None
    port = runtime.listeners[0].bound_port
    frame = build_frame("ADM-CID", "0031", account="1234", data="#1234|1130 01 004", timestamp=utcnow())
    first = await exchange("127.0.0.1", port, frame)
    again = await exchange("127.0.0.1", port, frame + frame, replies=2)
    assert all(b'"ACK"0031' in reply for reply in first + again)
    events = await runtime.store.recent_events(10)
    assert len(events) == 1
    assert runtime.store.writer.duplicates == 2
    # the same sequence with other content is a different signal
    other = build_frame("ADM-CID", "0031", account="1234", data="#1234|1130 01 005", timestamp=utcnow())
    await exchange("127.0.0.1", port, other)
    assert len(await runtime.store.recent_events(10)) == 2


async def test_restore_closes_the_matching_open_alarm(store: Store) -> None:
    await add_monitored_customer(store, "1234", "Óptica Lux")
    with store.events_hub.subscribe() as feed:
        (alarm,) = await store.record([cid("1234", "0001", "1", "130")])
        (other_zone,) = await store.record([cid("1234", "0002", "1", "130", zone="007")])
        (restore,) = await store.record([cid("1234", "0003", "3", "130")])
        changes: list[EventChanges] = feed.drain()
    assert alarm.status == "new" and restore.status == "resolved"
    closed = await store.get_event(alarm.id)
    assert closed is not None and closed.status == "resolved" and closed.resolution == "restored"
    still_open = await store.get_event(other_zone.id)
    assert still_open is not None and still_open.status == "new"
    assert await actions(store, alarm.id) == [("sistema", "auto-resolve", f"Restaurado por el panel (evento #{restore.id})")]
    # subscribers learn about the closed alarm in the same notification as the restore
    assert [e.id for e in changes[-1].added] == [restore.id]
    assert [e.id for e in changes[-1].updated] == [alarm.id]


async def test_sia_restore_uses_catalogue_pairs_and_spares_taken_alarms(store: Store) -> None:
    await add_monitored_customer(store, "AB12", "Bodega Norte")
    sia = lambda seq, code: Signal(protocol="SIA-DCS", raw=code, account="AB12", sequence=seq, code=code, zone="003")  # noqa: E731
    (fire,) = await store.record([sia("0001", "FA")])
    (burglary,) = await store.record([sia("0002", "BA")])
    async with store.transaction() as db:
        await db.execute("UPDATE events SET status = 'acknowledged', taken_by = 'ana' WHERE id = ?", (burglary.id,))
    await store.record([sia("0003", "BR")])
    await store.record([sia("0004", "FR")])
    taken = await store.get_event(burglary.id)
    assert taken is not None and taken.status == "acknowledged"
    assert (await actions(store, burglary.id))[0][1] == "restore-noted"
    fire_now = await store.get_event(fire.id)
    assert fire_now is not None and fire_now.status == "resolved"


async def test_link_test_updates_last_seen_without_storing_an_event(runtime: Runtime) -> None:
    assert runtime.store is not None
    account_id = await add_monitored_customer(runtime.store, "4455", "Taller Ruiz")
    frame = build_frame("NULL", "0001", account="4455", timestamp=utcnow())
    (reply,) = await exchange("127.0.0.1", runtime.listeners[0].bound_port, frame)
    assert b'"ACK"0001' in reply
    assert await runtime.store.recent_events(5) == []
    async with runtime.store.reader.execute("SELECT last_seen_at FROM alarm_accounts WHERE id = ?", (account_id,)) as cur:
        (last_seen,) = await cur.fetchone()
    assert last_seen is not None and last_seen[:10] == to_db(utcnow())[:10]


async def test_late_to_test_is_raised_once_and_cleared_when_the_account_reports(store: Store) -> None:
    account_id = await add_monitored_customer(store, "7788", "Farmacia Sur")
    async with store.transaction() as db:
        await db.execute("UPDATE alarm_accounts SET test_interval_s = 3600, last_seen_at = ? WHERE id = ?",
                         (to_db(utcnow() - timedelta(hours=2)), account_id))
        # a second account that reported recently is not late
        await db.execute("INSERT INTO alarm_accounts (account_number, test_interval_s, last_seen_at) VALUES ('9900', 3600, ?)",
                         (to_db(utcnow()),))
    (late,) = await store.run_writer_job(late_to_test_sweep)
    assert (late.protocol, late.code, late.account, late.priority, late.status) == ("SYSTEM", "LATE", "7788", 4, "new")
    assert late.customer_name == "Farmacia Sur" and not late.unknown_account
    assert await store.run_writer_job(late_to_test_sweep) == []

    await store.record([], link_test=LinkTest("7788", None, None))
    cleared = await store.get_event(late.id)
    assert cleared is not None and cleared.status == "resolved" and cleared.resolution == "reported"
    async with store.reader.execute("SELECT late_since FROM alarm_accounts WHERE id = ?", (account_id,)) as cur:
        assert (await cur.fetchone())[0] is None


async def test_receiver_link_lost_and_restored(store: Store) -> None:
    (lost,) = await store.record([link_signal("serial:///dev/ttyS0", lost=True)])
    (other,) = await store.record([link_signal("serial:///dev/ttyS1", lost=True)])
    assert lost.priority == 2 and lost.status == "new" and not lost.unknown_account
    (back,) = await store.record([link_signal("serial:///dev/ttyS0", lost=False)])
    assert back.status == "resolved"
    assert (await store.get_event(lost.id)).status == "resolved"  # type: ignore[union-attr]
    assert (await store.get_event(other.id)).status == "new"  # type: ignore[union-attr]


async def test_failed_commit_reports_to_every_waiter_and_stores_nothing(store: Store) -> None:
    async with store.transaction() as db:
        # make every insert fail the way a full or broken disk would surface: an SQL error
        await db.execute("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    with pytest.raises(Exception, match="disk says no"):
        await store.record([cid("1111", "0001", "1", "130")])
    async with store.transaction() as db:
        await db.execute("DROP TRIGGER no_events")
    assert await store.recent_events(5) == []
    (stored,) = await store.record([cid("1111", "0001", "1", "130")])
    assert stored.code == "130"


async def test_writer_sees_accounts_changed_by_other_connections(store: Store) -> None:
    (unknown,) = await store.record([cid("5151", "0001", "1", "130")])
    assert unknown.unknown_account and unknown.customer_name is None
    # the writer keeps what it looked up; a commit on another connection must be seen at once
    await add_monitored_customer(store, "5151", "Panadería Luz")
    (known,) = await store.record([cid("5151", "0002", "1", "130")])
    assert not known.unknown_account and known.customer_name == "Panadería Luz"
    async with store.transaction() as db:
        await db.execute("UPDATE customers SET name = 'Panadería La Luz' WHERE name = 'Panadería Luz'")
    (renamed,) = await store.record([cid("5151", "0003", "1", "130")])
    assert renamed.customer_name == "Panadería La Luz"
    # and ids stay right when another connection inserted events in between
    async with store.transaction() as db:
        await db.execute("INSERT INTO events (received_at, protocol, raw, priority) VALUES (?, 'SYSTEM', 'x', 4)",
                         (to_db(utcnow()),))
    (after,) = await store.record([cid("5151", "0004", "1", "130")])
    assert (await store.get_event(after.id)).sequence == "0004"  # type: ignore[union-attr]


async def test_writer_keeps_its_accounts_across_commits_that_leave_them_alone(store: Store) -> None:
    """Another connection's commit (an operator taking an alarm) does not cost the writer a fresh
    lookup of every account it sees; a change to an account, contract or customer does."""
    await add_monitored_customer(store, "5252", "Vidriería Norte")
    await add_monitored_customer(store, "5353", "Librería Sur")
    (first,) = await store.record([cid("5252", "0001", "1", "130")])
    looked_up: list[str] = []
    with closing(connect_writer(store.path)) as db:
        batcher = EventBatcher(db)
        batcher.commit([Submission([cid("5252", "0002", "1", "130")], None, utcnow())])
        db.set_trace_callback(lambda sql: looked_up.append(sql) if "FROM alarm_accounts a" in sql else None)

        async with store.transaction() as other:
            await other.execute("UPDATE events SET status = 'acknowledged' WHERE id = ?", (first.id,))
        ((stored,),) = batcher.commit([Submission([cid("5353", "0001", "1", "130")], None, utcnow())])[0]
        assert stored.customer_name == "Librería Sur" and looked_up == []

        async with store.transaction() as other:
            await other.execute("UPDATE contracts SET state = 'suspended' WHERE alarm_account_id ="
                                " (SELECT id FROM alarm_accounts WHERE account_number = '5353')")
        ((suspended,),) = batcher.commit([Submission([cid("5353", "0002", "1", "130")], None, utcnow())])[0]
        assert suspended.service_suspended and looked_up != []


async def test_last_heard_is_written_once_per_account_and_second(store: Store) -> None:
    account_id = await add_monitored_customer(store, "6262", "Ferretería Sol")
    start = utcnow().replace(microsecond=100_000)
    await store.record([], start, link_test=LinkTest("6262", None, None))
    await store.record([], start + timedelta(milliseconds=500), link_test=LinkTest("6262", None, None))

    async def last_seen() -> str:
        async with store.reader.execute("SELECT last_seen_at FROM alarm_accounts WHERE id = ?", (account_id,)) as cur:
            return (await cur.fetchone())[0]

    assert await last_seen() == to_db(start)
    await store.record([], start + timedelta(seconds=1), link_test=LinkTest("6262", None, None))
    assert await last_seen() == to_db(start + timedelta(seconds=1))


async def test_a_batch_larger_than_any_insert_statement_is_stored_whole(store: Store) -> None:
    signals = [cid("7373", f"{n:04d}", "1", "130", zone=f"{n % 999 + 1:03d}") for n in range(1, 2500)]
    stored = await store.record(signals)
    assert [event.sequence for event in stored] == [signal.sequence for signal in signals]
    assert [event.id for event in stored] == list(range(stored[0].id, stored[0].id + len(signals)))
    async with store.reader.execute("SELECT count(*), min(id), max(id) FROM events") as cur:
        assert tuple(await cur.fetchone()) == (len(signals), stored[0].id, stored[-1].id)


def test_the_writers_log_restarts_as_it_grows(tmp_path: Path) -> None:
    """The writer checkpoints between its own commits: a log nobody copies back into the
    database file grows without end under steady traffic (and slows every read down)."""
    database = tmp_path / "centinela.db"
    with closing(connect_writer(database)) as db:
        db.execute("CREATE TABLE t (x BLOB)")
        for _ in range(300):  # 60 MB, in commits of 200 KB: half again SQLite's threshold
            db.execute("BEGIN")
            db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 20_000,)] * 10)
            db.execute("COMMIT")
        log_size = Path(f"{database}-wal").stat().st_size
    assert log_size < 45_000_000, f"the log reached {log_size / 1e6:.0f} MB"

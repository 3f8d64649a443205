"""The alarm sound: the rules as pure decisions on a made-up timeline, then the service on a real
store, fed by real signals, playing into a backend that records what it was asked to play."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from centinela.data.records import EventRecord, PriorityRow
from centinela.data.store import Store
from centinela.receiver.signal import Signal
from centinela.tui.alarm_sound import (
    AlarmSoundService,
    LevelSound,
    PendingAlarm,
    PlayMemory,
    SoundState,
    decide,
)
from centinela.tui.audio import PACKAGE_SOUNDS, resolve_sound
from tests.helpers import add_monitored_customer, until
from tests.recording_audio import RecordingBackend

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

# The seeded priorities table (migration 0001).
PRIORITIES = [
    PriorityRow(1, "Crítica", "Critical", "#ff3b30", True, "critical.wav", "reminder.wav", 60),
    PriorityRow(2, "Alta", "High", "#ff9500", True, "high.wav", "reminder.wav", 120),
    PriorityRow(3, "Media", "Medium", "#ffcc00", True, "medium.wav", "reminder.wav", 300),
    PriorityRow(4, "Supervisión", "Supervisory", "#5ac8fa", True, "supervisory.wav", "reminder.wav", 600),
    PriorityRow(5, "Baja", "Low", "#a0a0a0", False, None, None, None),
    PriorityRow(6, "Informativa", "Info", "#707070", False, None, None, None),
]


def in_sounds(name: str) -> Path | None:
    return Path("/sounds") / name


LEVELS = {row.level: LevelSound.from_priority(row, in_sounds) for row in PRIORITIES}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new(event_id: int, level: int) -> PendingAlarm:
    return PendingAlarm(event_id, level, acknowledged=False)


def taken(event_id: int, level: int) -> PendingAlarm:
    return PendingAlarm(event_id, level, acknowledged=True)


def timeline(
    changes: dict[float, list[PendingAlarm]],
    until: float,
    *,
    levels: dict[int, LevelSound] = LEVELS,
    muted_until: float | None = None,
) -> list[tuple[float, str]]:
    """Drive decide() the way the service does, deciding again at every change of the pending
    alarms and at every wake-up it asks for; returns (second, sound file) for each sound played."""
    pending: list[PendingAlarm] = []
    memory = PlayMemory()
    played: list[tuple[float, str]] = []
    change_times = sorted(changes)
    now = change_times[0]
    while now <= until:
        if now in changes:
            pending = changes[now]
        decision = decide(
            pending, levels, memory, at(now),
            muted_until=None if muted_until is None else at(muted_until),
        )
        memory = decision.memory
        if decision.play is not None:
            played.append((now, decision.play.sound.name))
        upcoming = [t for t in change_times if t > now]
        if decision.wake_at is not None:
            upcoming.append((decision.wake_at - T0).total_seconds())
        if not upcoming:
            break
        now = min(upcoming)
    return played


# --- the rules, as pure decisions ---------------------------------------------------------------


def test_new_critical_alarm_plays_the_critical_sound_at_once() -> None:
    decision = decide([new(1, 1)], LEVELS, PlayMemory(), T0)
    assert decision.play is not None
    assert (decision.play.sound, decision.play.kind, decision.play.level) == (
        Path("/sounds/critical.wav"), "alarm", 1,
    )
    assert decision.wake_at == at(5)


def test_alarm_repeats_until_taken_then_reminders_take_over() -> None:
    played = timeline({0: [new(1, 1)], 12: [taken(1, 1)]}, until=200)
    assert played == [
        (0, "critical.wav"), (5, "critical.wav"), (10, "critical.wav"),
        (72, "reminder.wav"), (132, "reminder.wav"), (192, "reminder.wav"),
    ]


def test_repeat_interval_is_configurable() -> None:
    decision = decide([new(1, 2)], LEVELS, PlayMemory(), T0, repeat_every=timedelta(seconds=2))
    assert decision.wake_at == at(2)


def test_reminder_cadence_follows_the_level_interval() -> None:
    # A high alarm on hold reminds every 120 s, from when it was last heard of.
    assert timeline({0: [taken(1, 2)]}, until=400) == [
        (120, "reminder.wav"), (240, "reminder.wav"), (360, "reminder.wav"),
    ]


def test_most_urgent_pending_level_sets_the_reminder_cadence() -> None:
    assert timeline({0: [taken(1, 3), taken(2, 1)]}, until=130) == [(60, "reminder.wav"), (120, "reminder.wav")]


def test_highest_priority_wins() -> None:
    decision = decide([new(1, 3), new(2, 1), new(3, 2)], LEVELS, PlayMemory(), T0)
    assert decision.play is not None and decision.play.sound.name == "critical.wav"


def test_a_less_urgent_arrival_waits_its_turn_and_sounds_once_the_urgent_one_is_taken() -> None:
    played = timeline(
        {0: [new(1, 1)], 2: [new(1, 1), new(2, 3)], 7: [taken(1, 1), new(2, 3)]}, until=13
    )
    assert played == [(0, "critical.wav"), (5, "critical.wav"), (7, "medium.wav"), (12, "medium.wav")]


def test_a_more_urgent_arrival_sounds_at_once() -> None:
    played = timeline({0: [new(1, 3)], 2: [new(1, 3), new(2, 1)]}, until=8)
    assert played == [(0, "medium.wav"), (2, "critical.wav"), (7, "critical.wav")]


def test_mute_suppresses_then_expires_and_waiting_alarms_sound_at_once() -> None:
    muted = decide([new(1, 1)], LEVELS, PlayMemory(), T0, muted_until=at(120))
    assert muted.play is None
    assert muted.wake_at == at(120)
    played = timeline({0: [new(1, 1)], 30: [new(1, 1), new(2, 2)]}, until=126, muted_until=120)
    assert played == [(120, "critical.wav"), (125, "critical.wav")]


def test_levels_without_acknowledgement_never_sound() -> None:
    decision = decide([new(1, 5), new(2, 6), taken(3, 6)], LEVELS, PlayMemory(), T0)
    assert (decision.play, decision.wake_at) == (None, None)
    assert timeline({0: [new(1, 5), new(2, 6)]}, until=3600) == []


def test_level_without_a_sound_stays_silent_but_still_reminds() -> None:
    levels = {**LEVELS, 2: LevelSound(2, True, None, Path("/sounds/reminder.wav"), timedelta(seconds=30))}
    assert timeline({0: [new(1, 2)]}, until=65, levels=levels) == [(30, "reminder.wav"), (60, "reminder.wav")]


def test_nothing_pending_means_no_wake_up_and_a_fresh_start() -> None:
    heard = decide([new(1, 1)], LEVELS, PlayMemory(), T0).memory
    decision = decide([], LEVELS, heard, at(1))
    assert decision == type(decision)(None, None, PlayMemory())
    # The same alarm coming back (e.g. taken off hold) is news again.
    again = decide([new(1, 1)], LEVELS, decision.memory, at(2))
    assert again.play is not None


def test_level_sound_comes_from_the_priorities_row() -> None:
    row = PriorityRow(2, "Alta", "High", "#ff9500", True, "sirena.mp3", None, 0)
    level = LevelSound.from_priority(row, lambda name: None)
    # A configured but missing file is still played (the backend rings the bell for it).
    assert level == LevelSound(2, True, Path("sirena.mp3"), None, None)


def test_state_text_parts() -> None:
    assert SoundState("speaker", "speaker (ALSA)", None).kind == "speaker"
    assert SoundState("bell", "bell", None).muted_until_hhmm is None
    muted = SoundState("bell", "bell", at(0))
    assert muted.kind == "muted"
    assert muted.muted_until_hhmm == at(0).astimezone().strftime("%H:%M")


# --- the service, on a real store ---------------------------------------------------------------


wait_for = partial(until, timeout=3.0)


def contact_id(account: str, code: str, qualifier: str = "1") -> Signal:
    return Signal(protocol="ADM-CID", raw=f"#{account}|{qualifier}{code} 01 001", account=account, code=code,
                  qualifier=qualifier, zone="001")


def make_service(
    store: Store, data_dir: Path, backend: RecordingBackend, on_state: Callable[[SoundState], None] | None = None
) -> AlarmSoundService:
    return AlarmSoundService(
        store, backend, partial(resolve_sound, data_dir=data_dir),
        repeat_every=timedelta(milliseconds=200), on_state=on_state,
    )


@asynccontextmanager
async def running(service: AlarmSoundService) -> AsyncIterator[None]:
    task = asyncio.create_task(service.run())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def take(store: Store, event_id: int) -> EventRecord:
    async with store.transaction() as db:
        await db.execute("UPDATE events SET status = 'acknowledged', taken_by = 'ana' WHERE id = ?", (event_id,))
    event = await store.get_event(event_id)
    assert event is not None
    return event


async def test_service_sounds_a_received_alarm_until_taken_then_reminds(store: Store, data_dir: Path) -> None:
    await add_monitored_customer(store, "2201", "Clínica San Rafael")
    backend = RecordingBackend()
    service = make_service(store, data_dir, backend)
    async with running(service):
        await wait_for(lambda: PACKAGE_SOUNDS / "critical.wav" in backend.prepared)
        assert backend.plays == []
        (fire,) = await store.record([contact_id("2201", "110")])
        assert fire.priority == 1
        await wait_for(lambda: backend.plays.count("critical.wav") >= 3)  # at once, then repeating

        async with store.transaction() as db:  # an admin shortens the critical reminder
            await db.execute("UPDATE priorities SET reminder_interval_s = 1 WHERE level = 1")
        await service.reload()
        service.events_changed([await take(store, fire.id)])
        assert backend.stops == 1
        played_when_taken = len(backend.plays)
        await asyncio.sleep(0.5)
        assert len(backend.plays) == played_when_taken  # no more alarm, reminder not due yet
        await wait_for(lambda: backend.plays[-1:] == ["reminder.wav"])
        assert set(backend.plays) == {"critical.wav", "reminder.wav"}


async def test_service_sounds_alarms_open_at_start_until_the_panel_restores(store: Store, data_dir: Path) -> None:
    await add_monitored_customer(store, "3300", "Ferretería El Clavo")
    (burglary,) = await store.record([contact_id("3300", "130")])
    assert burglary.priority == 2
    backend = RecordingBackend()
    service = make_service(store, data_dir, backend)
    async with running(service):
        await wait_for(lambda: backend.plays[:2] == ["high.wav", "high.wav"])  # nobody did anything
        await store.record([contact_id("3300", "130", qualifier="3")])  # the store closes the alarm
        closed = await store.get_event(burglary.id)
        assert closed is not None and closed.status == "resolved"
        await wait_for(lambda: backend.stops == 1)
        played = len(backend.plays)
        (test_report,) = await store.record([contact_id("3300", "602")])  # periodic test: info level
        assert test_report.priority == 6
        await asyncio.sleep(0.5)
        assert len(backend.plays) == played


async def test_mute_silences_new_alarms_shows_until_when_and_unmute_brings_them_back(
    store: Store, data_dir: Path
) -> None:
    await add_monitored_customer(store, "4400", "Banco Norte")
    backend = RecordingBackend(kind="bell")
    states: list[SoundState] = []
    service = make_service(store, data_dir, backend, on_state=states.append)
    assert service.state() == SoundState("bell", "recording bell", None)
    async with running(service):
        await wait_for(lambda: backend.prepared != [])
        service.mute(10)
        state = service.state()
        assert state.kind == "muted"
        assert state.muted_until is not None
        assert timedelta(minutes=9) < state.muted_until - datetime.now(UTC) <= timedelta(minutes=10)
        assert state.muted_until_hhmm == state.muted_until.astimezone().strftime("%H:%M")
        assert states == [state]

        await store.record([contact_id("4400", "120")])  # panic: critical
        await asyncio.sleep(0.5)
        assert backend.plays == []  # muted, yet tracked:
        service.unmute()
        await wait_for(lambda: backend.plays == ["critical.wav"])
        assert states[-1].kind == "bell"

        service.mute(0.005)  # 0.3 s
        played = len(backend.plays)
        await wait_for(lambda: states[-1].kind == "bell", timeout=2.0)  # the mute ran out by itself
        await wait_for(lambda: len(backend.plays) > played)
        assert backend.plays[-1] == "critical.wav"

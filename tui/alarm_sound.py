"""The console's alarm sound: what to play and when (pure), and the app-level task that plays it.

Rules, per priority level of the ``priorities`` table:

- an alarm not yet taken plays its level's sound at once, and again every few seconds until an
  operator takes it; with several waiting, the most urgent level's sound is the one heard;
- while alarms are taken or on hold but not closed, a softer reminder plays every
  ``reminder_interval_s`` of the most urgent one (counted from when the last alarm was taken);
- levels that need no acknowledgement never sound, and neither do levels without a sound;
- muting silences everything for some minutes; alarms keep being tracked, and whatever still waits
  when the mute ends sounds at once.

:func:`decide` holds these rules with no clock, loop or device of its own, so they are tested by
calling it; :class:`AlarmSoundService` feeds it the store's events and plays what it says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from centinela.data.event_batch import EventChanges
from centinela.data.pubsub import Subscription
from centinela.data.records import EventRecord, PriorityRow
from centinela.data.store import Store
from centinela.data.timeutil import utcnow
from centinela.tui.audio import AudioBackend, BackendKind
from centinela.tui.pacing import Pacer

log = logging.getLogger(__name__)

REPEAT_EVERY = timedelta(seconds=5)
"""How often an alarm nobody has taken sounds again."""
QUIET_AFTER_DECIDING = 10
"""After a decision, wait this many times what it took before the next. Each looks at every
pending alarm: in a storm (thousands pending, a commit every few milliseconds) deciding on every
commit took a quarter of the loop the receiver shares. With a few alarms pending a decision takes
microseconds, so a new alarm sounds at once."""
MAX_DECIDE_GAP = 0.5
"""Seconds: however slow the last decision, the next one comes at most this late."""


@dataclass(frozen=True, slots=True)
class LevelSound:
    level: int
    requires_ack: bool
    sound: Path | None
    reminder: Path | None
    reminder_every: timedelta | None

    @classmethod
    def from_priority(cls, row: PriorityRow, resolve_sound: Callable[[str], Path | None]) -> LevelSound:
        interval = row.reminder_interval_s
        return cls(
            level=row.level,
            requires_ack=bool(row.requires_ack),
            sound=_sound_path(row.sound, resolve_sound),
            reminder=_sound_path(row.reminder_sound, resolve_sound),
            reminder_every=timedelta(seconds=interval) if interval and interval > 0 else None,
        )


def _sound_path(name: str | None, resolve_sound: Callable[[str], Path | None]) -> Path | None:
    if not name:
        return None
    # A configured sound whose file is missing still goes to the backend, which rings the bell
    # and logs it: the level was meant to make noise.
    return resolve_sound(name) or Path(name)


@dataclass(frozen=True, slots=True)
class PendingAlarm:
    event_id: int
    level: int
    acknowledged: bool
    """Taken by an operator or put on hold: reminders only."""

    @classmethod
    def from_event(cls, event: EventRecord) -> PendingAlarm | None:
        """``None`` for a closed event: it no longer counts."""
        if event.status == "resolved":
            return None
        return cls(event.id, event.priority, acknowledged=event.status in ("acknowledged", "pending"))


@dataclass(frozen=True, slots=True)
class PlayMemory:
    """What has been played so far: the part of the state :func:`decide` carries between calls."""

    heard: frozenset[int] = frozenset()
    """Alarms whose own level's sound has played; any other one at the top level is news."""
    last_alarm_at: datetime | None = None
    reminders_since: datetime | None = None
    """Start of the reminder cadence: the last reminder, or when reminders took over from alarms."""


SoundKind = Literal["alarm", "reminder"]


@dataclass(frozen=True, slots=True)
class Playback:
    sound: Path
    kind: SoundKind
    level: int


@dataclass(frozen=True, slots=True)
class Decision:
    play: Playback | None
    wake_at: datetime | None
    """When to decide again if nothing changes first; ``None``: only on a change."""
    memory: PlayMemory


def decide(
    alarms: Iterable[PendingAlarm],
    levels: Mapping[int, LevelSound],
    memory: PlayMemory,
    now: datetime,
    *,
    muted_until: datetime | None = None,
    repeat_every: timedelta = REPEAT_EVERY,
) -> Decision:
    """What to play at ``now`` and when to look again. Alarms at a level missing from ``levels``
    are ignored (the priorities table defines every level the store assigns)."""
    if muted_until is not None and now < muted_until:
        return Decision(None, muted_until, memory)
    tracked = [(alarm, levels[alarm.level]) for alarm in alarms if alarm.level in levels]
    tracked = [(alarm, rule) for alarm, rule in tracked if rule.requires_ack]
    sounding = [(alarm, rule) for alarm, rule in tracked if not alarm.acknowledged and rule.sound is not None]
    if sounding:
        return _alarm(sounding, memory, now, repeat_every)
    reminding = [rule for _, rule in tracked if rule.reminder is not None and rule.reminder_every is not None]
    if reminding:
        return _reminder(min(reminding, key=lambda rule: rule.level), memory, now)
    return Decision(None, None, PlayMemory())


def _alarm(
    sounding: list[tuple[PendingAlarm, LevelSound]], memory: PlayMemory, now: datetime, repeat_every: timedelta
) -> Decision:
    top = min(sounding, key=lambda pair: pair[1].level)[1]
    at_top = {alarm.event_id for alarm, rule in sounding if rule.level == top.level}
    waiting = {alarm.event_id for alarm, _ in sounding}
    heard = memory.heard & waiting
    news = not at_top <= heard
    due = now if memory.last_alarm_at is None else memory.last_alarm_at + repeat_every
    if news or due <= now:
        assert top.sound is not None  # sounding levels have one
        return Decision(
            Playback(top.sound, "alarm", top.level), now + repeat_every, PlayMemory(heard | at_top, now)
        )
    return Decision(None, due, PlayMemory(heard, memory.last_alarm_at))


def _reminder(rule: LevelSound, memory: PlayMemory, now: datetime) -> Decision:
    assert rule.reminder is not None and rule.reminder_every is not None
    since = memory.reminders_since or now
    due = since + rule.reminder_every
    if due <= now:
        playback = Playback(rule.reminder, "reminder", rule.level)
        return Decision(playback, now + rule.reminder_every, PlayMemory(reminders_since=now))
    return Decision(None, due, PlayMemory(reminders_since=since))


@dataclass(frozen=True, slots=True)
class SoundState:
    """What the status bar shows: where sound goes, and whether it is muted until when."""

    output: BackendKind
    backend_name: str
    muted_until: datetime | None

    @property
    def kind(self) -> Literal["speaker", "bell", "muted"]:
        return "muted" if self.muted_until is not None else self.output

    @property
    def muted_until_hhmm(self) -> str | None:
        """The mute's end in the console's local time."""
        return None if self.muted_until is None else self.muted_until.astimezone().strftime("%H:%M")


class AlarmSoundService:
    """App-level: follows the store's events and sounds alarms on ``backend`` until they are taken.

    Start it with ``run()`` as a task once the store is open; it loads the priorities and the open
    alarms itself, so sound works from start-up with nobody touching anything.
    """

    def __init__(
        self,
        store: Store,
        backend: AudioBackend,
        resolve_sound: Callable[[str], Path | None],
        *,
        repeat_every: timedelta = REPEAT_EVERY,
        clock: Callable[[], datetime] = utcnow,
        on_state: Callable[[SoundState], None] | None = None,
    ) -> None:
        self._store = store
        self._backend = backend
        self._resolve_sound = resolve_sound
        self._repeat_every = repeat_every
        self._clock = clock
        self._on_state = on_state
        self._levels: dict[int, LevelSound] = {}
        self._pending: dict[int, PendingAlarm] = {}
        self._memory = PlayMemory()
        self._muted_until: datetime | None = None
        self._changed = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._arrived_during_reload: list[EventRecord] | None = None

    @property
    def backend(self) -> AudioBackend:
        return self._backend

    async def run(self) -> None:
        """Sound alarms until cancelled."""
        # Subscribe before reading the open alarms, so none committed in between is missed.
        with self._store.events_hub.subscribe() as subscription:
            await self.reload()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._follow(subscription), name="alarm-sound-events")
                group.create_task(self._sound(), name="alarm-sound-player")

    async def reload(self) -> None:
        """Re-read priorities and open alarms: after an admin edits the priorities, or whenever the
        alarms changed in a way :meth:`events_changed` was not told about."""
        async with self._reload_lock:
            self._arrived_during_reload = []
            try:
                priorities = await self._store.priorities()
                open_events = await self._store.open_events()
                levels = {row.level: LevelSound.from_priority(row, self._resolve_sound) for row in priorities}
                sounds = {path for rule in levels.values() for path in (rule.sound, rule.reminder) if path}
                await asyncio.to_thread(self._backend.prepare, sorted(sounds))
            finally:
                arrived, self._arrived_during_reload = self._arrived_during_reload, None
            self._levels = levels
            self._pending = {}
            # Events that arrived while the snapshot was read may be newer than it.
            self._apply([*open_events, *arrived])
        self._changed.set()

    def events_changed(self, events: Iterable[EventRecord]) -> None:
        """New or updated events (received, taken, put on hold, closed). What the event writer
        commits arrives by itself through the store's hub (new events, restores that close
        alarms); the app calls this after an operator takes, holds or closes an event."""
        events = list(events)
        if self._arrived_during_reload is not None:
            self._arrived_during_reload.extend(events)
        had_waiting = self._waiting()
        self._apply(events)
        if had_waiting and not self._waiting():
            self._backend.stop()  # the last alarm was taken: cut its sound short
        self._changed.set()

    def mute(self, minutes: float) -> None:
        """Silence everything for ``minutes`` from now (again from now if already muted)."""
        if minutes <= 0:
            raise ValueError("mute for a positive number of minutes")
        self._muted_until = self._clock() + timedelta(minutes=minutes)
        self._backend.stop()
        self._state_changed()

    def unmute(self) -> None:
        if self._muted_until is not None:
            self._muted_until = None
            self._state_changed()

    def state(self) -> SoundState:
        self._expire_mute(self._clock())
        return SoundState(self._backend.kind, self._backend.name, self._muted_until)

    def _apply(self, events: Iterable[EventRecord]) -> None:
        for event in events:
            alarm = PendingAlarm.from_event(event)
            if alarm is None:
                self._pending.pop(event.id, None)
            else:
                self._pending[event.id] = alarm

    def _waiting(self) -> bool:
        """Whether any alarm that needs taking is untaken."""
        return any(
            not alarm.acknowledged and (rule := self._levels.get(alarm.level)) is not None and rule.requires_ack
            for alarm in self._pending.values()
        )

    def _state_changed(self) -> None:
        self._changed.set()
        if self._on_state is not None:
            self._on_state(self.state())

    def _expire_mute(self, now: datetime) -> None:
        if self._muted_until is not None and now >= self._muted_until:
            self._muted_until = None
            self._state_changed()

    async def _follow(self, subscription: Subscription[EventChanges]) -> None:
        async for changes in subscription:
            self.events_changed([*changes.added, *changes.updated])

    async def _sound(self) -> None:
        pacer = Pacer(QUIET_AFTER_DECIDING, MAX_DECIDE_GAP)
        while True:
            await pacer.ready()  # a storm's changes, taken together
            self._changed.clear()
            now = self._clock()
            self._expire_mute(now)
            with pacer.run():
                decision = decide(
                    self._pending.values(), self._levels, self._memory, now,
                    muted_until=self._muted_until, repeat_every=self._repeat_every,
                )
            self._memory = decision.memory
            if decision.play is not None:
                try:
                    self._backend.play(decision.play.sound)
                except Exception:  # noqa: BLE001 - a broken output must not end the alarm sound task
                    log.exception("playing %s failed", decision.play.sound)
            timeout = None
            if decision.wake_at is not None:
                timeout = max(0.0, (decision.wake_at - self._clock()).total_seconds())
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass

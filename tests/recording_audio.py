"""An AudioBackend for tests: it plays nothing and remembers what it was asked to play. It is
our own interface (tui.audio.AudioBackend), implemented for real, not a mock of a function."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from centinela.tui.audio import BackendKind


@dataclass
class RecordingBackend:
    """An AudioBackend that keeps what it was asked to do."""

    kind: BackendKind = "speaker"
    plays: list[str] = field(default_factory=list)
    prepared: list[Path] = field(default_factory=list)
    stops: int = 0
    closed: bool = False

    @property
    def name(self) -> str:
        return f"recording {self.kind}"

    def prepare(self, sounds: Iterable[Path]) -> None:
        self.prepared.extend(sounds)

    def play(self, sound: Path) -> None:
        self.plays.append(sound.name)

    def stop(self) -> None:
        self.stops += 1

    def close(self) -> None:
        self.closed = True

"""Generate Centinela's default alarm sounds (16-bit PCM, mono, 22050 Hz) with the standard library.

Run ``python sounds/generate.py [OUTPUT_DIR]`` (default: this folder) to rewrite the shipped WAVs.
The output is deterministic, so regenerating reproduces the shipped files.

The sounds are designed to be told apart by ear at a glance, and not to hurt: peaks stay at or
below half of full scale (-6 dBFS), every note fades in and out (no clicks), and the pitches sit
between 520 Hz and 1.1 kHz, where small speakers are loud without being shrill.
"""

from __future__ import annotations

import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 22050
FULL_SCALE = 32767
ATTACK_S = 0.008
RELEASE_S = 0.025


@dataclass(frozen=True, slots=True)
class Note:
    start_s: float
    length_s: float
    freq: float
    amplitude: float
    partials: tuple[tuple[float, float], ...] = ((1.0, 1.0),)
    """(frequency ratio, relative level) pairs: the timbre."""
    decay_s: float | None = None
    """Time constant of an exponential fade (a struck chime); ``None`` holds the level (a beep)."""


def _envelope(t: float, note: Note) -> float:
    level = min(1.0, t / ATTACK_S, (note.length_s - t) / RELEASE_S)
    if note.decay_s is not None:
        level *= math.exp(-t / note.decay_s)
    return max(level, 0.0)


def render(notes: tuple[Note, ...]) -> list[int]:
    """Mix the notes into 16-bit samples; the sound ends when its last note does."""
    total = max(note.start_s + note.length_s for note in notes)
    mix = [0.0] * round(total * RATE)
    for note in notes:
        norm = sum(level for _, level in note.partials)
        first = round(note.start_s * RATE)
        for i in range(round(note.length_s * RATE)):
            t = i / RATE
            wave_value = sum(
                level * math.sin(2 * math.pi * note.freq * ratio * t) for ratio, level in note.partials
            )
            mix[first + i] += note.amplitude * _envelope(t, note) * wave_value / norm
    return [max(-FULL_SCALE, min(FULL_SCALE, round(value * FULL_SCALE))) for value in mix]


def write_wav(path: Path, samples: list[int]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(sample.to_bytes(2, "little", signed=True) for sample in samples))


def _beeps(freqs: tuple[float, ...], length_s: float, gap_s: float, amplitude: float,
           partials: tuple[tuple[float, float], ...]) -> tuple[Note, ...]:
    return tuple(
        Note(i * (length_s + gap_s), length_s, freq, amplitude, partials) for i, freq in enumerate(freqs)
    )


_SQUARISH = ((1.0, 1.0), (3.0, 0.25))  # a third harmonic cuts through room noise
_WARM = ((1.0, 1.0), (2.0, 0.2))
_CHIME = ((1.0, 1.0), (2.76, 0.15))  # slightly inharmonic partial, like a small bell

SOUNDS: dict[str, tuple[Note, ...]] = {
    # Urgent two-tone warble: six alternating notes, 1.16 s.
    "critical.wav": _beeps((988, 740) * 3, 0.16, 0.04, 0.5, _SQUARISH),
    # Three rising notes (E5, G#5, B5), 0.66 s.
    "high.wav": _beeps((659, 831, 988), 0.18, 0.06, 0.45, _WARM),
    # Two equal beeps, 0.58 s.
    "medium.wav": _beeps((698, 698), 0.22, 0.14, 0.4, _WARM),
    # Soft descending two-note chime, 0.95 s.
    "supervisory.wav": (
        Note(0.0, 0.5, 880, 0.4, _CHIME, decay_s=0.25),
        Note(0.35, 0.6, 659, 0.4, _CHIME, decay_s=0.3),
    ),
    # One quiet chime (C6), 0.5 s: a nudge, not an alarm.
    "reminder.wav": (Note(0.0, 0.5, 1047, 0.25, _CHIME, decay_s=0.18),),
}


def generate(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notes in SOUNDS.items():
        path = folder / name
        write_wav(path, render(notes))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    for path in generate(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""Alarm sound output: the local speaker through miniaudio, or the terminal bell when there is none.

Operators work on a local console with speakers, over SSH, or in front of a headless server. At
start :func:`detect_backend` looks for a playback device; without one (SSH, servers, CI) alarms ring
the terminal bell, which reaches the operator's own terminal even over SSH.

Nothing here may write to the terminal: Textual draws the screen on stderr (fd 2), and ALSA's C
library prints its errors straight there. Two measures keep it clean:

- the probe for a device runs in a child process whose stderr is /dev/null, so whatever any sound
  library prints while failing (ALSA, JACK, PulseAudio) goes nowhere, and a hung sound server
  cannot hold up the console (the probe has a timeout); redirecting fd 2 in our own process instead
  would also swallow the frames Textual draws meanwhile;
- before opening a device in this process, :func:`quiet_alsa` replaces ALSA's error handler (which
  prints to stderr) with a no-op, for good: ALSA also reports later trouble (underruns, an
  unplugged card) from the audio thread.

``simpleaudio`` (the optional extra) has no backend here: miniaudio plays everything it would
(WAV) and more (MP3, FLAC, Ogg Vorbis), ships wheels, and is maintained; simpleaudio is archived and
needs the ALSA headers to build.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import miniaudio

import centinela.sounds

log = logging.getLogger(__name__)

BackendKind = Literal["speaker", "bell"]

PACKAGE_SOUNDS = Path(centinela.sounds.__file__).resolve().parent
"""The default sounds shipped with Centinela."""

USER_SOUNDS = "sounds"
"""Sub-folder of the data folder where admins put their own sounds."""

DEVICE_RATE = 48000
_SAMPLE_BYTES = 2  # signed 16-bit mono: every sound is converted to this at decode time
PROBE_TIMEOUT_S = 5.0
MAX_DURATION_S = 30.0
"""Longer sounds are refused: an alarm repeats every few seconds, and a song would mask the next one."""


class AudioBackend(Protocol):
    """Where alarm sounds go. ``play`` and ``stop`` return at once; a bad sound file never raises
    (the speaker rings the bell for it)."""

    @property
    def name(self) -> str:
        """For logs and the status bar, e.g. ``"speaker (PulseAudio)"``."""
        ...

    @property
    def kind(self) -> BackendKind: ...

    def prepare(self, sounds: Iterable[Path]) -> None:
        """Decode ahead of time, so the first alarm plays without delay (may block: call in a thread)."""

    def play(self, sound: Path) -> None:
        """Start the sound, cutting short whatever is playing."""

    def stop(self) -> None: ...

    def close(self) -> None: ...


class BellBackend:
    """The terminal bell. Textual owns the terminal, so the app passes its ``App.bell``."""

    def __init__(self, bell: Callable[[], None]) -> None:
        self._bell = bell

    @property
    def name(self) -> str:
        return "bell"

    @property
    def kind(self) -> BackendKind:
        return "bell"

    def prepare(self, sounds: Iterable[Path]) -> None:
        """The bell has one sound of its own: nothing to decode."""

    def play(self, sound: Path) -> None:
        self._bell()

    def stop(self) -> None:
        """A bell cannot be cut short."""

    def close(self) -> None:
        """Nothing held open."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    stamp: tuple[int, int]  # (mtime_ns, size): a replaced file is decoded again
    pcm: bytes


class MiniaudioBackend:
    """A local playback device kept open for the console's life, fed by one stream.

    The device plays silence between sounds, so an alarm starts within one buffer and never waits
    for a device to open. Sounds are decoded once to the device's format and cached; a sound that
    cannot be read or decoded rings the bell instead, because an alarm must never go silent.
    """

    def __init__(self, device: miniaudio.PlaybackDevice, bell: Callable[[], None]) -> None:
        self._device = device
        self._bell = bell
        self._cache: dict[Path, _Decoded] = {}
        self._lock = threading.Lock()  # the stream runs on miniaudio's audio thread
        self._voice = b""
        self._position = 0
        stream = self._stream()
        next(stream)
        device.start(stream)

    @classmethod
    def open(cls, backend: miniaudio.Backend, bell: Callable[[], None]) -> MiniaudioBackend:
        """Open the default playback device of ``backend``; raises :class:`miniaudio.MiniaudioError`."""
        quiet_alsa()
        device = miniaudio.PlaybackDevice(
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=DEVICE_RATE,
            buffersize_msec=100,
            backends=[backend],
            app_name="Centinela",
        )
        return cls(device, bell)

    @property
    def name(self) -> str:
        return f"speaker ({self._device.backend})"

    @property
    def kind(self) -> BackendKind:
        return "speaker"

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return self._position < len(self._voice)

    def prepare(self, sounds: Iterable[Path]) -> None:
        for sound in sounds:
            try:
                self._pcm(sound)
            except (OSError, miniaudio.DecodeError) as exc:
                log.warning("alarm sound %s unusable (%s): the bell will ring instead", sound, exc)

    def play(self, sound: Path) -> None:
        try:
            pcm = self._pcm(sound)
        except (OSError, miniaudio.DecodeError) as exc:
            log.warning("cannot play %s (%s): ringing the bell", sound, exc)
            self._bell()
            return
        with self._lock:
            self._voice, self._position = pcm, 0

    def stop(self) -> None:
        with self._lock:
            self._voice, self._position = b"", 0

    def close(self) -> None:
        self._device.close()

    def _pcm(self, sound: Path) -> bytes:
        cached = self._cache.get(sound)
        try:
            stat = sound.stat()
        except OSError:
            if cached is not None:
                return cached.pcm  # deleted or moved since decoded: the copy in memory still serves
            raise
        stamp = (stat.st_mtime_ns, stat.st_size)
        if cached is not None and cached.stamp == stamp:
            return cached.pcm
        decoded = miniaudio.decode_file(
            str(sound), miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=DEVICE_RATE
        )
        pcm: bytes = decoded.samples.tobytes()
        self._cache[sound] = _Decoded(stamp, pcm)
        return pcm

    def _stream(self) -> Generator[bytes, int, None]:
        frames = yield b""
        while True:
            with self._lock:
                end = self._position + frames * _SAMPLE_BYTES
                chunk = self._voice[self._position : end]
                self._position = min(end, len(self._voice))
            # Fewer bytes than asked for is fine: miniaudio hands the device a zeroed buffer.
            frames = yield chunk


# ALSA's handler is variadic (file, line, function, err, fmt, ...); a callee that ignores the
# variadic tail may be declared with the fixed arguments only on the Linux ABIs ALSA runs on.
_AlsaErrorHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)


def _ignore_alsa_error(file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
    """Dropped: on stderr it would land in the middle of the screen. A device that fails to open
    still raises, so nothing is hidden that the code needs to know."""


@functools.cache
def quiet_alsa() -> object | None:
    """Silence ALSA's error messages for the whole process; returns the installed handler, or
    ``None`` when libasound is not loadable (not Linux, or no ALSA).

    The cache keeps the handler alive: ALSA holds only a C pointer to it.
    """
    try:
        libasound = ctypes.CDLL("libasound.so.2")
    except OSError:
        return None
    handler = _AlsaErrorHandler(_ignore_alsa_error)
    libasound.snd_lib_error_set_handler(handler)
    return handler


def _speaker_backends() -> list[miniaudio.Backend]:
    """Backends that reach a real device, in miniaudio's own order of preference (its enum order)."""
    skipped = {miniaudio.Backend.NULL, miniaudio.Backend.CUSTOM}
    return sorted(
        (backend for backend in miniaudio.get_enabled_backends() if backend not in skipped),
        key=lambda backend: backend.value,
    )


def _open_any_speaker() -> miniaudio.Backend | None:
    """In this process: the first backend whose default device opens and starts."""
    for backend in _speaker_backends():
        try:
            with miniaudio.PlaybackDevice(backends=[backend]) as device:
                stream = _silence()
                next(stream)
                device.start(stream)
        except miniaudio.MiniaudioError:
            continue
        return backend
    return None


def _silence() -> Generator[bytes, int, None]:
    while True:
        yield b""


def probe_command() -> list[str]:
    """The child process that probes for a device: this module run as a script. ``-P`` keeps the
    current folder off its import path, so a folder named ``centinela`` there cannot shadow us."""
    return [sys.executable, "-P", "-m", "centinela.tui.audio"]


def probe_speaker(timeout: float = PROBE_TIMEOUT_S) -> miniaudio.Backend | None:
    """The miniaudio backend that can play on this machine, found by a child process (see the
    module docstring for why); ``None`` when there is no usable device."""
    if not sys.executable:
        return None
    try:
        probe = subprocess.run(
            probe_command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            text=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("sound device probe failed: %s", exc)
        return None
    name = probe.stdout.strip()
    if probe.returncode != 0 or name not in miniaudio.Backend.__members__:
        return None
    return miniaudio.Backend[name]


def detect_backend(bell: Callable[[], None]) -> AudioBackend:
    """The speaker if this machine has a usable playback device, else the terminal bell.

    Blocks for the probe (about a quarter of a second; at most :data:`PROBE_TIMEOUT_S`): call it
    in a thread from async code. Writes nothing to the terminal.
    """
    backend = probe_speaker()
    if backend is not None:
        try:
            speaker = MiniaudioBackend.open(backend, bell)
        except miniaudio.MiniaudioError as exc:
            log.warning("sound device found by the probe did not open (%s): using the bell", exc)
        else:
            log.info("alarm sounds play on %s", speaker.name)
            return speaker
    log.info("no sound device: alarms ring the terminal bell")
    return BellBackend(bell)


def resolve_sound(name: str, data_dir: Path) -> Path | None:
    """Where a sound named in the priorities table lives: an absolute path as is; a relative name
    in the shipped sounds first, then in ``<data_dir>/sounds``. ``None`` if no such file exists."""
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    for folder in (PACKAGE_SOUNDS, data_dir / USER_SOUNDS):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


SoundFileProblem = Literal["unreadable", "not_audio", "damaged", "empty", "too_long"]


class SoundFileError(ValueError):
    """A file that cannot serve as an alarm sound; ``problem`` lets the screen say why in the
    operator's language, ``str()`` says it in English for logs."""

    def __init__(self, problem: SoundFileProblem, path: Path, message: str) -> None:
        super().__init__(message)
        self.problem: SoundFileProblem = problem
        self.path = path


SoundFormat = Literal["wav", "flac", "ogg", "mp3"]


@dataclass(frozen=True, slots=True)
class DecodedInfo:
    path: Path
    format: SoundFormat
    channels: int
    sample_rate: int
    duration_s: float


_INFO_READERS: tuple[tuple[SoundFormat, Callable[[bytes], miniaudio.SoundFileInfo]], ...] = (
    ("wav", miniaudio.wav_get_info),
    ("flac", miniaudio.flac_get_info),
    ("ogg", miniaudio.vorbis_get_info),
    ("mp3", miniaudio.mp3_get_info),  # last: the MP3 reader is the most willing to find frames in noise
)


def validate_sound_file(path: Path) -> DecodedInfo:
    """Check that ``path`` is a sound the console can play (decoding all of it); raises
    :class:`SoundFileError` otherwise. For the settings screen, before a sound is saved."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SoundFileError("unreadable", path, f"cannot read {path}: {exc.strerror or exc}") from None
    for file_format, read_info in _INFO_READERS:
        try:
            info = read_info(data)
        except miniaudio.DecodeError:
            continue
        break
    else:
        raise SoundFileError("not_audio", path, f"{path} is not a WAV, MP3, FLAC or Ogg Vorbis sound")
    try:
        decoded = miniaudio.decode(data, miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=DEVICE_RATE)
    except miniaudio.DecodeError:
        raise SoundFileError(
            "damaged", path, f"{path} looks like {file_format.upper()} but does not decode"
        ) from None
    if decoded.num_frames == 0:
        raise SoundFileError("empty", path, f"{path} holds no sound")
    if decoded.duration > MAX_DURATION_S:
        raise SoundFileError(
            "too_long", path,
            f"{path} lasts {decoded.duration:.0f} s; alarm sounds may last {MAX_DURATION_S:.0f} s at most",
        )
    return DecodedInfo(path, file_format, info.nchannels, info.sample_rate, decoded.duration)


if __name__ == "__main__":
    # The probe's child process (see probe_speaker): prints the usable backend's name.
    found = _open_any_speaker()
    if found is None:
        raise SystemExit(1)
    print(found.name)

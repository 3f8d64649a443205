"""Sound output: the shipped sounds, decoding and validation, the speaker on miniaudio's null
device, and detection that falls back to the bell without printing a byte on the terminal."""

from __future__ import annotations

import array
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import miniaudio
import pytest

from centinela.sounds.generate import generate
from centinela.tui.audio import (
    PACKAGE_SOUNDS,
    BellBackend,
    MiniaudioBackend,
    SoundFileError,
    detect_backend,
    probe_command,
    resolve_sound,
    validate_sound_file,
)

SHIPPED = ("critical.wav", "high.wav", "medium.wav", "supervisory.wav", "reminder.wav")
NO_SOUND_CARD = not Path("/dev/snd").exists()


class Bell:
    def __init__(self) -> None:
        self.rings = 0

    def __call__(self) -> None:
        self.rings += 1


def pcm(path: Path) -> array.array[int]:
    with wave.open(str(path)) as sound:
        return array.array("h", sound.readframes(sound.getnframes()))


def write_wav(path: Path, frames: int, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * frames))
    return path


def silent_mp3(frames: int) -> bytes:
    """MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz, mono, with all-zero side information:
    valid frames whose granules hold no spectrum, i.e. silence. Nothing here encodes MP3, so the
    test builds the stream by hand; it proves the MP3 path, not the quality of the decoder."""
    header = bytes([0xFF, 0xFB, 0x90, 0xC4])
    frame_bytes = 144 * 128_000 // 44_100  # 417, no padding bit
    return (header + bytes(frame_bytes - len(header))) * frames


@contextmanager
def captured_fd2() -> Iterator[Callable[[], bytes]]:
    """Everything written to file descriptor 2 (by Python or by C libraries) inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: os.pread(sink.fileno(), 1 << 20, 0)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def null_speaker() -> Iterator[tuple[MiniaudioBackend, Bell]]:
    """The real speaker backend on miniaudio's null device, which consumes samples in real time."""
    bell = Bell()
    speaker = MiniaudioBackend.open(miniaudio.Backend.NULL, bell)
    try:
        yield speaker, bell
    finally:
        speaker.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_sound_is_short_quiet_mono_pcm_that_miniaudio_decodes(name: str) -> None:
    path = PACKAGE_SOUNDS / name
    info = validate_sound_file(path)
    assert (info.format, info.channels, info.sample_rate) == ("wav", 1, 22050)
    assert 0.3 <= info.duration_s <= 1.5
    assert path.stat().st_size < 64 * 1024
    decoded = miniaudio.decode_file(str(path), nchannels=1, sample_rate=22050)
    assert decoded.num_frames == round(info.duration_s * 22050)
    with wave.open(str(path)) as sound:
        assert sound.getsampwidth() == 2
    samples = pcm(path)
    assert max(abs(min(samples)), max(samples)) <= 32767 // 2  # -6 dBFS: loud enough, not painful


def test_shipped_sounds_are_distinct_and_the_reminder_is_the_softest() -> None:
    sounds = {name: pcm(PACKAGE_SOUNDS / name) for name in SHIPPED}
    assert len({bytes(samples) for samples in sounds.values()}) == len(SHIPPED)
    peaks = {name: max(map(abs, samples)) for name, samples in sounds.items()}
    assert peaks["reminder.wav"] == min(peaks.values())


def test_generator_reproduces_the_shipped_sounds(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert sorted(path.name for path in written) == sorted(SHIPPED)
    for name in SHIPPED:
        fresh, shipped = pcm(tmp_path / name), pcm(PACKAGE_SOUNDS / name)
        assert len(fresh) == len(shipped)
        # Equal but for the last bit a different libm may round differently.
        assert max(abs(a - b) for a, b in zip(fresh, shipped)) <= 1
    assert (PACKAGE_SOUNDS / "LICENSE.md").read_text().count("generate.py") >= 2


def test_mp3_is_validated_and_played(tmp_path: Path, null_speaker: tuple[MiniaudioBackend, Bell]) -> None:
    path = tmp_path / "tone.mp3"
    path.write_bytes(silent_mp3(20))
    info = validate_sound_file(path)
    assert (info.format, info.channels, info.sample_rate) == ("mp3", 1, 44100)
    assert info.duration_s == pytest.approx(20 * 1152 / 44100, abs=0.01)
    speaker, bell = null_speaker
    speaker.play(path)
    assert speaker.is_playing
    wait_until(lambda: not speaker.is_playing)
    assert bell.rings == 0


def test_text_file_is_not_a_sound(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("call the customer before dispatching\n" * 20)
    with pytest.raises(SoundFileError) as caught:
        validate_sound_file(path)
    assert caught.value.problem == "not_audio"
    assert caught.value.path == path
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("make", [lambda tmp: tmp / "absent.wav", lambda tmp: tmp])
def test_missing_file_or_folder_is_unreadable(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    with pytest.raises(SoundFileError) as caught:
        validate_sound_file(make(tmp_path))
    assert caught.value.problem == "unreadable"
    assert "cannot read" in str(caught.value)


def test_empty_and_overlong_sounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SoundFileError) as caught:
        validate_sound_file(write_wav(tmp_path / "empty.wav", 0))
    assert caught.value.problem == "empty"
    with pytest.raises(SoundFileError) as caught:
        validate_sound_file(write_wav(tmp_path / "song.wav", 31 * 8000))
    assert caught.value.problem == "too_long"
    assert validate_sound_file(write_wav(tmp_path / "ok.wav", 29 * 8000)).duration_s == pytest.approx(29)


def test_detection_writes_nothing_to_the_terminal_and_falls_back_to_the_bell() -> None:
    bell = Bell()
    with captured_fd2() as written:
        backend = detect_backend(bell)
        if NO_SOUND_CARD:
            # The same in this process: ALSA's own error printer is replaced before opening.
            with pytest.raises(miniaudio.MiniaudioError):
                MiniaudioBackend.open(miniaudio.Backend.ALSA, bell)
        output = written()
    try:
        assert output == b""
        if NO_SOUND_CARD:
            assert (backend.kind, backend.name) == ("bell", "bell")
            backend.play(PACKAGE_SOUNDS / "critical.wav")
            assert bell.rings == 1
    finally:
        backend.close()


def test_probe_child_runs_cleanly_from_any_folder(tmp_path: Path) -> None:
    # A folder named like our package in the current directory must not shadow it.
    (tmp_path / "centinela").mkdir()
    (tmp_path / "centinela" / "__init__.py").write_text("")
    probe = subprocess.run(probe_command(), cwd=tmp_path, capture_output=True, text=True, timeout=10)
    assert "Traceback" not in probe.stderr
    if NO_SOUND_CARD:
        assert (probe.returncode, probe.stdout) == (1, "")
    else:
        assert probe.returncode == 0 and probe.stdout.strip() in miniaudio.Backend.__members__


def test_bell_backend_rings_for_any_sound() -> None:
    bell = Bell()
    backend = BellBackend(bell)
    backend.prepare([PACKAGE_SOUNDS / "high.wav"])
    backend.play(PACKAGE_SOUNDS / "high.wav")
    backend.play(Path("/nowhere/at/all.mp3"))
    backend.stop()
    assert bell.rings == 2


def test_speaker_plays_through_and_stops(null_speaker: tuple[MiniaudioBackend, Bell]) -> None:
    speaker, bell = null_speaker
    assert (speaker.kind, speaker.name) == ("speaker", "speaker (Null)")
    speaker.play(PACKAGE_SOUNDS / "critical.wav")
    assert speaker.is_playing
    speaker.stop()
    assert not speaker.is_playing
    speaker.play(PACKAGE_SOUNDS / "reminder.wav")
    started = time.monotonic()
    wait_until(lambda: not speaker.is_playing)
    assert time.monotonic() - started >= 0.3  # consumed at the device's pace, not dropped
    assert bell.rings == 0


def test_decoded_sound_is_kept_when_the_file_goes_away(
    tmp_path: Path, null_speaker: tuple[MiniaudioBackend, Bell]
) -> None:
    speaker, bell = null_speaker
    path = Path(shutil.copy(PACKAGE_SOUNDS / "high.wav", tmp_path / "custom.wav"))
    speaker.prepare([path])
    path.unlink()
    speaker.play(path)
    assert speaker.is_playing
    assert bell.rings == 0


def test_unplayable_sound_rings_the_bell_instead(
    tmp_path: Path, null_speaker: tuple[MiniaudioBackend, Bell]
) -> None:
    speaker, bell = null_speaker
    text = tmp_path / "broken.wav"
    text.write_text("not a sound")
    speaker.prepare([text, tmp_path / "absent.wav"])  # logs, never raises
    speaker.play(text)
    speaker.play(tmp_path / "absent.wav")
    assert bell.rings == 2
    assert not speaker.is_playing


def test_sound_names_resolve_in_the_package_then_the_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "sounds").mkdir(parents=True)
    own = write_wav(data_dir / "sounds" / "sirena.wav", 100)
    shadow = write_wav(data_dir / "sounds" / "critical.wav", 100)
    assert resolve_sound("critical.wav", data_dir) == PACKAGE_SOUNDS / "critical.wav" != shadow
    assert resolve_sound("sirena.wav", data_dir) == own
    assert resolve_sound(str(own), data_dir) == own
    assert resolve_sound("nada.wav", data_dir) is None
    assert resolve_sound(str(tmp_path / "nada.wav"), data_dir) is None

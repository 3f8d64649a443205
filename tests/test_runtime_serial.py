"""A Sur-Gard receiver configured on a serial port, end to end through the runtime and store."""

from __future__ import annotations

from pathlib import Path

from centinela.config import Config, ReceiverConfig, SerialPortConfig
from centinela.receiver.surgard import ACK
from centinela.runtime import Runtime
from tests.fake_surgard import CONTACT_ID, HEARTBEAT, FakeReceiver
from tests.helpers import add_monitored_customer, until


async def test_serial_message_is_stored_and_a_silent_link_raises_an_alarm(data_dir: Path) -> None:
    receiver = FakeReceiver()
    port = SerialPortConfig(device=receiver.device, heartbeat_timeout=0.6)
    runtime = Runtime(Config(data_dir=data_dir, receiver=ReceiverConfig(tcp=[], serial=[port])))
    await runtime.start()
    try:
        assert runtime.store is not None
        store = runtime.store
        await add_monitored_customer(store, "1234", "Joyería Real")
        receiver.send(HEARTBEAT)
        assert await receiver.answers(1) == ACK
        receiver.send(CONTACT_ID)
        assert await receiver.answers(1) == ACK
        (event,) = await store.recent_events(5)
        assert (event.protocol, event.account, event.code, event.zone, event.customer_name) == (
            "SG-CID", "1234", "130", "004", "Joyería Real")

        async def link_alarm() -> bool:
            return any(e.code == "LINK-LOST" for e in await store.recent_events(5))

        await until(link_alarm)
        lost = next(e for e in await store.recent_events(5) if e.code == "LINK-LOST")
        assert lost.receiver == f"serial://{receiver.device}" and lost.status == "new" and lost.priority == 2

        receiver.send(HEARTBEAT)
        assert await receiver.answers(1) == ACK

        async def link_back() -> bool:
            current = await store.get_event(lost.id)
            return current is not None and current.status == "resolved"

        await until(link_back)
    finally:
        await runtime.stop()
        receiver.close()

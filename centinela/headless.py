"""``centinela --headless``: the receiver and workers as a service, one log line per event."""

from __future__ import annotations

import asyncio
import logging
import signal

from centinela.collector import tune_collector
from centinela.config import Config
from centinela.data.records import EventRecord
from centinela.logs import setup_logging
from centinela.receiver.describe import describe_event
from centinela.receiver.logfmt import logfmt
from centinela.runtime import Runtime

log = logging.getLogger("centinela.events")


def event_log_line(event: EventRecord, lang: str) -> str:
    return logfmt("event", {
        "id": event.id,
        "account": event.account,
        "protocol": event.protocol,
        "code": event.code,
        "qualifier": event.qualifier,
        "zone": event.zone,
        "user": event.user,
        "partition": event.partition,
        "priority": event.priority,
        "status": event.status,
        "customer": event.customer_name,
        "unknown_account": event.unknown_account,
        "suspended": event.service_suspended,
        "description": describe_event(event.protocol, event.code, event.qualifier, lang),
    })


async def serve(runtime: Runtime, stop: asyncio.Event) -> None:
    await runtime.start()
    assert runtime.store is not None
    if not log.isEnabledFor(logging.INFO):
        # No event lines to write (formatting them costs more than storing the events): no
        # subscription, so no commit wakes a task here.
        try:
            await stop.wait()
        finally:
            await runtime.stop()
        return
    with runtime.store.events_hub.subscribe() as feed:
        async def report() -> None:
            while True:
                for event in (await feed.get()).added:
                    log.info(event_log_line(event, runtime.config.language))

        reporter = asyncio.create_task(report())
        try:
            await stop.wait()
        finally:
            log.info("stopping: closing listeners and flushing the store")
            await runtime.stop()
            reporter.cancel()
            for changes in feed.drain():
                for event in changes.added:
                    log.info(event_log_line(event, runtime.config.language))


def run_headless(config: Config, *, demo: bool, fixed_listeners: bool = False) -> int:
    setup_logging(config, to_stderr=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(Runtime(config, demo=demo, fixed_listeners=fixed_listeners), stop)

    tune_collector()
    asyncio.run(main())
    return 0

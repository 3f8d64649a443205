"""The blocking Odoo gateway as the asyncio sync code uses it: in a thread, one call at a time.

A gateway serves one thread at a time (see ``data/odoo_gateway.py``), while the sync worker's loop
and the billing worker's ``refresh_payments`` may both want Odoo at once: a lock hands the gateway
to one call after the other, so a refresh waits at most one RPC, never a whole pull. The link also
counts its calls (the benchmark's figure, and a sanity check in tests) and remembers which optional
fields the server has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from centinela.data.odoo_gateway import OdooGateway, OdooVersion

T = TypeVar("T")

# Ids per call when a list of ids travels in a domain or a read: large enough that the number of
# calls stays small, small enough that one request stays well under proxies' body limits.
IDS_PER_CALL = 5000


def chunks(ids: Iterable[int], size: int = IDS_PER_CALL) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


class OdooLink:
    def __init__(self, gateway: OdooGateway) -> None:
        self._gateway = gateway
        self._lock = asyncio.Lock()
        self._fields: dict[str, frozenset[str]] = {}
        self.calls = 0

    async def _run(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._lock:
            self.calls += 1
            return await asyncio.to_thread(method, *args, **kwargs)

    async def version(self) -> OdooVersion:
        return await self._run(self._gateway.version)

    async def login(self) -> int:
        return await self._run(self._gateway.login)

    async def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return await self._run(
            self._gateway.search_read, model, domain, fields, limit=limit, order=order, context=context
        )

    async def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        """Records by id, in as many calls as ``IDS_PER_CALL`` needs; ids that no longer exist are left out."""
        found: list[dict[str, Any]] = []
        for chunk in chunks(ids):
            found += await self._run(self._gateway.read, model, chunk, fields)
        return found

    async def create(self, model: str, vals_list: Sequence[Mapping[str, Any]]) -> list[int]:
        return await self._run(self._gateway.create, model, vals_list)

    async def write(self, model: str, ids: Sequence[int], vals: Mapping[str, Any]) -> bool:
        return await self._run(self._gateway.write, model, ids, vals)

    async def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._run(self._gateway.call, model, method, *args, **kwargs)

    async def fields_present(self, model: str, wanted: Iterable[str], optional: frozenset[str]) -> tuple[str, ...]:
        """``wanted`` without the ``optional`` fields this server's model lacks (asked once per link)."""
        wanted = tuple(wanted)
        if not optional & set(wanted):
            return wanted
        if model not in self._fields:
            described = await self.call(model, "fields_get", allfields=sorted(optional), attributes=["type"])
            self._fields[model] = frozenset(described)
        return tuple(name for name in wanted if name not in optional or name in self._fields[model])

"""What a router must change so that what carries our mark matches what billing wants (pure).

Billing says which targets of one router should be suspended and which should see a payment notice;
:meth:`RouterClient.managed_entries` says which of them the router has with our mark. The plan adds
the missing ones and undoes the stale ones. Entries without our mark never reach this module, so
they are never touched.

A target is compared by its value alone (IP addresses in RouterOS's spelling, see
:func:`canonical_target`): an address already suspended under another contract reference stays as
it is rather than being removed and added again. Removals come first, so a customer is let back
in as early as the batch allows; the order within each kind follows the target, so plans are
stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from centinela.billing.router import ActionKind, ManagedEntry, ManagedState, RouterAction, canonical_target

__all__ = ["STALE_REASON", "Wanted", "plan_actions"]

STALE_REASON: Final = "reconcile: no longer wanted"


@dataclass(frozen=True, slots=True)
class Wanted:
    """A target billing wants suspended (or noticed), for this contract and reason."""

    target: str
    contract_ref: str
    reason: str


def plan_actions(suspended: Iterable[Wanted], noticed: Iterable[Wanted], actual: ManagedState) -> list[RouterAction]:
    """The actions that turn ``actual`` into the wanted suspensions and notices."""
    suspend_adds, reconnects = _plan(suspended, actual.suspended, add="suspend", remove="reconnect")
    notice_adds, clears = _plan(noticed, actual.noticed, add="notice", remove="clear-notice")
    return [*reconnects, *clears, *suspend_adds, *notice_adds]


def _plan(
    wanted: Iterable[Wanted], present: Iterable[ManagedEntry], *, add: ActionKind, remove: ActionKind
) -> tuple[list[RouterAction], list[RouterAction]]:
    wanted_by_target: dict[str, Wanted] = {}
    for item in wanted:
        wanted_by_target.setdefault(canonical_target(item.target), item)
    present_by_target: dict[str, ManagedEntry] = {}
    for entry in sorted(present, key=lambda entry: (entry.target, entry.contract_ref)):
        present_by_target.setdefault(canonical_target(entry.target), entry)
    adds = [
        RouterAction(add, target, item.contract_ref, item.reason)
        for target, item in sorted(wanted_by_target.items())
        if target not in present_by_target
    ]
    removes = [
        RouterAction(remove, target, entry.contract_ref, STALE_REASON)
        for target, entry in sorted(present_by_target.items())
        if target not in wanted_by_target
    ]
    return adds, removes

"""Planning router actions from wanted vs. marked state, and the plan applied to a real API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from centinela.billing.reconcile import STALE_REASON, Wanted, plan_actions
from centinela.billing.router import (
    LibrouterosClient,
    ManagedEntry,
    ManagedState,
    Method,
    RouterAction,
    RouterConfig,
)
from tests.fake_routeros import ADDRESS_LIST, PPP_ACTIVE, PPP_SECRET, FakeRouterOS


def entries(*pairs: tuple[str, str]) -> frozenset[ManagedEntry]:
    return frozenset(ManagedEntry(target, ref) for target, ref in pairs)


def test_nothing_to_do_when_the_router_matches() -> None:
    actual = ManagedState(suspended=entries(("10.0.0.5", "C-1")), noticed=entries(("10.0.0.6", "C-2")))
    assert plan_actions([Wanted("10.0.0.5", "C-1", "overdue")], [Wanted("10.0.0.6", "C-2", "due")], actual) == []


def test_missing_are_added_and_stale_removed_removals_first() -> None:
    actual = ManagedState(
        suspended=entries(("10.0.0.9", "C-9"), ("10.0.0.5", "C-1")),
        noticed=entries(("10.0.0.8", "C-8")),
    )
    plan = plan_actions(
        [Wanted("10.0.0.7", "C-7", "overdue"), Wanted("10.0.0.5", "C-1", "overdue"), Wanted("10.0.0.3", "C-3", "x")],
        [Wanted("10.0.0.4", "C-4", "due in 3 days")],
        actual,
    )
    assert plan == [
        RouterAction("reconnect", "10.0.0.9", "C-9", STALE_REASON),
        RouterAction("clear-notice", "10.0.0.8", "C-8", STALE_REASON),
        RouterAction("suspend", "10.0.0.3", "C-3", "x"),
        RouterAction("suspend", "10.0.0.7", "C-7", "overdue"),
        RouterAction("notice", "10.0.0.4", "C-4", "due in 3 days"),
    ]


def test_targets_compare_by_value_not_by_contract_or_spelling() -> None:
    actual = ManagedState(suspended=entries(("10.0.0.5", "C-OLD")))
    wanted = [Wanted("10.0.0.5/32", "C-NEW", "overdue"), Wanted("10.0.0.5", "C-OTHER", "overdue")]
    assert plan_actions(wanted, [], actual) == []


def test_a_duplicate_wanted_target_is_planned_once_with_the_first_contract() -> None:
    wanted = [Wanted("juan", "C-1", "overdue"), Wanted("juan", "C-2", "overdue")]
    assert plan_actions(wanted, [], ManagedState()) == [RouterAction("suspend", "juan", "C-1", "overdue")]


def test_everything_stale_when_nothing_is_wanted() -> None:
    actual = ManagedState(suspended=entries(("ana", "C-2"), ("juan", "C-1")))
    assert plan_actions([], [], actual) == [
        RouterAction("reconnect", "ana", "C-2", STALE_REASON),
        RouterAction("reconnect", "juan", "C-1", STALE_REASON),
    ]


# --- round trip through a real RouterOS API server ------------------------------------------------------


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username="centinela", password="pw") as fake:
        yield fake
    assert fake.errors == []


def client_for(router: FakeRouterOS, method: Method, notice_list: str | None = None) -> LibrouterosClient:
    config = RouterConfig(
        name="torre",
        host=router.host,
        port=router.port,
        tls=False,
        username="centinela",
        password="pw",
        method=method,
        notice_list=notice_list,
        timeout=2,
    )
    return LibrouterosClient(config)


def reconcile(client: LibrouterosClient, suspended: list[Wanted], noticed: list[Wanted]) -> list[RouterAction]:
    plan = plan_actions(suspended, noticed, client.managed_entries())
    assert all(result.ok for result in client.apply(plan))
    return plan


def test_address_list_round_trip_leaves_foreign_entries_alone(router: FakeRouterOS) -> None:
    router.add_address_list_entry("morosos", "10.0.0.1", comment="[centinela:C-1]")  # stale
    router.add_address_list_entry("morosos", "10.0.0.2", comment="[centinela:C-2]")  # still wanted
    router.add_address_list_entry("morosos", "10.0.0.3", comment="bloqueo manual")  # not ours
    router.add_address_list_entry("avisos", "10.0.0.4", comment="[centinela:C-4]")  # stale notice
    foreign = [row for row in router.rows(ADDRESS_LIST) if row.get("comment") == "bloqueo manual"]
    client = client_for(router, "address-list", notice_list="avisos")
    suspended = [Wanted("10.0.0.2", "C-2", "overdue"), Wanted("10.0.0.5", "C-5", "overdue")]
    noticed = [Wanted("10.0.0.6", "C-6", "due in 3 days")]

    plan = reconcile(client, suspended, noticed)
    assert [(action.action, action.target) for action in plan] == [
        ("reconnect", "10.0.0.1"),
        ("clear-notice", "10.0.0.4"),
        ("suspend", "10.0.0.5"),
        ("notice", "10.0.0.6"),
    ]
    assert client.managed_entries() == ManagedState(
        suspended=entries(("10.0.0.2", "C-2"), ("10.0.0.5", "C-5")),
        noticed=entries(("10.0.0.6", "C-6")),
    )
    assert [row for row in router.rows(ADDRESS_LIST) if row.get("comment") == "bloqueo manual"] == foreign
    assert reconcile(client, suspended, noticed) == []


def test_ppp_secret_round_trip(router: FakeRouterOS) -> None:
    router.add_secret("ana", comment="[centinela:C-2] Ana", disabled=True)  # paid meanwhile
    router.add_secret("juan", comment="Juan")
    router.add_secret("pedro", comment="sin marca", disabled=True)  # disabled by someone else
    router.add_active("juan", "100.64.0.7")
    client = client_for(router, "ppp-secret")

    plan = reconcile(client, [Wanted("juan", "C-1", "overdue")], [])
    assert [(action.action, action.target) for action in plan] == [("reconnect", "ana"), ("suspend", "juan")]
    secrets = {row["name"]: (row["disabled"], row.get("comment")) for row in router.rows(PPP_SECRET)}
    assert secrets == {
        "ana": ("false", "Ana"),
        "juan": ("true", "[centinela:C-1] Juan"),
        "pedro": ("true", "sin marca"),
    }
    assert router.rows(PPP_ACTIVE) == []
    assert reconcile(client, [Wanted("juan", "C-1", "overdue")], []) == []

    reconcile(client, [], [])
    assert {row["name"]: row["disabled"] for row in router.rows(PPP_SECRET)} == {
        "ana": "false",
        "juan": "false",
        "pedro": "true",
    }

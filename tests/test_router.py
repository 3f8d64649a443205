"""LibrouterosClient against the fake RouterOS server over real sockets (plain and API-SSL)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from centinela.billing.router import (
    ActionResult,
    LibrouterosClient,
    ManagedEntry,
    ManagedState,
    Method,
    RouterAction,
    RouterConfig,
    RouterError,
)
from tests.fake_routeros import ADDRESS_LIST, PPP_ACTIVE, PPP_SECRET, FakeRouterOS

USER, PASSWORD = "centinela", "s3cret"


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username=USER, password=PASSWORD) as fake:
        yield fake
    assert fake.errors == []


def config_for(
    router: FakeRouterOS,
    method: Method = "address-list",
    *,
    password: str = PASSWORD,
    notice_list: str | None = None,
    timeout: float = 2,
) -> RouterConfig:
    return RouterConfig(
        name="torre-norte",
        host=router.host,
        port=router.port,
        tls=False,
        username=USER,
        password=password,
        method=method,
        notice_list=notice_list,
        timeout=timeout,
    )


def suspend(target: str, ref: str = "C-1") -> RouterAction:
    return RouterAction("suspend", target, ref, "overdue")


def reconnect(target: str, ref: str = "C-1") -> RouterAction:
    return RouterAction("reconnect", target, ref, "paid")


def oks(results: list[ActionResult]) -> list[bool]:
    return [result.ok for result in results]


def listed(router: FakeRouterOS, list_name: str = "morosos") -> dict[str, str | None]:
    return {row["address"]: row.get("comment") for row in router.rows(ADDRESS_LIST) if row["list"] == list_name}


# --- login and configuration ------------------------------------------------------------------------


def test_login_and_an_empty_router(router: FakeRouterOS) -> None:
    assert LibrouterosClient(config_for(router)).managed_entries() == ManagedState()
    assert router.commands == ["/login", "/ip/firewall/address-list/print"]


def test_a_refused_login_fails_every_action_and_managed_entries(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router, password="wrong"))
    results = client.apply([suspend("10.0.0.5"), reconnect("10.0.0.6")])
    assert oks(results) == [False, False]
    for result in results:
        assert result.error is not None
        assert "refused the login" in result.error
        assert "invalid user name or password" in result.error
    with pytest.raises(RouterError, match="refused the login"):
        client.managed_entries()
    assert listed(router) == {}


def test_config_defaults_and_validation() -> None:
    def config(port: int | None, tls: bool, method: Method = "address-list", notice: str | None = None) -> RouterConfig:
        return RouterConfig("r", "192.0.2.1", port, tls, "u", "hunter2", method, notice_list=notice)

    assert config(None, tls=False).api_port == 8728
    assert config(None, tls=True).api_port == 8729
    assert config(18728, tls=True).api_port == 18728
    assert "hunter2" not in repr(config(None, tls=False))
    with pytest.raises(ValueError, match="notices need the address-list method"):
        config(None, tls=False, method="ppp-secret", notice="avisos")
    with pytest.raises(ValueError, match="must differ"):
        config(None, tls=False, notice="morosos")
    with pytest.raises(ValueError, match="the password cannot be sent") as refused:
        RouterConfig("r", "192.0.2.1", None, False, "u", "contraseña€", "address-list")
    assert "contraseña" not in str(refused.value)
    with pytest.raises(ValueError, match="only Latin-1"):
        RouterAction("suspend", "usuario€", "C-1", "overdue")
    with pytest.raises(ValueError, match="cannot be put in a mark"):
        RouterAction("suspend", "10.0.0.5", "C]1", "overdue")


# --- address-list method ------------------------------------------------------------------------------


def test_suspend_then_reconnect_on_one_connection_each(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router))
    assert oks(client.apply([suspend("10.0.0.5"), suspend("10.0.0.6/32", "C-2")])) == [True, True]
    assert listed(router) == {"10.0.0.5": "[centinela:C-1]", "10.0.0.6": "[centinela:C-2]"}
    assert router.connections == 1
    assert client.managed_entries() == ManagedState(
        suspended=frozenset({ManagedEntry("10.0.0.5", "C-1"), ManagedEntry("10.0.0.6", "C-2")})
    )

    assert oks(client.apply([reconnect("10.0.0.5")])) == [True]
    assert listed(router) == {"10.0.0.6": "[centinela:C-2]"}
    assert router.connections == 3


def test_suspend_and_reconnect_are_idempotent(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router))
    assert oks(client.apply([suspend("10.0.0.5"), suspend("10.0.0.5")])) == [True, True]
    assert oks(client.apply([suspend("10.0.0.5")])) == [True]
    assert listed(router) == {"10.0.0.5": "[centinela:C-1]"}
    assert oks(client.apply([reconnect("10.0.0.5"), reconnect("10.0.0.5")])) == [True, True]
    assert oks(client.apply([reconnect("10.0.0.5")])) == [True]
    assert listed(router) == {}


def test_entries_we_did_not_create_are_never_touched(router: FakeRouterOS) -> None:
    router.add_address_list_entry("morosos", "10.0.0.5", comment="bloqueado a mano")
    router.add_address_list_entry("morosos", "10.0.0.7")
    router.add_address_list_entry("otra-lista", "10.0.0.6", comment="[centinela:C-9]")
    before = router.rows(ADDRESS_LIST)
    client = LibrouterosClient(config_for(router))

    # Already listed by someone else: the address is blocked, which is what suspend asks.
    assert oks(client.apply([suspend("10.0.0.5"), reconnect("10.0.0.7"), reconnect("10.0.0.6")])) == [
        True,
        True,
        True,
    ]
    assert router.rows(ADDRESS_LIST) == before
    assert client.managed_entries() == ManagedState()

    assert oks(client.apply([suspend("10.0.0.8"), reconnect("10.0.0.5")])) == [True, True]
    assert listed(router) == {"10.0.0.5": "bloqueado a mano", "10.0.0.7": None, "10.0.0.8": "[centinela:C-1]"}


def test_notices_go_to_their_own_list(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router, notice_list="avisos"))
    results = client.apply([RouterAction("notice", "10.0.0.5", "C-1", "due in 3 days"), suspend("10.0.0.6", "C-2")])
    assert oks(results) == [True, True]
    assert listed(router, "avisos") == {"10.0.0.5": "[centinela:C-1]"}
    assert client.managed_entries() == ManagedState(
        suspended=frozenset({ManagedEntry("10.0.0.6", "C-2")}),
        noticed=frozenset({ManagedEntry("10.0.0.5", "C-1")}),
    )
    assert oks(client.apply([RouterAction("clear-notice", "10.0.0.5", "C-1", "paid")])) == [True]
    assert listed(router, "avisos") == {}
    assert listed(router) == {"10.0.0.6": "[centinela:C-2]"}


def test_actions_the_setup_cannot_carry_out_fail_without_connecting(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router))
    results = client.apply([RouterAction("notice", "10.0.0.5", "C-1", "due"), suspend("juan"), suspend("2001:db8::1")])
    assert [(result.ok, result.error) for result in results] == [
        (False, "router 'torre-norte' has no notice list"),
        (False, "'juan' is not an IPv4 address"),
        (False, "'2001:db8::1' is not an IPv4 address"),
    ]
    assert router.connections == 0


def test_a_trapped_command_fails_only_its_own_action(router: FakeRouterOS) -> None:
    router.add_address_list_entry("morosos", "10.0.0.6", comment="[centinela:C-2]")
    router.inject_trap("/ip/firewall/address-list/add", "not enough permissions (9)", category=4)
    client = LibrouterosClient(config_for(router))
    results = client.apply([suspend("10.0.0.5"), reconnect("10.0.0.6", "C-2")])
    assert [(result.ok, result.error) for result in results] == [(False, "not enough permissions (9)"), (True, None)]
    assert listed(router) == {}


# --- ppp-secret method --------------------------------------------------------------------------------


def test_ppp_suspend_disables_marks_and_disconnects_then_reconnect_restores(router: FakeRouterOS) -> None:
    router.add_secret("juan", password="x", comment="Juan Peña, torre norte")
    router.add_secret("ana", password="y")
    router.add_active("juan", "100.64.0.7")
    router.add_active("ana", "100.64.0.8")
    client = LibrouterosClient(config_for(router, "ppp-secret"))

    assert oks(client.apply([suspend("juan")])) == [True]
    secrets = {row["name"]: row for row in router.rows(PPP_SECRET)}
    assert secrets["juan"]["disabled"] == "true"
    assert secrets["juan"]["comment"] == "[centinela:C-1] Juan Peña, torre norte"
    assert secrets["ana"]["disabled"] == "false"
    assert [row["name"] for row in router.rows(PPP_ACTIVE)] == ["ana"]
    assert client.managed_entries() == ManagedState(suspended=frozenset({ManagedEntry("juan", "C-1")}))

    assert oks(client.apply([reconnect("juan")])) == [True]
    juan = next(row for row in router.rows(PPP_SECRET) if row["name"] == "juan")
    assert juan["disabled"] == "false"
    assert juan["comment"] == "Juan Peña, torre norte"
    assert client.managed_entries() == ManagedState()


def test_ppp_batch_reads_once_and_uses_one_connection(router: FakeRouterOS) -> None:
    for name in ("1001", "1002", "1003"):
        router.add_secret(name)
        router.add_active(name, "100.64.0.1")
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    assert oks(client.apply([suspend("1001"), suspend("1002", "C-2"), suspend("1003", "C-3")])) == [True] * 3
    assert router.connections == 1
    assert router.commands == [
        "/login",
        "/ppp/secret/print",
        "/ppp/active/print",
        *["/ppp/secret/set", "/ppp/active/remove"] * 3,
    ]
    assert {row["comment"] for row in router.rows(PPP_SECRET)} == {
        "[centinela:C-1]",
        "[centinela:C-2]",
        "[centinela:C-3]",
    }
    assert oks(client.apply([reconnect("1001"), reconnect("1002", "C-2"), reconnect("1003", "C-3")])) == [True] * 3
    assert all("comment" not in row and row["disabled"] == "false" for row in router.rows(PPP_SECRET))


def test_ppp_comment_text_comes_back_exactly(router: FakeRouterOS) -> None:
    router.add_secret("007", comment="yes")
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    assert oks(client.apply([suspend("007")])) == [True]
    assert router.rows(PPP_SECRET)[0]["comment"] == "[centinela:C-1] yes"
    assert oks(client.apply([reconnect("007")])) == [True]
    assert router.rows(PPP_SECRET)[0]["comment"] == "yes"


def test_ppp_a_secret_someone_else_disabled_stays_theirs(router: FakeRouterOS) -> None:
    router.add_secret("pedro", comment="baja administrativa", disabled=True)
    router.add_active("pedro", "100.64.0.9")
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    assert oks(client.apply([suspend("pedro")])) == [True]
    assert router.rows(PPP_SECRET)[0]["comment"] == "baja administrativa"
    assert router.rows(PPP_ACTIVE) == []  # the customer is off, which suspend promises
    assert client.managed_entries() == ManagedState()
    assert oks(client.apply([reconnect("pedro")])) == [True]
    assert router.rows(PPP_SECRET)[0]["disabled"] == "true"


def test_ppp_suspending_again_keeps_one_mark_and_ends_new_sessions(router: FakeRouterOS) -> None:
    router.add_secret("juan", comment="Juan")
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    assert oks(client.apply([suspend("juan")])) == [True]
    router.add_active("juan", "100.64.0.7")  # e.g. an operator enabled it by hand meanwhile
    assert oks(client.apply([suspend("juan"), suspend("juan")])) == [True, True]
    assert router.rows(PPP_SECRET)[0]["comment"] == "[centinela:C-1] Juan"
    assert router.rows(PPP_ACTIVE) == []


def test_ppp_unknown_secret(router: FakeRouterOS) -> None:
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    results = client.apply([suspend("nadie"), reconnect("nadie")])
    assert [(result.ok, result.error) for result in results] == [(False, "no PPP secret named 'nadie'"), (True, None)]


def test_ppp_a_session_that_cannot_be_removed_fails_the_suspend(router: FakeRouterOS) -> None:
    router.add_secret("juan")
    router.add_active("juan", "100.64.0.7")
    router.inject_trap("/ppp/active/remove", "failure: busy")
    client = LibrouterosClient(config_for(router, "ppp-secret"))
    [result] = client.apply([suspend("juan")])
    assert (result.ok, result.error) == (False, "failure: busy")


# --- unreachable, slow, stalled and dropped routers ---------------------------------------------------


def test_a_closed_port_fails_every_action(router: FakeRouterOS) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = RouterConfig(
        name="apagado",
        host="127.0.0.1",
        port=closed_port,
        tls=False,
        username=USER,
        password=PASSWORD,
        method="address-list",
        timeout=2,
    )
    results = LibrouterosClient(config).apply([suspend("10.0.0.5"), reconnect("10.0.0.6")])
    assert oks(results) == [False, False]
    assert all(f"127.0.0.1:{closed_port}" in str(r.error) and "refused" in str(r.error) for r in results)


def test_a_router_that_closes_at_once_fails_every_action(router: FakeRouterOS) -> None:
    router.refuse_connections = True
    results = LibrouterosClient(config_for(router)).apply([suspend("10.0.0.5")])
    assert oks(results) == [False]
    assert "connection lost" in str(results[0].error)


@pytest.mark.parametrize("stall_after", [0, 1])
def test_a_stalled_router_times_out(router: FakeRouterOS, stall_after: int) -> None:
    router.stall_after = stall_after  # 0: silent at login, 1: silent after it
    client = LibrouterosClient(config_for(router, timeout=0.3))
    results = client.apply([suspend("10.0.0.5"), suspend("10.0.0.6")])
    assert [(result.ok, result.error) for result in results] == [
        (False, f"router 'torre-norte' ({router.host}:{router.port}): no answer within 0.3 s")
    ] * 2
    with pytest.raises(RouterError, match=r"no answer within 0\.3 s"):
        client.managed_entries()


def test_a_slow_router_within_the_timeout_is_fine(router: FakeRouterOS) -> None:
    router.reply_delay = 0.05
    assert oks(LibrouterosClient(config_for(router, timeout=1)).apply([suspend("10.0.0.5")])) == [True]


def test_a_dropped_connection_keeps_what_the_router_confirmed(router: FakeRouterOS) -> None:
    router.drop_after = 2  # the login and the first add are answered
    results = LibrouterosClient(config_for(router)).apply(
        [suspend("10.0.0.5"), suspend("10.0.0.6"), suspend("10.0.0.7")]
    )
    assert oks(results) == [True, False, False]
    assert "connection lost: Connection unexpectedly closed" in str(results[1].error)
    assert listed(router) == {"10.0.0.5": "[centinela:C-1]"}


# --- API-SSL ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def router_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, as `/certificate add` + `sign` makes on a router."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("api-ssl")
    paths = Certificate(folder / "router.pem", folder / "router.key")
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def tls_router(router_certificate: Certificate) -> Iterator[FakeRouterOS]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(router_certificate.cert_file, router_certificate.key_file)
    with FakeRouterOS(username=USER, password=PASSWORD, tls=context) as fake:
        yield fake
    assert fake.errors == []


def tls_config(router: FakeRouterOS, ca_file: Path | None) -> RouterConfig:
    return RouterConfig(
        name="torre-sur",
        host=router.host,
        port=router.port,
        tls=True,
        username=USER,
        password=PASSWORD,
        method="address-list",
        timeout=2,
        tls_ca_file=None if ca_file is None else str(ca_file),
    )


def test_api_ssl_with_the_routers_certificate(tls_router: FakeRouterOS, router_certificate: Certificate) -> None:
    client = LibrouterosClient(tls_config(tls_router, router_certificate.cert_file))
    assert oks(client.apply([suspend("10.0.0.5")])) == [True]
    assert client.managed_entries() == ManagedState(suspended=frozenset({ManagedEntry("10.0.0.5", "C-1")}))


def test_api_ssl_refuses_a_certificate_it_cannot_verify(tls_router: FakeRouterOS) -> None:
    [result] = LibrouterosClient(tls_config(tls_router, None)).apply([suspend("10.0.0.5")])
    assert not result.ok
    assert "TLS failed" in str(result.error)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result.error)
    assert listed(tls_router) == {}


def test_api_ssl_with_a_missing_ca_file_fails_before_connecting(tls_router: FakeRouterOS, tmp_path: Path) -> None:
    [result] = LibrouterosClient(tls_config(tls_router, tmp_path / "absent.pem")).apply([suspend("10.0.0.5")])
    assert not result.ok
    assert "cannot load" in str(result.error)
    assert tls_router.connections == 0

"""Both Odoo transports against the fake Odoo over real HTTP: what the sync code sees, and which error
class each failure becomes (that class decides between retrying later and parking the item)."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from centinela.data.odoo_gateway import (
    Json2Gateway,
    JsonRpcGateway,
    OdooAuthError,
    OdooError,
    OdooGateway,
    OdooRejected,
    OdooSettings,
    OdooUnavailable,
    OdooVersion,
    open_gateway,
)
from tests.fake_odoo import USER_ERROR, FakeFault, FakeOdoo

API_KEY = "0123456789abcdef0123456789abcdef01234567"

# Server versions every shared behaviour is checked on: "auto" picks JSON-RPC for 18, JSON-2 for 19.
TRANSPORTS = [pytest.param("18.0", id="jsonrpc-18"), pytest.param("19.0", id="json2-19")]


def settings_for(fake: FakeOdoo, *, secret: str = API_KEY, **extra: Any) -> OdooSettings:
    return OdooSettings(url=fake.url, database=fake.database, user="sync", secret=secret, **extra)


def seeded(fake: FakeOdoo) -> FakeOdoo:
    fake.add_user("sync", password="secreto", api_keys=[API_KEY])
    fake.seed(
        "res.partner",
        [
            {"name": "Ana", "ref": "C-001", "city": "Lima", "active": True},
            {"name": "Bruno", "ref": "C-002", "city": "Cusco", "active": True},
            {"name": "Carla", "ref": "C-003", "city": "Lima", "active": True},
            {"name": "Dario", "ref": "C-004", "city": "Lima", "active": False},
        ],
    )
    return fake


@pytest.fixture(params=TRANSPORTS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeOdoo]:
    with FakeOdoo(version=request.param) as server:
        yield seeded(server)


@pytest.fixture
def gateway(fake: FakeOdoo) -> OdooGateway:
    return open_gateway(settings_for(fake))


@pytest.fixture
def fake18() -> Iterator[FakeOdoo]:
    with FakeOdoo(version="18.0") as server:
        yield seeded(server)


@pytest.fixture
def fake19() -> Iterator[FakeOdoo]:
    with FakeOdoo(version="19.0") as server:
        yield seeded(server)


# -- selection and login -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [("17.0", JsonRpcGateway), ("18.0", JsonRpcGateway), ("saas~18.2", JsonRpcGateway), ("19.0", Json2Gateway)],
)
def test_auto_picks_the_transport_from_the_server_version(version: str, expected: type[OdooGateway]) -> None:
    with FakeOdoo(version=version) as server:
        gateway = open_gateway(settings_for(seeded(server)))
        assert type(gateway) is expected
        assert gateway.version().major == int(version.split("~")[-1].split(".")[0])
        assert gateway.login() == 3


def test_version_reports_the_server_string_and_tuple(gateway: OdooGateway, fake: FakeOdoo) -> None:
    version = gateway.version()
    assert version.server_version == fake.version
    assert version.version_info == (fake.major, 0, 0, "final", 0, "")


def test_saas_versions_parse_their_major() -> None:
    assert OdooVersion("saas~18.2", ("saas~18", 2, 0, "final", 0, "")).major == 18


@pytest.mark.parametrize("secret", ["secreto", API_KEY])
def test_jsonrpc_logs_in_with_a_password_or_an_api_key(fake18: FakeOdoo, secret: str) -> None:
    gateway = JsonRpcGateway(settings_for(fake18, secret=secret))
    assert gateway.login() == 3
    assert fake18.calls["common.login"] == 1  # the non-interactive RPC login, where API keys are accepted


def test_json2_logs_in_with_the_api_key(fake19: FakeOdoo) -> None:
    assert Json2Gateway(settings_for(fake19)).login() == 3
    assert fake19.calls["res.users.context_get"] == 1


def test_json2_refuses_a_password(fake19: FakeOdoo) -> None:
    with pytest.raises(OdooAuthError, match="Invalid apikey"):
        Json2Gateway(settings_for(fake19, secret="secreto")).login()


def test_wrong_secret_is_an_auth_error(gateway: OdooGateway, fake: FakeOdoo) -> None:
    wrong = open_gateway(settings_for(fake, secret="nope"))
    with pytest.raises(OdooAuthError):
        wrong.login()
    with pytest.raises(OdooAuthError):
        wrong.search_read("res.partner", [], ["name"])


def test_unknown_database_is_an_auth_error(fake18: FakeOdoo) -> None:
    gateway = JsonRpcGateway(OdooSettings(fake18.url, "otra", "sync", API_KEY))
    with pytest.raises(OdooAuthError, match='database "otra" does not exist'):
        gateway.login()


def test_a_key_revoked_mid_session_is_an_auth_error(gateway: OdooGateway, fake: FakeOdoo) -> None:
    gateway.login()
    fake.add_user("sync", password="secreto", uid=3)  # the same user, now without the API key
    with pytest.raises(OdooAuthError):
        gateway.search_read("res.partner", [], ["name"])


def test_json2_on_odoo_18_says_the_server_lacks_it(fake18: FakeOdoo) -> None:
    with pytest.raises(OdooError, match="no JSON-2 API") as raised:
        Json2Gateway(settings_for(fake18)).login()
    assert type(raised.value) is OdooError  # neither retry nor park: the settings are wrong


def test_settings_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="root"):
        JsonRpcGateway(OdooSettings("https://erp.example.com/odoo", "db", "u", "k"))
    with pytest.raises(ValueError, match="http"):
        open_gateway(OdooSettings("erp.example.com", "db", "u", "k", transport="json2"))
    with pytest.raises(ValueError, match="unknown Odoo transport"):
        open_gateway(OdooSettings("https://erp.example.com", "db", "u", "k", transport="xmlrpc"))


# -- reading and writing -------------------------------------------------------------------------


def test_search_read_with_domain_limit_offset_and_order(gateway: OdooGateway) -> None:
    lima = [("city", "=", "Lima")]
    assert gateway.search_read("res.partner", lima, ["name"]) == [{"id": 1, "name": "Ana"}, {"id": 3, "name": "Carla"}]
    rows = gateway.search_read(
        "res.partner", ["|", ("ref", "=", "C-001"), ("name", "ilike", "RUN")], ["ref"], order="ref desc"
    )
    assert [row["ref"] for row in rows] == ["C-002", "C-001"]
    page = gateway.search_read("res.partner", [], ["name"], order="name desc", limit=2, offset=1)
    assert [row["name"] for row in page] == ["Bruno", "Ana"]


def test_search_read_context_shows_archived_records(gateway: OdooGateway) -> None:
    rows = gateway.search_read("res.partner", [("city", "=", "Lima")], ["name"], context={"active_test": False})
    assert [row["name"] for row in rows] == ["Ana", "Carla", "Dario"]


def test_create_write_read(gateway: OdooGateway, fake: FakeOdoo) -> None:
    ids = gateway.create("res.partner", [{"name": "Eva", "ref": "C-005"}, {"name": "Fito", "ref": "C-006"}])
    assert ids == [5, 6]
    assert gateway.create("res.partner", [{"name": "Gus"}]) == [7]  # one record still comes back as a list
    assert gateway.create("res.partner", []) == []
    assert gateway.write("res.partner", ids, {"city": "Piura"}) is True
    assert gateway.read("res.partner", [6, 5], ["name", "city"]) == [
        {"id": 6, "name": "Fito", "city": "Piura"},
        {"id": 5, "name": "Eva", "city": "Piura"},
    ]
    assert fake.record("res.partner", 5)["write_uid"] == 3


def test_calls_grow_with_batches_not_records(gateway: OdooGateway, fake: FakeOdoo) -> None:
    gateway.login()
    fake.reset_calls()
    gateway.create("res.partner", [{"name": f"Cliente {n}"} for n in range(200)])
    gateway.search_read("res.partner", [("name", "like", "Cliente")], ["name"])
    assert fake.calls["res.partner.create"] == 1 and fake.calls["res.partner.search_read"] == 1
    assert sum(fake.calls.values()) == 4  # the two calls, each counted once more as execute_kw or json2


def test_call_posts_to_the_chatter(gateway: OdooGateway, fake: FakeOdoo) -> None:
    posted = gateway.call("res.partner", "message_post", [2], body="Pago registrado", message_type="comment")
    (message,) = fake.chatter("res.partner", 2)
    # JSON-RPC gives the new message's id, JSON-2 the ids of the new message recordset.
    assert posted in (message["id"], [message["id"]])
    assert (message["body"], message["message_type"], message["author_uid"]) == ("Pago registrado", "comment", 3)


def test_call_runs_a_business_method(gateway: OdooGateway, fake: FakeOdoo) -> None:
    fake.add_model("account.move")
    (move,) = fake.seed("account.move", [{"state": "draft"}])

    def action_post(server: FakeOdoo, ids: list[int]) -> bool:
        server.update("account.move", ids, {"state": "posted"})
        return True

    fake.register_method("account.move", "action_post", action_post)
    assert gateway.call("account.move", "action_post", [move]) is True
    assert fake.record("account.move", move)["state"] == "posted"


def test_json2_call_takes_only_ids_positionally(fake19: FakeOdoo) -> None:
    gateway = Json2Gateway(settings_for(fake19))
    with pytest.raises(TypeError, match="by name"):
        gateway.call("res.partner", "write", [1], {"name": "x"})
    assert gateway.call("res.partner", "write", 1, vals={"name": "Ana María"}) is True
    assert fake19.record("res.partner", 1)["name"] == "Ana María"


# -- refusals: the caller parks the item ---------------------------------------------------------


def test_access_error_is_rejected(gateway: OdooGateway, fake: FakeOdoo) -> None:
    fake.deny("account.payment", login="sync")
    fake.add_model("account.payment")
    with pytest.raises(OdooRejected) as raised:
        gateway.create("account.payment", [{"amount": 10}])
    assert raised.value.name == "odoo.exceptions.AccessError"
    assert "not allowed to create" in raised.value.message


def test_validation_error_is_rejected(gateway: OdooGateway, fake: FakeOdoo) -> None:
    fake.add_model("contract.contract", required={"partner_id"})
    with pytest.raises(OdooRejected) as raised:
        gateway.create("contract.contract", [{"name": "Internet 20 Mbps"}])
    assert raised.value.name == "odoo.exceptions.ValidationError"
    assert fake.records("contract.contract") == []


def test_user_error_from_a_business_method_is_rejected(gateway: OdooGateway, fake: FakeOdoo) -> None:
    def action_post(server: FakeOdoo, ids: list[int]) -> bool:
        raise FakeFault(USER_ERROR, "El asiento ya está publicado.")

    fake.register_method("res.partner", "action_post", action_post)
    with pytest.raises(OdooRejected, match="ya está publicado") as raised:
        gateway.call("res.partner", "action_post", [1])
    assert raised.value.name == USER_ERROR


def test_missing_record_and_unknown_model_are_rejected(gateway: OdooGateway) -> None:
    with pytest.raises(OdooRejected, match="MissingError"):
        gateway.write("res.partner", [99], {"name": "x"})
    with pytest.raises(OdooRejected):
        gateway.search_read("project.task.nonexistent", [], ["name"])


# -- outages: the caller keeps the work queued and retries ---------------------------------------


def test_stopped_server_is_unavailable_and_a_restart_works_again(gateway: OdooGateway, fake: FakeOdoo) -> None:
    gateway.login()
    fake.stop()
    with pytest.raises(OdooUnavailable):
        gateway.search_read("res.partner", [], ["name"])
    with pytest.raises(OdooUnavailable):
        gateway.version()
    with pytest.raises(OdooUnavailable):
        open_gateway(settings_for(fake))
    fake.start()
    assert len(gateway.search_read("res.partner", [], ["name"])) == 3


def test_timeout_is_unavailable(fake: FakeOdoo) -> None:
    gateway = open_gateway(settings_for(fake, timeout=0.2))
    gateway.login()
    fake.latency = 0.5
    with pytest.raises(OdooUnavailable):
        gateway.search_read("res.partner", [], ["name"])


@pytest.mark.parametrize("status", [502, 503, 404])
def test_proxy_error_pages_are_unavailable(gateway: OdooGateway, fake: FakeOdoo, status: int) -> None:
    gateway.login()
    fake.proxy_status = status
    with pytest.raises(OdooUnavailable, match=str(status)):
        gateway.search_read("res.partner", [], ["name"])


def test_a_maintenance_page_with_status_200_is_unavailable(gateway: OdooGateway, fake: FakeOdoo) -> None:
    gateway.login()
    fake.proxy_status = 200
    with pytest.raises(OdooUnavailable):
        gateway.search_read("res.partner", [], ["name"])


@pytest.mark.parametrize(
    "name", ["psycopg2.errors.SerializationFailure", "psycopg2.OperationalError", "odoo.exceptions.LockError"]
)
def test_transient_server_errors_are_unavailable(gateway: OdooGateway, fake: FakeOdoo, name: str) -> None:
    gateway.login()
    fake.inject_error(name, "could not serialize access due to concurrent update", method="write")
    with pytest.raises(OdooUnavailable, match=name):
        gateway.write("res.partner", [1], {"city": "Ica"})
    assert gateway.write("res.partner", [1], {"city": "Ica"}) is True


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(params=TRANSPORTS)
def tls_fake(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[FakeOdoo]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with FakeOdoo(version=request.param, tls=context) as server:
        yield seeded(server)


def test_https_with_verification_off(tls_fake: FakeOdoo) -> None:
    assert tls_fake.url.startswith("https://")
    gateway = open_gateway(settings_for(tls_fake, verify_tls=False))
    assert gateway.login() == 3
    assert len(gateway.search_read("res.partner", [], ["name"])) == 3


def test_https_with_an_untrusted_certificate_is_unavailable(tls_fake: FakeOdoo) -> None:
    with pytest.raises(OdooUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        open_gateway(settings_for(tls_fake))


def test_https_with_a_trusted_certificate(
    tls_fake: FakeOdoo, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # as a company CA bundle would be trusted
    assert open_gateway(settings_for(tls_fake)).login() == 3

"""The fake Odoo at the HTTP level: raw JSON posts, answers checked against Odoo 18/19's own shapes."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.fake_odoo import USER_ERROR, FakeFault, FakeOdoo

Envelope = dict[str, Any]


def post(url: str, payload: Any, headers: Mapping[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=raw if raw is not None else json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def jsonrpc(fake: FakeOdoo, path: str, params: Mapping[str, Any]) -> Envelope:
    status, envelope = post(fake.url + path, {"jsonrpc": "2.0", "method": "call", "params": params, "id": 7})
    assert status == 200  # Odoo's JSON-RPC answers errors in the body, never with the HTTP status
    assert isinstance(envelope, dict) and envelope["jsonrpc"] == "2.0" and envelope["id"] == 7
    return envelope


def rpc(fake: FakeOdoo, service: str, method: str, *args: Any) -> Envelope:
    return jsonrpc(fake, "/jsonrpc", {"service": service, "method": method, "args": list(args)})


def execute_kw(
    fake: FakeOdoo,
    model: str,
    method: str,
    args: list[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    uid: int = 2,
    secret: str = "admin",
) -> Any:
    envelope = rpc(fake, "object", "execute_kw", fake.database, uid, secret, model, method, args, dict(kwargs or {}))
    assert "error" not in envelope, envelope["error"]
    return envelope.get("result")


def error_of(envelope: Envelope) -> dict[str, Any]:
    error = envelope["error"]
    assert error["code"] == 200 and error["message"] == "Odoo Server Error"
    data: dict[str, Any] = error["data"]
    assert set(data) == {"name", "message", "arguments", "context", "debug"}
    return data


def json2(fake: FakeOdoo, model: str, method: str, body: Mapping[str, Any], key: str | None = "KEY") -> tuple[int, Any]:
    headers = {"Authorization": f"bearer {key}"} if key else {}
    return post(f"{fake.url}/json/2/{model}/{method}", body, headers)


@pytest.fixture
def odoo() -> Iterator[FakeOdoo]:
    with FakeOdoo() as fake:
        fake.add_user("sync", password="pw", api_keys=["KEY"])
        fake.seed(
            "res.partner",
            [
                {"name": "Ana Gómez", "ref": "A1", "credit": 100.0, "city": "Lima", "active": True},
                {"name": "Bruno Díaz", "ref": "B2", "credit": 0.0, "city": "Cusco", "active": True},
                {"name": "carla ruiz", "ref": "C3", "credit": 55.5, "city": False, "active": True},
                {"name": "Dario Ana", "ref": "D4", "credit": 300.0, "city": "Lima", "active": False},
            ],
        )
        yield fake


@pytest.fixture
def odoo19() -> Iterator[FakeOdoo]:
    with FakeOdoo(version="19.0") as fake:
        fake.add_user("sync", password="pw", api_keys=["KEY"])
        fake.seed("res.partner", [{"name": "Ana", "active": True}, {"name": "Bruno", "active": True}])
        yield fake


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


# -- version and login ---------------------------------------------------------------------------


def test_version_info_answers_like_odoo_18(odoo: FakeOdoo) -> None:
    envelope = jsonrpc(odoo, "/web/webclient/version_info", {})
    assert envelope["result"] == {
        "server_version": "18.0",
        "server_version_info": [18, 0, 0, "final", 0, ""],
        "server_serie": "18.0",
        "protocol_version": 1,
    }


def test_version_info_of_odoo_19_has_no_protocol_version(odoo19: FakeOdoo) -> None:
    result = jsonrpc(odoo19, "/web/webclient/version_info", {})["result"]
    assert result["server_version_info"][:2] == [19, 0] and "protocol_version" not in result


def test_common_version(odoo: FakeOdoo) -> None:
    result = rpc(odoo, "common", "version")["result"]
    assert result["server_version"] == "18.0" and result["protocol_version"] == 1


@pytest.mark.parametrize(("secret", "expected"), [("pw", 3), ("KEY", 3), ("wrong", False), ("", False)])
def test_common_login_takes_password_or_api_key(odoo: FakeOdoo, secret: str, expected: int | bool) -> None:
    result = rpc(odoo, "common", "login", "centinela", "sync", secret)["result"]
    assert (result, type(result)) == (expected, type(expected))


def test_common_authenticate_takes_user_agent_env(odoo: FakeOdoo) -> None:
    assert rpc(odoo, "common", "authenticate", "centinela", "sync", "KEY", {"base_location": "x"})["result"] == 3
    assert rpc(odoo, "common", "authenticate", "centinela", "sync", "nope", {})["result"] is False


def test_unknown_database_is_a_postgresql_error(odoo: FakeOdoo) -> None:
    data = error_of(rpc(odoo, "common", "login", "other", "sync", "pw"))
    assert data["name"] == "psycopg2.OperationalError"
    assert 'database "other" does not exist' in data["message"]


def test_execute_kw_with_wrong_secret_is_access_denied(odoo: FakeOdoo) -> None:
    envelope = rpc(odoo, "object", "execute_kw", "centinela", 3, "bad", "res.partner", "search", [[]], {})
    data = error_of(envelope)
    assert data["name"] == "odoo.exceptions.AccessDenied" and data["message"] == "Access Denied"
    assert data["arguments"] == ["Access Denied"]


def test_object_execute_passes_positional_arguments(odoo: FakeOdoo) -> None:
    envelope = rpc(odoo, "object", "execute", "centinela", 3, "KEY", "res.users", "context_get")
    assert envelope["result"] == {"lang": "en_US", "tz": "UTC", "uid": 3}


def test_unknown_json_route_is_a_jsonrpc_404_and_other_requests_get_html(odoo: FakeOdoo) -> None:
    envelope = jsonrpc(odoo, "/json/2/res.partner/search", {})
    assert envelope["error"]["code"] == 404 and envelope["error"]["data"]["name"] == "werkzeug.exceptions.NotFound"
    status, body = post(odoo.url + "/web/login", None, {"Content-Type": "text/plain"}, raw=b"x")
    assert status == 404 and b"Not Found" in body


def test_invalid_json_is_a_400(odoo: FakeOdoo) -> None:
    status, body = post(odoo.url + "/jsonrpc", None, raw=b"{nope")
    assert (status, body) == (400, b"Invalid JSON data")


# -- search_read and domains ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([], ["Ana Gómez", "Bruno Díaz", "carla ruiz"]),
        ([("ref", "=", "B2")], ["Bruno Díaz"]),
        ([("ref", "!=", "B2")], ["Ana Gómez", "carla ruiz"]),
        ([("credit", ">", 55.5)], ["Ana Gómez"]),
        ([("credit", ">=", 55.5)], ["Ana Gómez", "carla ruiz"]),
        ([("credit", "<", 55.5)], ["Bruno Díaz"]),
        ([("credit", "<=", 55.5)], ["Bruno Díaz", "carla ruiz"]),
        ([("ref", "in", ["A1", "C3"])], ["Ana Gómez", "carla ruiz"]),
        ([("ref", "not in", ["A1", "C3"])], ["Bruno Díaz"]),
        ([("name", "like", "ruiz")], ["carla ruiz"]),
        ([("name", "like", "Ruiz")], []),
        ([("name", "ilike", "RUIZ")], ["carla ruiz"]),
        ([("name", "not ilike", "a")], []),
        ([("name", "=like", "Ana%")], ["Ana Gómez"]),
        ([("name", "=ilike", "c_rla%")], ["carla ruiz"]),
        ([("city", "=", False)], ["carla ruiz"]),
        ([("city", "!=", False)], ["Ana Gómez", "Bruno Díaz"]),
        ([("city", "not ilike", "lima")], ["Bruno Díaz", "carla ruiz"]),  # empty values count as "not like"
        (["|", ("ref", "=", "A1"), ("ref", "=", "B2")], ["Ana Gómez", "Bruno Díaz"]),
        (["!", ("ref", "=", "A1")], ["Bruno Díaz", "carla ruiz"]),
        (["&", ("city", "=", "Lima"), ("credit", ">", 10)], ["Ana Gómez"]),
        ([("city", "=", "Lima"), "|", ("ref", "=", "A1"), ("ref", "=", "B2")], ["Ana Gómez"]),
        (["|", ("ref", "=", "C3"), "!", ("credit", "<", 50)], ["Ana Gómez", "carla ruiz"]),
        ([("id", "in", [1, 3])], ["Ana Gómez", "carla ruiz"]),
    ],
)
def test_search_read_domains(odoo: FakeOdoo, domain: list[Any], expected: list[str]) -> None:
    assert names(execute_kw(odoo, "res.partner", "search_read", [domain], {"fields": ["name"]})) == expected


def test_search_read_limit_offset_order_and_fields(odoo: FakeOdoo) -> None:
    rows = execute_kw(
        odoo, "res.partner", "search_read", [[]], {"fields": ["name", "credit"], "order": "credit desc", "limit": 2}
    )
    assert rows == [{"id": 1, "name": "Ana Gómez", "credit": 100.0}, {"id": 3, "name": "carla ruiz", "credit": 55.5}]
    rows = execute_kw(
        odoo, "res.partner", "search_read", [[]], {"fields": ["ref"], "order": "city, id desc", "offset": 1}
    )
    # Empty values sort last ascending, as PostgreSQL's NULLs do.
    assert [row["ref"] for row in rows] == ["A1", "C3"]


def test_search_read_without_fields_returns_every_field(odoo: FakeOdoo) -> None:
    (row,) = execute_kw(odoo, "res.partner", "search_read", [[("ref", "=", "A1")]])
    assert {"id", "name", "ref", "credit", "city", "active", "create_date", "write_date", "display_name"} <= set(row)
    assert row["display_name"] == "Ana Gómez"


def test_archived_records_hide_unless_asked_for(odoo: FakeOdoo) -> None:
    def search(domain: list[Any], **options: Any) -> list[str]:
        return names(execute_kw(odoo, "res.partner", "search_read", [domain], {"fields": ["name"], **options}))

    assert "Dario Ana" not in search([("name", "ilike", "ana")])
    assert search([("active", "=", False)]) == ["Dario Ana"]
    assert len(search([], context={"active_test": False})) == 4
    assert names(execute_kw(odoo, "res.partner", "read", [[4]], {"fields": ["name"]})) == ["Dario Ana"]


def test_search_and_search_count(odoo: FakeOdoo) -> None:
    assert execute_kw(odoo, "res.partner", "search", [[("city", "=", "Lima")]]) == [1]
    assert execute_kw(odoo, "res.partner", "search", [[]], {"order": "name desc", "limit": 2}) == [3, 2]
    assert execute_kw(odoo, "res.partner", "search_count", [[("credit", ">", 1)]]) == 2


def test_read_leaves_out_missing_records(odoo: FakeOdoo) -> None:
    rows = execute_kw(odoo, "res.partner", "read", [[2, 99]], {"fields": ["ref"]})
    assert rows == [{"id": 2, "ref": "B2"}]


def test_bad_domain_and_order_are_server_errors(odoo: FakeOdoo) -> None:
    for domain, order in (([("name", "~", "x")], None), (["|", ("name", "=", "x")], None), ([], "name sideways")):
        kwargs = {"order": order} if order else {}
        envelope = rpc(odoo, "object", "execute_kw", "centinela", 2, "admin", "res.partner", "search", [domain], kwargs)
        assert error_of(envelope)["name"] == "builtins.ValueError"


def test_declared_models_refuse_unknown_fields(odoo: FakeOdoo) -> None:
    odoo.add_model("sale.order", fields={"name": "char", "state": "selection"})
    envelope = rpc(
        odoo, "object", "execute_kw", "centinela", 2, "admin", "sale.order", "search_read", [[]], {"fields": ["amount"]}
    )
    assert error_of(envelope)["message"] == "Invalid field 'amount' on model 'sale.order'"
    fields = execute_kw(odoo, "sale.order", "fields_get", [], {"attributes": ["type"]})
    assert fields["state"] == {"type": "selection"} and fields["write_date"] == {"type": "datetime"}


# -- writing -------------------------------------------------------------------------------------


def test_create_one_dict_gives_an_id_and_a_list_gives_ids(odoo: FakeOdoo) -> None:
    assert execute_kw(odoo, "res.partner", "create", [{"name": "Eva"}]) == 5
    assert execute_kw(odoo, "res.partner", "create", [[{"name": "Fito"}, {"name": "Gus"}]]) == [6, 7]
    created = odoo.record("res.partner", 6)
    assert created["active"] is True and created["create_uid"] == 2
    assert created["create_date"] == created["write_date"] == odoo.record("res.partner", 7)["create_date"]


def test_create_needs_its_values_positionally_over_jsonrpc(odoo: FakeOdoo) -> None:
    envelope = rpc(
        odoo,
        "object",
        "execute_kw",
        "centinela",
        2,
        "admin",
        "res.partner",
        "create",
        [],
        {"vals_list": [{"name": "X"}]},
    )
    assert error_of(envelope)["name"] == "builtins.IndexError"


def test_write_dates_move_forward_strictly(odoo: FakeOdoo) -> None:
    before = odoo.record("res.partner", 1)
    assert execute_kw(odoo, "res.partner", "write", [[1], {"city": "Arequipa"}]) is True
    first = odoo.record("res.partner", 1)
    execute_kw(odoo, "res.partner", "write", [[1], {"city": "Tacna"}])
    second = odoo.record("res.partner", 1)
    assert before["write_date"] < first["write_date"] < second["write_date"]
    assert second["create_date"] == before["create_date"] and second["city"] == "Tacna"
    rows = execute_kw(
        odoo, "res.partner", "search_read", [[("write_date", ">", first["write_date"])]], {"fields": ["name"]}
    )
    assert names(rows) == ["Ana Gómez"]


def test_write_and_unlink_of_missing_records_are_missing_errors(odoo: FakeOdoo) -> None:
    envelope = rpc(
        odoo, "object", "execute_kw", "centinela", 2, "admin", "res.partner", "write", [[1, 42], {"ref": "Z"}]
    )
    assert error_of(envelope)["name"] == "odoo.exceptions.MissingError"
    assert odoo.record("res.partner", 1)["ref"] == "A1"  # nothing written: one transaction
    assert execute_kw(odoo, "res.partner", "unlink", [[2]]) is True
    assert [r["id"] for r in odoo.records("res.partner")] == [1, 3, 4]


def test_archive_and_unarchive(odoo: FakeOdoo) -> None:
    execute_kw(odoo, "res.partner", "action_archive", [[1]])
    assert execute_kw(odoo, "res.partner", "search", [[]]) == [2, 3]
    execute_kw(odoo, "res.partner", "action_unarchive", [[1, 4]])
    assert execute_kw(odoo, "res.partner", "search", [[]]) == [1, 2, 3, 4]


def test_message_post_goes_to_the_record_chatter(odoo: FakeOdoo) -> None:
    message_id = execute_kw(
        odoo, "res.partner", "message_post", [[2]], {"body": "Pago recibido", "message_type": "comment"}
    )
    assert isinstance(message_id, int)
    (message,) = odoo.chatter("res.partner", 2)
    assert message["id"] == message_id and message["body"] == "Pago recibido" and message["author_uid"] == 2
    envelope = rpc(
        odoo, "object", "execute_kw", "centinela", 2, "admin", "res.partner", "message_post", [[1, 2]], {"body": "x"}
    )
    assert error_of(envelope)["name"] == "builtins.ValueError"


# -- refusals and knobs --------------------------------------------------------------------------


def test_denied_model_is_an_access_error_for_that_user_and_operation(odoo: FakeOdoo) -> None:
    odoo.deny("res.partner", login="sync", operations={"write"})
    assert execute_kw(odoo, "res.partner", "search", [[("ref", "=", "A1")]], uid=3, secret="KEY") == [1]
    envelope = rpc(odoo, "object", "execute_kw", "centinela", 3, "KEY", "res.partner", "write", [[1], {"ref": "Z"}])
    data = error_of(envelope)
    assert data["name"] == "odoo.exceptions.AccessError" and "not allowed to modify" in data["message"]
    assert execute_kw(odoo, "res.partner", "write", [[1], {"ref": "Z"}]) is True  # admin is not denied


def test_required_fields_and_constraints_are_validation_errors(odoo: FakeOdoo) -> None:
    odoo.add_model(
        "account.move", fields={"partner_id": "many2one", "amount_total": "monetary"}, required={"partner_id"}
    )
    odoo.add_constraint(
        "account.move", lambda r: "El monto debe ser positivo" if r.get("amount_total", 0) < 0 else None
    )
    refused = [
        rpc(odoo, "object", "execute_kw", "centinela", 2, "admin", "account.move", "create", [[{"amount_total": 5}]]),
        rpc(
            odoo,
            "object",
            "execute_kw",
            "centinela",
            2,
            "admin",
            "account.move",
            "create",
            [[{"partner_id": 1, "amount_total": 5}, {"partner_id": 1, "amount_total": -1}]],
        ),
    ]
    assert [error_of(e)["name"] for e in refused] == ["odoo.exceptions.ValidationError"] * 2
    assert "mandatory field is not set" in error_of(refused[0])["message"]
    assert error_of(refused[1])["message"] == "El monto debe ser positivo"
    assert odoo.records("account.move") == []  # the valid half of the batch was not kept either
    move = execute_kw(odoo, "account.move", "create", [{"partner_id": 1, "amount_total": 5}])
    envelope = rpc(
        odoo, "object", "execute_kw", "centinela", 2, "admin", "account.move", "write", [[move], {"partner_id": False}]
    )
    assert error_of(envelope)["name"] == "odoo.exceptions.ValidationError"


def test_registered_methods_and_their_faults(odoo: FakeOdoo) -> None:
    odoo.add_model("account.move")
    move = execute_kw(odoo, "account.move", "create", [{"state": "draft"}])

    def action_post(fake: FakeOdoo, ids: list[int]) -> bool:
        if any(fake.record("account.move", i)["state"] != "draft" for i in ids):
            raise FakeFault(USER_ERROR, "Solo se pueden publicar asientos en borrador.")
        fake.update("account.move", ids, {"state": "posted"})
        return True

    odoo.register_method("account.move", "action_post", action_post)
    assert execute_kw(odoo, "account.move", "action_post", [[move]]) is True
    assert odoo.record("account.move", move)["state"] == "posted"
    data = error_of(rpc(odoo, "object", "execute_kw", "centinela", 2, "admin", "account.move", "action_post", [[move]]))
    assert (data["name"], data["message"]) == (USER_ERROR, "Solo se pueden publicar asientos en borrador.")


def test_unknown_model_method_and_arguments(odoo: FakeOdoo) -> None:
    calls = [
        ("nope.model", "search", [[]], {}),
        ("res.partner", "frobnicate", [[1]], {}),
        ("res.partner", "search", [[]], {"colour": "red"}),
    ]
    found = [error_of(rpc(odoo, "object", "execute_kw", "centinela", 2, "admin", *call))["name"] for call in calls]
    assert found == [USER_ERROR, "builtins.AttributeError", "builtins.TypeError"]


def test_injected_errors_fail_the_next_calls_only(odoo: FakeOdoo) -> None:
    odoo.inject_error("psycopg2.errors.SerializationFailure", "could not serialize access", method="write", count=1)
    assert execute_kw(odoo, "res.partner", "search", [[("ref", "=", "A1")]]) == [1]
    envelope = rpc(odoo, "object", "execute_kw", "centinela", 2, "admin", "res.partner", "write", [[1], {"ref": "Z"}])
    assert error_of(envelope)["name"] == "psycopg2.errors.SerializationFailure"
    assert execute_kw(odoo, "res.partner", "write", [[1], {"ref": "Z"}]) is True


def test_calls_are_counted_per_method(odoo: FakeOdoo) -> None:
    odoo.reset_calls()
    execute_kw(odoo, "res.partner", "create", [[{"name": str(n)} for n in range(40)]])
    execute_kw(odoo, "res.partner", "search_read", [[]], {"fields": ["name"]})
    assert odoo.calls == {"object.execute_kw": 2, "res.partner.create": 1, "res.partner.search_read": 1}


def test_stop_and_restart_on_the_same_port_keeps_the_data(odoo: FakeOdoo) -> None:
    url, port = odoo.url, odoo.port
    odoo.stop()
    with pytest.raises(urllib.error.URLError) as refused:
        post(url + "/jsonrpc", {})
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    odoo.start()
    assert odoo.port == port
    assert execute_kw(odoo, "res.partner", "search_count", [[]]) == 3


def test_latency_delays_every_answer(odoo: FakeOdoo) -> None:
    odoo.latency = 0.2
    started = time.monotonic()
    rpc(odoo, "common", "version")
    assert time.monotonic() - started >= 0.2


def test_proxy_status_answers_an_html_error_page(odoo: FakeOdoo) -> None:
    odoo.proxy_status = 502
    status, body = post(odoo.url + "/jsonrpc", {})
    assert status == 502 and body.startswith(b"<html>")


# -- JSON-2 (Odoo 19) ----------------------------------------------------------------------------


def test_json2_answers_the_bare_result(odoo19: FakeOdoo) -> None:
    status, rows = json2(
        odoo19,
        "res.partner",
        "search_read",
        {"domain": [["name", "ilike", "an"]], "fields": ["name"], "order": "name desc"},
    )
    assert status == 200 and rows == [{"id": 1, "name": "Ana"}]
    status, ids = json2(odoo19, "res.partner", "create", {"vals_list": [{"name": "Eva"}]})
    assert (status, ids) == (200, [3])  # always ids over JSON-2, even for one record
    status, written = json2(odoo19, "res.partner", "write", {"ids": [3], "vals": {"name": "Eva Luna"}})
    assert (status, written) == (200, True)
    assert json2(odoo19, "res.partner", "message_post", {"ids": [3], "body": "hola"}) == (200, [1])
    assert json2(odoo19, "res.users", "context_get", {}) == (200, {"lang": "en_US", "tz": "UTC", "uid": 3})


@pytest.mark.parametrize("key", [None, "pw", "wrong"])
def test_json2_needs_an_api_key_bearer(odoo19: FakeOdoo, key: str | None) -> None:
    status, body = json2(odoo19, "res.partner", "search", {"domain": []}, key=key)
    assert status == 401
    assert body["name"] == "werkzeug.exceptions.Unauthorized" and body["arguments"] == ["Invalid apikey", 401]
    assert set(body) == {"name", "message", "arguments", "context", "debug"}


def test_json2_error_statuses(odoo19: FakeOdoo) -> None:
    odoo19.deny("res.partner", operations={"unlink"})
    odoo19.add_model("sale.order", required={"partner_id"})
    cases: list[tuple[tuple[str, str, dict[str, Any]], int, str]] = [
        (("res.partner", "unlink", {"ids": [1]}), 403, "odoo.exceptions.AccessError"),
        (("sale.order", "create", {"vals_list": [{}]}), 422, "odoo.exceptions.ValidationError"),
        (("res.partner", "write", {"ids": [9], "vals": {"name": "x"}}), 404, "odoo.exceptions.MissingError"),
        (("nope", "search", {"domain": []}), 404, "werkzeug.exceptions.NotFound"),
        (("res.partner", "frobnicate", {}), 404, "werkzeug.exceptions.NotFound"),
        (("res.partner", "search", {"domain": [], "colour": 1}), 422, "werkzeug.exceptions.UnprocessableEntity"),
        (("res.partner", "search", {"ids": [1], "domain": []}), 422, "werkzeug.exceptions.UnprocessableEntity"),
        (("res.partner", "search", {"domain": [["name", "~", 1]]}), 500, "builtins.ValueError"),
    ]
    answers = [json2(odoo19, model, method, body) for (model, method, body), _, _ in cases]
    assert [(status, body["name"]) for status, body in answers] == [(status, name) for _, status, name in cases]


def test_json2_checks_the_database_header_and_passes_context(odoo19: FakeOdoo) -> None:
    status, body = post(
        f"{odoo19.url}/json/2/res.partner/search",
        {"domain": []},
        {"Authorization": "bearer KEY", "X-Odoo-Database": "other"},
    )
    assert status == 404
    odoo19.update("res.partner", [2], {"active": False})
    status, body = json2(odoo19, "res.partner", "search", {"domain": [], "context": {"active_test": False}})
    assert (status, body) == (200, [1, 2])


def test_jsonrpc_still_answers_on_19_with_code_0_errors(odoo19: FakeOdoo) -> None:
    assert rpc(odoo19, "common", "login", "centinela", "sync", "KEY")["result"] == 3
    envelope = rpc(odoo19, "object", "execute_kw", "centinela", 3, "bad", "res.partner", "search", [[]], {})
    assert envelope["error"]["code"] == 0 and envelope["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"

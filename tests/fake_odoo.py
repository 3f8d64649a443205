"""An in-memory Odoo that answers over real HTTP the way Odoo 18 (and 19) do, for tests and benchmarks.

Endpoints and envelopes follow Odoo's own code:

- ``POST /web/webclient/version_info`` (JSON-RPC envelope): ``server_version``, ``server_version_info``,
  ``server_serie`` and, up to 18, ``protocol_version``.
- ``POST /jsonrpc`` with ``{"service", "method", "args"}``: ``common.version``, ``common.login``,
  ``common.authenticate`` (both return ``false`` on bad credentials and accept API keys: they are
  Odoo's non-interactive login), ``object.execute`` and ``object.execute_kw`` (``db, uid, secret``
  checked on every call; a wrong secret is an ``odoo.exceptions.AccessDenied`` error envelope).
- Errors travel as HTTP 200 with ``{"jsonrpc": "2.0", "id", "error": {"code": 200 (0 from 19 on),
  "message": "Odoo Server Error", "data": {"name", "message", "arguments", "context", "debug"}}}``.
  A JSON POST to an unknown path gets the same envelope with code 404, as Odoo's JSON dispatcher does.
- From 19 on, ``POST /json/2/<model>/<method>`` with ``Authorization: bearer <API key>`` and a JSON
  object of named arguments (``ids``, ``context`` and the method's parameters): the bare result with
  200, or the serialized exception with 401/403/404/422/500 as Odoo's JSON-2 dispatcher does.

ORM methods on any seeded model: ``search_read``, ``search``, ``search_count``, ``read``, ``create``
(one dict or a list of dicts), ``write``, ``unlink``, ``fields_get``, ``message_post``,
``action_archive``, ``action_unarchive``; ``res.users.context_get``; plus methods a test registers.
Records are plain dicts with automatic ``id``, ``create_date``/``write_date`` (UTC ``YYYY-MM-DD HH:MM:SS``;
each writing call gets a stamp strictly later than the previous one, shared by the records of that
call as in one Odoo transaction), ``create_uid``/``write_uid``. Records with ``active = False`` are
hidden from searches unless the domain names ``active`` or the context has ``active_test: False``.

Knobs for tests: users, passwords and API keys; access denials per model, user and operation;
required fields and constraints (``ValidationError``); injected errors; latency; a proxy error page
in front of Odoo; stop and restart on the same port (an outage); per-method call counts.
"""

from __future__ import annotations

import inspect
import json
import operator
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any, Self

ACCESS_DENIED = "odoo.exceptions.AccessDenied"
ACCESS_ERROR = "odoo.exceptions.AccessError"
MISSING_ERROR = "odoo.exceptions.MissingError"
USER_ERROR = "odoo.exceptions.UserError"
VALIDATION_ERROR = "odoo.exceptions.ValidationError"
NOT_FOUND = "werkzeug.exceptions.NotFound"
UNAUTHORIZED = "werkzeug.exceptions.Unauthorized"
UNPROCESSABLE = "werkzeug.exceptions.UnprocessableEntity"
OPERATIONAL_ERROR = "psycopg2.OperationalError"

# The HTTP status Odoo's JSON-2 dispatcher gives each exception (``http_status`` on odoo.exceptions).
_JSON2_STATUS = {
    ACCESS_DENIED: 403,
    ACCESS_ERROR: 403,
    MISSING_ERROR: 404,
    USER_ERROR: 422,
    VALIDATION_ERROR: 422,
    "odoo.exceptions.RedirectWarning": 422,
    "odoo.exceptions.LockError": 409,
    NOT_FOUND: 404,
    UNAUTHORIZED: 401,
    "werkzeug.exceptions.BadRequest": 400,
    UNPROCESSABLE: 422,
}

_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATIONS = frozenset({"read", "write", "create", "unlink"})
_OPERATION_VERBS = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}
_MAGIC_FIELDS = {
    "id": "integer",
    "display_name": "char",
    "create_date": "datetime",
    "write_date": "datetime",
    "create_uid": "many2one",
    "write_uid": "many2one",
}


class FakeFault(Exception):
    """An exception as Odoo serializes it: the Python class's dotted name and its message.

    Raise it from a registered method to answer as Odoo would (e.g. ``FakeFault(USER_ERROR, "...")``).
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message

    def serialize(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # werkzeug's HTTP exceptions are serialized with (description, status) as their arguments.
        http_status = _JSON2_STATUS.get(self.name) if self.name.startswith("werkzeug.") else None
        return {
            "name": self.name,
            "message": self.message,
            "arguments": [self.message] if http_status is None else [self.message, http_status],
            "context": dict(context or {}),
            "debug": f"Traceback (most recent call last):\n  (fake odoo)\n{self.name}: {self.message}\n",
        }


@dataclass(frozen=True, slots=True)
class _User:
    uid: int
    login: str
    password: str | None
    api_keys: frozenset[str]
    name: str


@dataclass(slots=True)
class _Model:
    name: str
    declared: dict[str, str] | None
    required: frozenset[str]
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    chatter: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    constraints: list[Callable[[Mapping[str, Any]], str | None]] = field(default_factory=list)
    next_id: int = 1

    def field_types(self) -> dict[str, str]:
        if self.declared is not None:
            return {**_MAGIC_FIELDS, **self.declared}
        seen: dict[str, str] = dict(_MAGIC_FIELDS)
        for record in self.records.values():
            for name, value in record.items():
                seen.setdefault(name, _type_of(value))
        return seen

    def has_field(self, name: str) -> bool:
        # Undeclared models accept any field name (values default to False, as Odoo reads empty fields).
        return self.declared is None or name in self.declared or name in _MAGIC_FIELDS

    def has_active(self) -> bool:
        return "active" in self.field_types()


@dataclass(frozen=True, slots=True)
class _Denial:
    model: str
    login: str | None
    operations: frozenset[str]


@dataclass(slots=True)
class _Injected:
    name: str
    message: str
    method: str | None
    remaining: int


@dataclass(slots=True)
class _Call:
    """One RPC being served: who calls, with what context, and the stamp its writes share."""

    user: _User
    context: dict[str, Any]
    json2: bool
    stamp: str | None = None


RecordMethod = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class _Method:
    func: RecordMethod
    on_records: bool
    builtin: bool = False


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "many2many"
    return "char"


def _is_empty(value: Any) -> bool:
    return value is None or value is False


def _like(actual: Any, pattern: str, *, insensitive: bool) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, str(actual), re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL) is not None


def _equals(actual: Any, value: Any) -> bool:
    if _is_empty(value):
        return _is_empty(actual)
    if isinstance(actual, list):
        return value in actual
    return bool(actual == value)


def _leaf_matches(record: Mapping[str, Any], leaf: Sequence[Any]) -> bool:
    name, op, value = str(leaf[0]), str(leaf[1]), leaf[2]
    actual = record.get(name, False)
    if op in ("=", "!="):
        return _equals(actual, value) is (op == "=")
    if op in _COMPARISONS:
        # As SQL does with NULL, an empty value is neither smaller nor greater than anything.
        return not _is_empty(actual) and not _is_empty(value) and bool(_COMPARISONS[op](actual, value))
    if op in ("in", "not in"):
        candidates = value if isinstance(value, list | tuple) else [value]
        return any(_equals(actual, candidate) for candidate in candidates) is (op == "in")
    if op in ("like", "ilike", "=like", "=ilike", "not like", "not ilike"):
        negated = op.startswith("not")
        if _is_empty(actual):
            return negated  # Odoo adds "OR field IS NULL" to negative operators
        pattern = str(value) if op.startswith("=") else f"%{value}%"
        return _like(actual, pattern, insensitive="ilike" in op) is not negated
    raise FakeFault("builtins.ValueError", f"Invalid leaf {list(leaf)!r}")


def _domain_matches(domain: Sequence[Any], record: Mapping[str, Any]) -> bool:
    """Odoo's domain semantics: prefix '&', '|', '!' over (field, operator, value) leaves, implicit '&'."""
    stack: list[bool] = []
    try:
        for token in reversed(domain):
            if token == "!":
                stack.append(not stack.pop())
            elif token in ("&", "|"):
                first, second = stack.pop(), stack.pop()
                stack.append(first and second if token == "&" else first or second)
            elif isinstance(token, list | tuple) and len(token) == 3:
                stack.append(_leaf_matches(record, token))
            else:
                raise FakeFault("builtins.ValueError", f"Invalid domain term {token!r}")
    except IndexError:
        raise FakeFault("builtins.ValueError", f"Invalid domain {list(domain)!r}") from None
    return all(stack)


def _domain_fields(domain: Sequence[Any]) -> set[str]:
    return {token[0] for token in domain if isinstance(token, list | tuple) and len(token) == 3}


def _order_keys(order: str) -> list[tuple[str, bool]]:
    """``"write_date desc, id"`` -> ``[("write_date", True), ("id", False)]``."""
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FakeFault("builtins.ValueError", f'Invalid "order" specified ({order})')
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def _sorted(records: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    result = list(records)
    # Stable sorts from the last key to the first; empty values sort as PostgreSQL's NULLs
    # (last ascending, first descending).
    for name, descending in reversed(keys):
        result.sort(key=_sort_key(name), reverse=descending)
    return result


def _sort_key(name: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    def key(record: Mapping[str, Any]) -> tuple[bool, Any]:
        value = record.get(name)
        return (True, 0) if _is_empty(value) else (False, value)

    return key


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOdoo, tls: ssl.SSLContext | None) -> None:
        self.fake = fake
        self.tls = tls
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts, refused certificates) are part of the tests, not server faults.
        return

    def get_request(self) -> tuple[socket, Any]:
        conn, address = super().get_request()
        if self.tls is not None:
            # The handshake runs on the first read, in the request's own thread, not in the accept loop.
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, *args: Any) -> None:
        return


class FakeOdoo:
    """A threaded HTTP server on 127.0.0.1 holding an Odoo database in memory.

    ``with FakeOdoo() as odoo: ...`` starts and stops it; ``odoo.url`` is where it listens. The data
    outlives ``stop()``, and ``start()`` binds the same port again, so a test can cut Odoo off and
    bring it back. A user ``admin`` / ``admin`` (uid 2) exists from the start, as in a new Odoo.
    """

    def __init__(
        self,
        *,
        version: str = "18.0",
        database: str = "centinela",
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.version = version
        self.database = database
        self.host = host
        self.latency = 0.0
        self.proxy_status: int | None = None
        self.calls: Counter[str] = Counter()
        self._tls = tls
        self._port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}
        self._methods: dict[tuple[str | None, str], _Method] = self._builtin_methods()
        self._users: dict[int, _User] = {}
        self._denials: list[_Denial] = []
        self._injected: list[_Injected] = []
        self._last_stamp = datetime(2000, 1, 1, tzinfo=UTC)
        self._next_message_id = 1
        self._declare("res.users")
        self.add_user("admin", password="admin", uid=2, name="Administrator")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self, self._tls)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-odoo", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self._port}"

    @property
    def major(self) -> int:
        return self._version_numbers()[0]

    def _version_numbers(self) -> tuple[int, int]:
        major, minor = [*re.findall(r"\d+", self.version), "0"][:2]
        return int(major), int(minor)

    # -- seeding and inspection ------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        password: str | None = None,
        api_keys: Iterable[str] = (),
        uid: int | None = None,
        name: str | None = None,
    ) -> int:
        with self._lock:
            uid = uid if uid is not None else max(self._users, default=1) + 1
            self._users[uid] = _User(uid, login, password, frozenset(api_keys), name or login)
            return uid

    def add_model(self, name: str, *, fields: Mapping[str, str] | None = None, required: Iterable[str] = ()) -> None:
        """Declare a model; with ``fields`` (name -> Odoo type) unknown field names become errors."""
        with self._lock:
            self._models[name] = _Model(name, dict(fields) if fields is not None else None, frozenset(required))

    def seed(self, model: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Insert records as they are (no access checks, no counting); ``create_date`` etc. may be given."""
        with self._lock:
            target = self._models.get(model) or self._declare(model)
            stamp = self._stamp()
            ids = []
            for values in records:
                record_id = int(values.get("id", target.next_id))
                target.next_id = max(target.next_id, record_id + 1)
                record = {"create_date": stamp, "write_date": stamp, "create_uid": 1, "write_uid": 1, **values}
                record["id"] = record_id
                target.records[record_id] = record
                ids.append(record_id)
            return ids

    def records(self, model: str) -> list[dict[str, Any]]:
        """Every record of ``model``, archived ones included, in id order."""
        with self._lock:
            return [dict(self._models[model].records[i]) for i in sorted(self._models[model].records)]

    def record(self, model: str, record_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._models[model].records[record_id])

    def chatter(self, model: str, record_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(message) for message in self._models[model].chatter.get(record_id, [])]

    def update(self, model: str, ids: Iterable[int], values: Mapping[str, Any]) -> None:
        """Change records as Odoo would on a write (``write_date`` moves on), without checks."""
        with self._lock:
            stamp = self._stamp()
            for record_id in ids:
                self._models[model].records[record_id].update(values, write_date=stamp)

    def deny(self, model: str, *, login: str | None = None, operations: Iterable[str] = _OPERATIONS) -> None:
        """Make ``operations`` on ``model`` an AccessError, for ``login`` or for everyone."""
        with self._lock:
            self._denials.append(_Denial(model, login, frozenset(operations)))

    def add_constraint(self, model: str, check: Callable[[Mapping[str, Any]], str | None]) -> None:
        """``check(record)`` returns a message to refuse a create/write with a ValidationError."""
        with self._lock:
            (self._models.get(model) or self._declare(model)).constraints.append(check)

    def register_method(
        self, model: str | None, method: str, handler: RecordMethod, *, on_records: bool = True
    ) -> None:
        """Serve ``model.method`` (``model=None``: every model) with ``handler(fake, ids, **kwargs)``,
        or ``handler(fake, *args, **kwargs)`` when ``on_records`` is False (an ``@api.model`` method)."""
        with self._lock:
            self._methods[(model, method)] = _Method(handler, on_records)

    def inject_error(self, name: str, message: str, *, method: str | None = None, count: int = 1) -> None:
        """Fail the next ``count`` object calls (of ``method`` only, if given) with this exception."""
        with self._lock:
            self._injected.append(_Injected(name, message, method, count))

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- HTTP ------------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        if self.latency:
            time.sleep(self.latency)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if self.proxy_status is not None:
            page = f"<html><body><h1>{self.proxy_status}</h1>nginx</body></html>".encode()
            self._send(handler, self.proxy_status, page, "text/html")
            return
        path = handler.path.split("?", 1)[0]
        is_json = handler.headers.get_content_type() in ("application/json", "application/json-rpc")
        json2 = re.fullmatch(r"/json/2/([^/]+)/([^/]+)", path)
        if handler.command == "POST" and json2 and self.major >= 19:
            self._serve_json2(handler, json2[1], json2[2], body)
        elif handler.command == "POST" and is_json:
            self._serve_jsonrpc(handler, path, body)
        else:
            self._send(handler, 404, b"<html><body><h1>Not Found</h1></body></html>", "text/html")

    def _send(self, handler: _Handler, status: int, body: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _send_json(self, handler: _Handler, status: int, payload: Any) -> None:
        self._send(handler, status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _serve_jsonrpc(self, handler: _Handler, path: str, body: bytes) -> None:
        try:
            request = json.loads(body)
            request_id, params = request.get("id"), request.get("params", {})
        except (ValueError, AttributeError):
            self._send(handler, 400, b"Invalid JSON data", "text/plain")
            return
        envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if path not in ("/web/webclient/version_info", "/jsonrpc"):
            not_found = FakeFault(NOT_FOUND, "404 Not Found").serialize()
            envelope["error"] = {"code": 404, "message": "404: Not Found", "data": not_found}
            self._send_json(handler, 200, envelope)
            return
        try:
            with self._lock:
                if path == "/jsonrpc":
                    result = self._dispatch_rpc(params.get("service"), params.get("method"), params.get("args", []))
                else:
                    self.calls["version_info"] += 1
                    result = self._version_info()
        except Exception as exc:  # Odoo turns any exception into an error envelope
            fault = _as_fault(exc)
            code = 200 if self.major < 19 else 0
            envelope["error"] = {"code": code, "message": "Odoo Server Error", "data": fault.serialize()}
        else:
            if result is not None:
                envelope["result"] = result
        self._send_json(handler, 200, envelope)

    def _serve_json2(self, handler: _Handler, model: str, method: str, body: bytes) -> None:
        context: dict[str, Any] = {}
        try:
            with self._lock:
                self.calls["json2"] += 1
                user = self._bearer_user(handler.headers.get("Authorization", ""))
                database = handler.headers.get("X-Odoo-Database")
                if database is not None and database != self.database:
                    raise FakeFault(NOT_FOUND, f"database {database!r} not found")
                params = _json_object(body)
                ids = params.pop("ids", [])
                context = dict(params.pop("context", {}) or {})
                self.calls[f"{model}.{method}"] += 1
                result = self._execute(_Call(user, context, json2=True), model, method, ids, [], params)
        except Exception as exc:  # Odoo turns any exception into an error body
            fault = _as_fault(exc)
            self._send_json(handler, _JSON2_STATUS.get(fault.name, 500), fault.serialize(context))
        else:
            self._send_json(handler, 200, result)

    def _bearer_user(self, authorization: str) -> _User:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() == "bearer":
            for user in self._users.values():
                if key.strip() in user.api_keys:
                    return user
        raise FakeFault(UNAUTHORIZED, "Invalid apikey")

    # -- RPC services ----------------------------------------------------------------------------

    def _version_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "server_version": self.version,
            "server_version_info": [*self._version_numbers(), 0, "final", 0, ""],
            "server_serie": self.version,
        }
        if self.major < 19:
            info["protocol_version"] = 1
        return info

    def _dispatch_rpc(self, service: Any, method: Any, args: list[Any]) -> Any:
        self.calls[f"{service}.{method}"] += 1
        if service == "common":
            if method == "version":
                return {**self._version_info(), "protocol_version": 1}
            if method in ("login", "authenticate"):
                database, login, secret = args[:3]
                self._check_database(database)
                user = self._non_interactive_login(login, secret)
                return user.uid if user else False
            raise FakeFault("builtins.Exception", f"Method not found: {method}")
        if service == "object":
            if method not in ("execute", "execute_kw"):
                raise FakeFault("builtins.NameError", f"Method not available {method}")
            database, uid, secret, model, name, *rest = args
            self._check_database(database)
            user = self._check_secret(int(uid), secret)
            if method == "execute_kw":
                call_args, call_kwargs = (rest[0], rest[1] if len(rest) > 1 else {}) if rest else ([], {})
            else:
                call_args, call_kwargs = rest, {}
            call_kwargs = dict(call_kwargs or {})
            context = dict(call_kwargs.pop("context", {}) or {})
            self.calls[f"{model}.{name}"] += 1
            return self._execute(_Call(user, context, json2=False), model, name, None, list(call_args), call_kwargs)
        raise FakeFault("builtins.KeyError", repr(service))

    def _check_database(self, database: Any) -> None:
        if database != self.database:
            raise FakeFault(
                OPERATIONAL_ERROR,
                'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
                f'FATAL:  database "{database}" does not exist',
            )

    def _non_interactive_login(self, login: Any, secret: Any) -> _User | None:
        # common.login/authenticate run with interactive=False: Odoo accepts an RPC API key there.
        for user in self._users.values():
            if user.login == login and secret and (secret == user.password or secret in user.api_keys):
                return user
        return None

    def _check_secret(self, uid: int, secret: Any) -> _User:
        user = self._users.get(uid)
        if user is None or not secret or (secret != user.password and secret not in user.api_keys):
            raise FakeFault(ACCESS_DENIED, "Access Denied")
        return user

    # -- ORM -------------------------------------------------------------------------------------

    def _execute(
        self, call: _Call, model: str, name: str, ids: list[int] | None, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``model.name`` as Odoo's call_kw (JSON-RPC, ``ids is None``) or JSON-2 controller would."""
        self._raise_injected(name)
        if model not in self._models:
            if call.json2:
                raise FakeFault(NOT_FOUND, f"the model {model!r} does not exist")
            raise FakeFault(USER_ERROR, f"Object {model} doesn't exist")
        method = self._methods.get((model, name)) or self._methods.get((None, name))
        if method is None:
            if call.json2:
                raise FakeFault(NOT_FOUND, f"The method {name!r} does not exist on the model {model!r}")
            raise FakeFault("builtins.AttributeError", f"type object {model!r} has no attribute {name!r}")
        if name == "create" and not call.json2 and not args:
            # Odoo's _call_kw_model_create reads args[0] to decide between one id and a list of ids.
            raise FakeFault("builtins.IndexError", "list index out of range")
        target = self._models[model]
        if method.on_records:
            if ids is None:
                if not args:
                    raise FakeFault("builtins.IndexError", "list index out of range")
                ids, args = args[0], args[1:]
            ids = [ids] if isinstance(ids, int) else list(ids)
            bound_args: list[Any] = [ids, *args]
        elif ids:
            raise FakeFault(UNPROCESSABLE, f"cannot call {model}.{name} with ids")
        else:
            bound_args = list(args)
        # Builtin ORM methods see the call and the model; registered handlers see the fake.
        bound_args = [call, target, *bound_args] if method.builtin else [self, *bound_args]
        try:
            inspect.signature(method.func).bind(*bound_args, **kwargs)
        except TypeError as exc:
            raise FakeFault(UNPROCESSABLE if call.json2 else "builtins.TypeError", str(exc)) from None
        return method.func(*bound_args, **kwargs)

    def _raise_injected(self, name: str) -> None:
        for injected in self._injected:
            if injected.remaining and injected.method in (None, name):
                injected.remaining -= 1
                raise FakeFault(injected.name, injected.message)

    def _builtin_methods(self) -> dict[tuple[str | None, str], _Method]:
        model_methods = {"search_read", "search", "search_count", "create", "fields_get"}
        record_methods = {"read", "write", "unlink", "message_post", "action_archive", "action_unarchive"}
        methods: dict[tuple[str | None, str], _Method] = {
            (None, name): _Method(getattr(self, f"_orm_{name}"), False, True) for name in model_methods
        }
        methods |= {(None, name): _Method(getattr(self, f"_orm_{name}"), True, True) for name in record_methods}
        methods[("res.users", "context_get")] = _Method(self._orm_context_get, False, True)
        return methods

    def _declare(self, name: str) -> _Model:
        self._models[name] = _Model(name, None, frozenset())
        return self._models[name]

    def _stamp(self) -> str:
        now = datetime.now(UTC).replace(microsecond=0)
        self._last_stamp = max(now, self._last_stamp + timedelta(seconds=1))
        return self._last_stamp.strftime(_DATETIME_FORMAT)

    def _call_stamp(self, call: _Call) -> str:
        if call.stamp is None:
            call.stamp = self._stamp()
        return call.stamp

    def _check_access(self, call: _Call, model: _Model, operation: str) -> None:
        for denial in self._denials:
            if (
                denial.model == model.name
                and denial.login in (None, call.user.login)
                and operation in denial.operations
            ):
                raise FakeFault(
                    ACCESS_ERROR,
                    f"You are not allowed to {_OPERATION_VERBS[operation]} '{model.name}' ({model.name}) records.\n\n"
                    "Contact your administrator to request access if necessary.",
                )

    def _check_fields(self, model: _Model, names: Iterable[str]) -> None:
        for name in names:
            if not model.has_field(name):
                raise FakeFault("builtins.ValueError", f"Invalid field {name!r} on model {model.name!r}")

    def _validate(self, model: _Model, record: Mapping[str, Any]) -> None:
        for name in sorted(model.required):
            if _is_empty(record.get(name)) or record.get(name) == "":
                raise FakeFault(
                    VALIDATION_ERROR,
                    "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"
                    "- Delete: another model requires the record being deleted. If possible, archive it instead.\n\n"
                    f"Model: {model.name} ({model.name})\nField: {name} ({name})\n",
                )
        for check in model.constraints:
            problem = check(record)
            if problem:
                raise FakeFault(VALIDATION_ERROR, problem)

    def _existing(self, model: _Model, ids: list[int], call: _Call) -> list[dict[str, Any]]:
        missing = [i for i in ids if i not in model.records]
        if missing:
            raise FakeFault(
                MISSING_ERROR,
                "Record does not exist or has been deleted.\n"
                f"(Record: {model.name}({', '.join(map(str, missing))},), User: {call.user.uid})",
            )
        return [model.records[i] for i in ids]

    def _present(self, model: _Model, record: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
        names = list(fields) if fields else list(model.field_types())
        out = {"id": record["id"]}
        for name in names:
            if name == "display_name":
                out[name] = record.get("name") or f"{model.name},{record['id']}"
            elif name != "id":
                out[name] = record.get(name, False)
        return out

    def _search_ids(
        self,
        call: _Call,
        model: _Model,
        domain: Sequence[Any] | None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        domain = list(domain or [])
        self._check_access(call, model, "read")
        self._check_fields(model, _domain_fields(domain))
        hide_archived = (
            model.has_active() and "active" not in _domain_fields(domain) and call.context.get("active_test", True)
        )
        rows = [
            record
            for record in model.records.values()
            if not (hide_archived and record.get("active", True) is False) and _domain_matches(domain, record)
        ]
        keys = _order_keys(order or "id")
        self._check_fields(model, (name for name, _ in keys))
        ordered = _sorted(rows, keys)
        window = ordered[offset or 0 :]
        if limit:
            window = window[:limit]
        return [record["id"] for record in window]

    def _orm_search_read(
        self,
        call: _Call,
        model: _Model,
        domain: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        self._check_fields(model, fields or ())
        ids = self._search_ids(call, model, domain, offset, limit, order)
        return [self._present(model, model.records[i], fields) for i in ids]

    def _orm_search(
        self,
        call: _Call,
        model: _Model,
        domain: Sequence[Any],
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        return self._search_ids(call, model, domain, offset, limit, order)

    def _orm_search_count(self, call: _Call, model: _Model, domain: Sequence[Any], limit: int | None = None) -> int:
        return len(self._search_ids(call, model, domain, limit=limit))

    def _orm_read(
        self,
        call: _Call,
        model: _Model,
        ids: list[int],
        fields: Sequence[str] | None = None,
        load: str = "_classic_read",
    ) -> list[dict[str, Any]]:
        self._check_access(call, model, "read")
        self._check_fields(model, fields or ())
        # Odoo's read() leaves out records that no longer exist instead of failing.
        return [self._present(model, model.records[i], fields) for i in ids if i in model.records]

    def _orm_create(
        self, call: _Call, model: _Model, vals_list: Mapping[str, Any] | list[Mapping[str, Any]]
    ) -> int | list[int]:
        self._check_access(call, model, "create")
        batch = [vals_list] if isinstance(vals_list, Mapping) else list(vals_list)
        stamp = self._call_stamp(call)
        prepared = []
        for values in batch:
            self._check_fields(model, values)
            record = {key: value for key, value in values.items() if key not in _MAGIC_FIELDS}
            if model.has_active():
                record.setdefault("active", True)
            record.update(create_date=stamp, write_date=stamp, create_uid=call.user.uid, write_uid=call.user.uid)
            self._validate(model, record)
            prepared.append(record)
        ids = []
        for record in prepared:
            record["id"] = model.next_id
            model.next_id += 1
            model.records[record["id"]] = record
            ids.append(record["id"])
        # Over JSON-RPC one dict gives one id (Odoo's _call_kw_model_create); JSON-2 always returns ids.
        return ids[0] if isinstance(vals_list, Mapping) and not call.json2 else ids

    def _orm_write(self, call: _Call, model: _Model, ids: list[int], vals: Mapping[str, Any]) -> bool:
        self._check_access(call, model, "write")
        self._check_fields(model, vals)
        records = self._existing(model, ids, call)
        changes = {key: value for key, value in vals.items() if key not in _MAGIC_FIELDS}
        for record in records:
            self._validate(model, {**record, **changes})
        stamp = self._call_stamp(call)
        for record in records:
            record.update(changes, write_date=stamp, write_uid=call.user.uid)
        return True

    def _orm_unlink(self, call: _Call, model: _Model, ids: list[int]) -> bool:
        self._check_access(call, model, "unlink")
        self._existing(model, ids, call)
        for record_id in ids:
            del model.records[record_id]
            model.chatter.pop(record_id, None)
        return True

    def _orm_action_archive(self, call: _Call, model: _Model, ids: list[int]) -> bool:
        return self._orm_write(call, model, ids, {"active": False})

    def _orm_action_unarchive(self, call: _Call, model: _Model, ids: list[int]) -> bool:
        return self._orm_write(call, model, ids, {"active": True})

    def _orm_fields_get(
        self,
        call: _Call,
        model: _Model,
        allfields: Sequence[str] | None = None,
        attributes: Sequence[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        described = {
            name: {
                "type": kind,
                "string": name.replace("_", " ").title(),
                "required": name in model.required,
                "readonly": name in _MAGIC_FIELDS,
            }
            for name, kind in model.field_types().items()
            if not allfields or name in allfields
        }
        if attributes:
            return {name: {k: v for k, v in info.items() if k in attributes} for name, info in described.items()}
        return described

    def _orm_message_post(self, call: _Call, model: _Model, ids: list[int], **values: Any) -> int | list[int]:
        if len(ids) != 1:
            raise FakeFault("builtins.ValueError", f"Expected singleton: {model.name}{tuple(ids)}")
        self._check_access(call, model, "read")
        (record,) = self._existing(model, ids, call)
        message = {
            "id": self._next_message_id,
            "body": values.pop("body", ""),
            "message_type": values.pop("message_type", "notification"),
            "subtype_xmlid": values.pop("subtype_xmlid", None),
            "author_uid": call.user.uid,
            "date": self._call_stamp(call),
            **values,
        }
        self._next_message_id += 1
        model.chatter.setdefault(record["id"], []).append(message)
        # JSON-RPC downgrades the new mail.message to its id; JSON-2 turns any recordset into ids.
        return [message["id"]] if call.json2 else message["id"]

    def _orm_context_get(self, call: _Call, model: _Model) -> dict[str, Any]:
        return {"lang": "en_US", "tz": "UTC", "uid": call.user.uid}


def _as_fault(exc: Exception) -> FakeFault:
    if isinstance(exc, FakeFault):
        return exc
    return FakeFault(f"builtins.{type(exc).__name__}", str(exc))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body) if body else {}
    except ValueError as exc:
        raise FakeFault("werkzeug.exceptions.BadRequest", f"could not parse the body as json: {exc}") from None
    if not isinstance(params, dict):
        raise FakeFault("werkzeug.exceptions.BadRequest", "the body must be a JSON object")
    return params

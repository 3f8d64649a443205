"""The one door the sync code uses to reach Odoo, whatever the wire: JSON-RPC (Odoo 18) or JSON-2 (19+).

The interface is blocking on purpose: the asyncio sync worker runs it in a thread. One gateway object
serves one thread at a time.

JSON-RPC (``JsonRpcGateway``), through odoorpc 0.10
    For servers of version 10 or later, ``odoorpc.ODOO.login`` authenticates with
    ``POST /jsonrpc {"service": "common", "method": "login", "args": [db, login, secret]}`` and then
    reads ``res.users.context_get`` through ``object.execute``; every later call is
    ``object.execute_kw`` carrying ``(db, uid, secret)``. That is Odoo's non-interactive RPC path,
    where ``res.users`` accepts an API key (scope ``rpc``) in place of the password. It never calls
    ``/web/session/authenticate``: that is the interactive web login, which refuses API keys and would
    tie us to a session cookie. So a key made in *Preferences > Account Security* works as ``secret``
    on a real Odoo 18, and so does a password. We use only ``ODOO.login`` and ``ODOO.execute_kw``
    (not odoorpc's model proxies, which add ``fields_get``/``ir.model`` round trips), so each gateway
    call is exactly one HTTP request, and we hand odoorpc the server version so that building the
    client costs no request either. odoorpc's URL has no path part: Odoo must be at the root of its URL.

JSON-2 (``Json2Gateway``), Odoo 19 and later
    ``POST /json/2/<model>/<method>`` with ``Authorization: bearer <API key>``, ``X-Odoo-Database``
    and a JSON object of named arguments (``ids``, ``context`` and the method's parameters). Success
    is the bare result with HTTP 200; failures carry Odoo's serialized exception (``name``,
    ``message``, ``arguments``, ``context``, ``debug``) with 4xx/5xx. JSON-2 takes API keys only.
    Plain ``urllib`` (as odoorpc itself uses) is enough: no extra dependency.

``open_gateway`` with ``transport = "auto"`` asks ``/web/webclient/version_info`` (a JSON-RPC route
that every version answers without login) and picks JSON-2 from 19 on, JSON-RPC before.

Which exception, which consequence
    ``OdooUnavailable``: no real answer from Odoo — refused or reset connection, timeout, TLS
    failure, an HTTP error page from a proxy (anything that is not Odoo's own JSON), or an Odoo error
    that is transient by nature (PostgreSQL gone, serialization failure, lock, rate limit). The caller
    keeps the work queued and retries later.
    ``OdooAuthError``: the credentials or the database name are wrong (login refused, AccessDenied,
    401, unknown database). Retrying will not help until someone fixes the settings.
    ``OdooRejected(name, message)``: Odoo received the call and refused it for this data
    (AccessError, ValidationError, UserError, MissingError, or any other exception the server code
    raised for this call). The caller parks the item with that reason.
    ``OdooError`` itself: the server does not speak the chosen transport (JSON-2 asked of Odoo 18).
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit

import odoorpc
import odoorpc.error

Transport = Literal["auto", "jsonrpc", "json2"]

JSON2_FIRST_MAJOR = 19

_VERSION_INFO_PATH = "/web/webclient/version_info"
_AUTH_FAILURES = frozenset(
    {"odoo.exceptions.AccessDenied", "odoo.http.SessionExpiredException", "werkzeug.exceptions.Unauthorized"}
)
_TRANSIENT_FAILURES = frozenset(
    {
        "psycopg2.OperationalError",
        "psycopg2.errors.SerializationFailure",
        "psycopg2.errors.DeadlockDetected",
        "psycopg2.errors.LockNotAvailable",
        "psycopg2.errors.QueryCanceled",
        "psycopg2.errors.AdminShutdown",
        "odoo.exceptions.LockError",
        "odoo.exceptions.ConcurrencyError",
        "werkzeug.exceptions.TooManyRequests",
        "werkzeug.exceptions.ServiceUnavailable",
        "werkzeug.exceptions.BadGateway",
        "werkzeug.exceptions.GatewayTimeout",
    }
)
# Odoo reports an unknown database as the PostgreSQL connection error; only the message tells it apart.
_MISSING_DATABASE = re.compile(r'database "[^"]*" does not exist')


class OdooError(Exception):
    """Base of every gateway error; raised as such when the server does not speak the chosen transport."""


class OdooUnavailable(OdooError):
    """No usable answer from Odoo right now: keep the work queued and retry later."""


class OdooAuthError(OdooError):
    """Odoo refused the credentials or does not have the database: the settings need fixing."""


class OdooRejected(OdooError):
    """Odoo refused this call for a reason in the data (the caller parks the item with it)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass(frozen=True, slots=True)
class OdooSettings:
    url: str
    database: str
    user: str
    secret: str = field(repr=False)  # a password or an API key
    timeout: float = 30.0
    verify_tls: bool = True
    transport: Transport = "auto"


@dataclass(frozen=True, slots=True)
class OdooVersion:
    server_version: str  # "18.0", "saas~18.2+e"
    version_info: tuple[int | str, ...]  # (18, 0, 0, "final", 0, "")

    @classmethod
    def from_answer(cls, answer: Any) -> OdooVersion:
        if not isinstance(answer, Mapping) or not isinstance(answer.get("server_version_info"), list):
            raise OdooUnavailable(f"not an Odoo version_info answer: {answer!r}")
        return cls(str(answer.get("server_version", "")), tuple(answer["server_version_info"]))

    @property
    def major(self) -> int:
        # Odoo SaaS builds say ("saas~18", 2, ...) where a release says (18, 0, ...).
        found = re.search(r"\d+", f"{self.version_info[0] if self.version_info else ''} {self.server_version}")
        return int(found[0]) if found else 0


class OdooGateway(Protocol):
    def version(self) -> OdooVersion: ...

    def login(self) -> int: ...

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]: ...

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]: ...

    def create(self, model: str, vals_list: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def write(self, model: str, ids: Sequence[int], vals: Mapping[str, Any]) -> bool: ...

    def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Any public model method. By Odoo's RPC convention a record method takes the ids as the first
        positional argument (``call("account.move", "action_post", [7])``); JSON-2 takes nothing else
        positionally, so pass every other argument by name."""
        ...


def open_gateway(settings: OdooSettings) -> OdooGateway:
    """The gateway for ``settings.transport``; "auto" asks the server its version first (one request)."""
    match settings.transport:
        case "jsonrpc":
            return JsonRpcGateway(settings)
        case "json2":
            return Json2Gateway(settings)
        case "auto":
            version = _Http(settings).version()
            return Json2Gateway(settings) if version.major >= JSON2_FIRST_MAJOR else JsonRpcGateway(settings, version)
    raise ValueError(f"unknown Odoo transport {settings.transport!r}: auto, jsonrpc or json2")


class JsonRpcGateway:
    """``/jsonrpc`` through odoorpc, authenticated with a password or an API key (see the module doc)."""

    def __init__(self, settings: OdooSettings, version: OdooVersion | None = None) -> None:
        if urlsplit(settings.url).path.strip("/"):
            raise ValueError(f"{settings.url}: odoorpc reaches Odoo at the root of a host only, not under a path")
        self._settings = settings
        self._http = _Http(settings)
        self._version = version
        self._odoo: odoorpc.ODOO | None = None
        self._uid: int | None = None

    def version(self) -> OdooVersion:
        self._version = self._http.version()
        return self._version

    def login(self) -> int:
        odoo = self._client()
        with _odoorpc_errors(self._settings.url):
            odoo.login(self._settings.database, self._settings.user, self._settings.secret)
        self._uid = int(odoo.env.uid)
        return self._uid

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        options = _named(fields=list(fields), offset=offset, limit=limit, order=order, context=context)
        return list(self._execute(model, "search_read", [list(domain)], options))

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        return list(self._execute(model, "read", [list(ids)], {"fields": list(fields)}))

    def create(self, model: str, vals_list: Sequence[Mapping[str, Any]]) -> list[int]:
        if not vals_list:
            return []
        # Positional on purpose: Odoo's RPC create reads args[0] to choose between one id and a list.
        return list(self._execute(model, "create", [[dict(vals) for vals in vals_list]], {}))

    def write(self, model: str, ids: Sequence[int], vals: Mapping[str, Any]) -> bool:
        return bool(self._execute(model, "write", [list(ids), dict(vals)], {}))

    def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._execute(model, method, list(args), kwargs)

    def _client(self) -> odoorpc.ODOO:
        if self._odoo is None:
            version = self._version or self.version()
            self._odoo = odoorpc.ODOO(
                self._http.host,
                protocol="jsonrpc+ssl" if self._http.tls else "jsonrpc",
                port=self._http.port,
                timeout=self._settings.timeout,
                version=version.server_version,
                opener=self._http.opener,
            )
        return self._odoo

    def _execute(self, model: str, method: str, args: list[Any], kwargs: Mapping[str, Any]) -> Any:
        if self._uid is None:
            self.login()
        with _odoorpc_errors(self._settings.url):
            return self._client().execute_kw(model, method, args, dict(kwargs))


class Json2Gateway:
    """Odoo 19+'s ``/json/2/<model>/<method>`` with a bearer API key."""

    def __init__(self, settings: OdooSettings) -> None:
        self._settings = settings
        self._http = _Http(settings)
        self._headers = {
            "Authorization": f"bearer {settings.secret}",
            "X-Odoo-Database": settings.database,
            "User-Agent": "centinela",
        }

    def version(self) -> OdooVersion:
        return self._http.version()

    def login(self) -> int:
        # JSON-2 has no login: the API key names the user, and context_get tells us who that is.
        context = self._post("res.users", "context_get", {})
        uid = context.get("uid") if isinstance(context, Mapping) else None
        if not isinstance(uid, int):
            raise OdooError(f"{self._settings.url}: res.users.context_get gave no uid: {context!r}")
        return uid

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        order: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        body = _named(
            domain=list(domain), fields=list(fields), offset=offset, limit=limit, order=order, context=context
        )
        return list(self._post(model, "search_read", body))

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        return list(self._post(model, "read", {"ids": list(ids), "fields": list(fields)}))

    def create(self, model: str, vals_list: Sequence[Mapping[str, Any]]) -> list[int]:
        if not vals_list:
            return []
        return list(self._post(model, "create", {"vals_list": [dict(vals) for vals in vals_list]}))

    def write(self, model: str, ids: Sequence[int], vals: Mapping[str, Any]) -> bool:
        return bool(self._post(model, "write", {"ids": list(ids), "vals": dict(vals)}))

    def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if len(args) > 1:
            raise TypeError("JSON-2 takes only the ids positionally; pass the other arguments by name")
        body = dict(kwargs)
        if args:
            body["ids"] = [args[0]] if isinstance(args[0], int) else list(args[0])
        return self._post(model, method, body)

    def _post(self, model: str, method: str, body: Mapping[str, Any]) -> Any:
        path = f"/json/2/{quote(model, safe='')}/{quote(method, safe='')}"
        status, answer = self._http.post(path, body, self._headers)
        if status == 200 and answer is not _NOT_JSON:
            if isinstance(answer, Mapping) and answer.get("jsonrpc") == "2.0" and "error" in answer:
                # Odoo up to 18 answers an unknown JSON route with a JSON-RPC 404 envelope.
                raise OdooError(f"{self._settings.url} has no JSON-2 API (Odoo {JSON2_FIRST_MAJOR}+): use JSON-RPC")
            return answer
        if isinstance(answer, Mapping) and isinstance(answer.get("name"), str):
            raise _odoo_exception(answer)
        raise OdooUnavailable(f"{self._settings.url}{path}: HTTP {status} that is not Odoo's answer")


_NOT_JSON = object()


class _Http:
    """The URL split the way both transports need it, and one JSON POST over urllib."""

    def __init__(self, settings: OdooSettings) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{settings.url!r}: an http:// or https:// URL is needed")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/")
        self.base = f"{parts.scheme}://{parts.netloc}{self.path}"
        self.timeout = settings.timeout
        handlers: list[urllib.request.BaseHandler] = []
        if self.tls:
            # Built only for https: loading the CA bundle costs about a tenth of a second.
            context = ssl.create_default_context()
            if not settings.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        # No cookie jar: /jsonrpc and /json/2 are stateless (Odoo saves no session for them).
        self.opener = urllib.request.build_opener(*handlers)

    def post(self, path: str, payload: Any, headers: Mapping[str, str]) -> tuple[int, Any]:
        """The HTTP status and the decoded JSON body (``_NOT_JSON`` when the body is something else)."""
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, raw = error.code, _read_error_body(error)
        except (OSError, http.client.HTTPException) as exc:
            raise OdooUnavailable(f"{self.base}: {exc}") from exc
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, _NOT_JSON

    def version(self) -> OdooVersion:
        status, answer = self.post(_VERSION_INFO_PATH, {"jsonrpc": "2.0", "method": "call", "params": {}}, {})
        if status != 200 or not isinstance(answer, Mapping) or "jsonrpc" not in answer:
            raise OdooUnavailable(f"{self.base}{_VERSION_INFO_PATH}: HTTP {status} that is not Odoo's answer")
        if "error" in answer:
            raise _odoo_exception(answer["error"].get("data") or {})
        return OdooVersion.from_answer(answer.get("result"))


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


def _named(**values: Any) -> dict[str, Any]:
    """Keyword arguments for Odoo, leaving out the ones not given so Odoo's defaults apply."""
    return {name: value for name, value in values.items() if value is not None}


def _odoo_exception(data: Mapping[str, Any]) -> OdooError:
    """The gateway error for an exception Odoo serialized (``{"name", "message", ...}``)."""
    name = str(data.get("name") or "unknown")
    message = str(data.get("message") or "")
    if name in _AUTH_FAILURES or (name == "psycopg2.OperationalError" and _MISSING_DATABASE.search(message)):
        return OdooAuthError(f"{name}: {message}")
    if name in _TRANSIENT_FAILURES:
        return OdooUnavailable(f"{name}: {message}")
    return OdooRejected(name, message)


@contextmanager
def _odoorpc_errors(url: str) -> Iterator[None]:
    try:
        yield
    except odoorpc.error.RPCError as exc:
        if isinstance(exc.info, Mapping):
            raise _odoo_exception(exc.info.get("data") or {}) from exc
        # The one RPCError odoorpc raises without Odoo's error: common.login answered false.
        raise OdooAuthError(f"{url}: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise OdooUnavailable(f"{url}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        # odoorpc decodes the body itself: a proxy's page or a foreign JSON shape ends up here.
        raise OdooUnavailable(f"{url}: not an Odoo JSON-RPC answer ({exc!r})") from exc

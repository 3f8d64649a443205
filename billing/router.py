"""Suspending and reconnecting customers on MikroTik routers through the RouterOS API.

The billing worker sees one small interface, :class:`RouterClient`: ``apply(actions)`` and
``managed_entries()``. :class:`LibrouterosClient` implements it with librouteros, synchronously (the
asyncio worker calls it through ``asyncio.to_thread``), one connection per call.

Two methods, chosen per router:

``address-list``
    suspend adds the customer's IPv4 address to ``list_name`` (a firewall rule on the router drops
    or redirects that list); notice adds it to ``notice_list`` (a rule that shows a payment notice).
    reconnect and clear-notice remove the entries that carry our mark for that address, never
    another entry. An add refused with "already have such entry" counts as done: the address is
    listed, by us or by someone else, and someone else's entry is left alone.
``ppp-secret``
    suspend disables the PPP secret named by the target and disconnects its sessions from
    ``/ppp/active`` (a disabled secret does not end a running session), so the customer dials
    again into the disabled secret. reconnect enables it. Notices need an address, so this method
    has none.

**Our mark.** Whatever we change carries ``[centinela:<contract_ref>]`` at the start of its
comment. An address-list entry we add has exactly the mark as its comment. A secret we disable
gets the mark put in front of its comment (``[centinela:C-0042] Juan Pérez, torre norte``); reconnect
enables it and puts the original comment back. A secret that was already disabled without our
mark was disabled by someone else: suspend leaves it (and its mark-less comment) alone, so a
reconnect will not enable it either. Anything without the mark is never changed or removed, and
``managed_entries`` reports only what carries it.

A result is ok only when the router confirmed the change with ``!done`` (or confirmed there was
nothing of ours to undo). When the connection cannot be made or breaks, every action it did not
confirm is reported not ok with the reason, and the worker retries them later; every action is
idempotent, so a retry of something the router did apply is harmless.

Words travel as Latin-1 and reply values stay text (librouteros would turn ``"true"`` into True and
``"42"`` into 42), so a comment we restore comes back byte for byte.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Final, Literal, Protocol, TypeAlias

import librouteros
from librouteros.api import Api
from librouteros.exceptions import ConnectionClosed, FatalError, LibRouterosError, MultiTrapError, TrapError
from librouteros.query import Key
from librouteros.types import ReplyDict

__all__ = [
    "ActionKind",
    "ActionResult",
    "LibrouterosClient",
    "ManagedEntry",
    "ManagedState",
    "Method",
    "RouterAction",
    "RouterClient",
    "RouterConfig",
    "RouterError",
    "canonical_target",
    "mark",
    "parse_mark",
]

Method: TypeAlias = Literal["address-list", "ppp-secret"]
ActionKind: TypeAlias = Literal["suspend", "reconnect", "notice", "clear-notice"]

API_PORT: Final = 8728
API_SSL_PORT: Final = 8729
WIRE_ENCODING: Final = "latin-1"

ADDRESS_LIST_PATH: Final = ("ip", "firewall", "address-list")
SECRET_PATH: Final = ("ppp", "secret")
ACTIVE_PATH: Final = ("ppp", "active")

ALREADY_LISTED: Final = "already have such entry"
NO_SUCH_ITEM: Final = "no such item"

_METHODS: Final = frozenset({"address-list", "ppp-secret"})
_ACTIONS: Final = frozenset({"suspend", "reconnect", "notice", "clear-notice"})
_MARK: Final = re.compile(r"\[centinela:(?P<ref>[^\]\r\n]+)\](?: (?P<rest>.*))?\Z", re.DOTALL)

_ID: Final = Key(".id")
_LIST: Final = Key("list")
_ADDRESS: Final = Key("address")
_COMMENT: Final = Key("comment")
_NAME: Final = Key("name")
_DISABLED: Final = Key("disabled")


def mark(contract_ref: str) -> str:
    """The comment (or comment prefix) that marks a router entry as Centinela's."""
    return f"[centinela:{contract_ref}]"


def parse_mark(comment: str | None) -> tuple[str, str] | None:
    """``(contract_ref, original comment)`` if the comment carries our mark, else None."""
    found = _MARK.match(comment or "")
    if found is None:
        return None
    return found["ref"], found["rest"] or ""


def canonical_target(target: str) -> str:
    """An IP address as RouterOS prints it (``10.0.0.5/32`` -> ``10.0.0.5``); anything else as is."""
    try:
        network = ipaddress.ip_network(target, strict=False)
    except ValueError:
        return target
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _sendable(text: str) -> bool:
    try:
        text.encode(WIRE_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _check_sendable(what: str, text: str) -> None:
    if not _sendable(text):
        raise ValueError(f"{what} {text!r} cannot be sent to a router (only Latin-1 text can)")


def _is_ipv4(target: str) -> bool:
    try:
        ipaddress.IPv4Network(target, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """How to reach one router and how it cuts service.

    ``port`` None means the API default: 8728, or 8729 (API-SSL) with ``tls``. With ``tls`` the
    router's certificate is verified, host name included, against ``tls_ca_file`` (a PEM with the
    CA or the router's own self-signed certificate) or, when that is None, the system's CAs.
    """

    name: str
    host: str
    port: int | None
    tls: bool
    username: str
    password: str = field(repr=False)
    method: Method
    list_name: str = "morosos"
    notice_list: str | None = None
    timeout: float = 10
    tls_ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"router {self.name!r}: unknown method {self.method!r}")
        if self.method == "ppp-secret" and self.notice_list is not None:
            raise ValueError(f"router {self.name!r}: notices need the address-list method")
        if self.notice_list is not None and self.notice_list == self.list_name:
            raise ValueError(f"router {self.name!r}: the notice list must differ from {self.list_name!r}")
        if self.timeout <= 0:
            raise ValueError(f"router {self.name!r}: timeout must be positive")
        for what in ("username", "list_name", "notice_list"):
            _check_sendable(f"router {self.name!r}: {what}", getattr(self, what) or "")
        if not _sendable(self.password):
            raise ValueError(f"router {self.name!r}: the password cannot be sent (only Latin-1 text can)")

    @property
    def api_port(self) -> int:
        if self.port is not None:
            return self.port
        return API_SSL_PORT if self.tls else API_PORT


@dataclass(frozen=True, slots=True)
class RouterAction:
    """One change for a router. ``target`` is an IPv4 address (address-list) or a PPP user name."""

    action: ActionKind
    target: str
    contract_ref: str
    reason: str

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"unknown router action {self.action!r}")
        if not self.target:
            raise ValueError("a router action needs a target")
        _check_sendable("target", self.target)
        _check_sendable("contract reference", self.contract_ref)
        if parse_mark(mark(self.contract_ref)) != (self.contract_ref, ""):
            raise ValueError(f"contract reference {self.contract_ref!r} cannot be put in a mark")


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: RouterAction
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """Something on a router that carries our mark."""

    target: str
    contract_ref: str


@dataclass(frozen=True, slots=True)
class ManagedState:
    """What one router has with our mark: suspended targets and targets shown a notice."""

    suspended: frozenset[ManagedEntry] = frozenset()
    noticed: frozenset[ManagedEntry] = frozenset()


class RouterError(Exception):
    """The router could not be reached, refused the login, or the connection broke."""


class RouterClient(Protocol):
    def apply(self, actions: Sequence[RouterAction]) -> list[ActionResult]:
        """Apply the actions in order; one result per action, ok only if the router confirmed it."""
        ...

    def managed_entries(self) -> ManagedState:
        """What the router has with our mark now; raises :class:`RouterError` if it cannot tell."""
        ...


class _TextApi(Api):
    """librouteros' Api with reply values kept as the router's text."""

    def readSentence(self) -> tuple[str, ReplyDict]:  # noqa: N802 - overrides librouteros' name
        reply_word, words = self.protocol.readSentence()
        values: ReplyDict = {}
        for word in words:
            name, _, value = word[1:].partition("=")
            values[name] = value
        return reply_word, values


class LibrouterosClient:
    """:class:`RouterClient` over the RouterOS API with librouteros; one connection per call."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config

    def apply(self, actions: Sequence[RouterAction]) -> list[ActionResult]:
        results: list[ActionResult | None] = [self._refusal(action) for action in actions]
        pending = [action for action, result in zip(actions, results, strict=True) if result is None]
        confirmed: list[ActionResult] = []
        if pending:
            try:
                with self._connection() as api:
                    steps = self._steps(api)
                    steps.prepare(pending)
                    for action in pending:
                        confirmed.append(steps.apply(action))
            except RouterError as error:
                confirmed.extend(ActionResult(action, False, str(error)) for action in pending[len(confirmed) :])
        answers = iter(confirmed)
        return [result if result is not None else next(answers) for result in results]

    def managed_entries(self) -> ManagedState:
        with self._connection() as api:
            return self._steps(api).managed()

    def _steps(self, api: Api) -> _Steps:
        if self.config.method == "address-list":
            return _AddressListSteps(api, self.config)
        return _SecretSteps(api, self.config)

    def _refusal(self, action: RouterAction) -> ActionResult | None:
        """Actions this router's setup cannot carry out, answered without connecting."""
        config = self.config
        if action.action in ("notice", "clear-notice") and config.notice_list is None:
            return ActionResult(action, False, f"router {config.name!r} has no notice list")
        if config.method == "address-list" and not _is_ipv4(action.target):
            return ActionResult(action, False, f"{action.target!r} is not an IPv4 address")
        return None

    @contextmanager
    def _connection(self) -> Iterator[Api]:
        config = self.config
        where = f"router {config.name!r} ({config.host}:{config.api_port})"
        try:
            api = librouteros.connect(
                config.host,
                config.username,
                config.password,
                port=config.api_port,
                timeout=config.timeout,
                encoding=WIRE_ENCODING,
                subclass=_TextApi,
                ssl_wrapper=self._tls_wrapper(),
            )
        except (TrapError, MultiTrapError) as error:
            raise RouterError(f"{where} refused the login: {error}") from error
        except (OSError, LibRouterosError) as error:
            raise RouterError(f"{where}: {_describe(error, config.timeout)}") from error
        try:
            yield api
        except (TrapError, MultiTrapError) as error:
            raise RouterError(f"{where} refused a command: {error}") from error
        except (OSError, LibRouterosError) as error:
            raise RouterError(f"{where}: {_describe(error, config.timeout)}") from error
        finally:
            with suppress(OSError):  # already broken; the error above is the one worth reporting
                api.close()

    def _tls_wrapper(self) -> partial[ssl.SSLSocket] | None:
        config = self.config
        if not config.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=config.tls_ca_file)
        except (OSError, ssl.SSLError) as error:
            raise RouterError(f"router {config.name!r}: cannot load {config.tls_ca_file}: {error}") from error
        return partial(context.wrap_socket, server_hostname=config.host)


def _describe(error: OSError | LibRouterosError, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (API service off or wrong port?)"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error}"
    if isinstance(error, ConnectionClosed | ConnectionResetError | BrokenPipeError):
        return f"connection lost: {error}"
    if isinstance(error, FatalError):
        return f"the router ended the session: {error}"
    if isinstance(error, LibRouterosError):
        return f"protocol error: {error}"
    return f"network error: {error.strerror or error}"


class _Steps(Protocol):
    def prepare(self, actions: Sequence[RouterAction]) -> None: ...
    def apply(self, action: RouterAction) -> ActionResult: ...
    def managed(self) -> ManagedState: ...


@dataclass(frozen=True, slots=True)
class _ListedEntry:
    id: str
    list_name: str
    address: str
    comment: str


class _AddressListSteps:
    """The address-list method on one open connection."""

    def __init__(self, api: Api, config: RouterConfig) -> None:
        self._path = api.path(*ADDRESS_LIST_PATH)
        self._config = config
        self._ours: dict[tuple[str, str], list[_ListedEntry]] = {}

    def _list_for(self, action: RouterAction) -> str:
        if action.action in ("suspend", "reconnect"):
            return self._config.list_name
        assert self._config.notice_list is not None  # refused before connecting otherwise
        return self._config.notice_list

    def _read(self, lists: Sequence[str]) -> list[_ListedEntry]:
        query = _LIST.In(*lists)
        rows = self._path.select(_ID, _LIST, _ADDRESS, _COMMENT).where(query)
        return [
            _ListedEntry(str(row[".id"]), str(row["list"]), canonical_target(str(row["address"])), comment)
            for row in rows
            if parse_mark(comment := str(row.get("comment", ""))) is not None
        ]

    def prepare(self, actions: Sequence[RouterAction]) -> None:
        """One print of the lists the removals touch, to find our entries' ids."""
        lists = sorted({self._list_for(a) for a in actions if a.action in ("reconnect", "clear-notice")})
        if lists:
            for entry in self._read(lists):
                self._ours.setdefault((entry.list_name, entry.address), []).append(entry)

    def apply(self, action: RouterAction) -> ActionResult:
        list_name = self._list_for(action)
        address = canonical_target(action.target)
        if action.action in ("suspend", "notice"):
            try:
                self._path.add(list=list_name, address=address, comment=mark(action.contract_ref))
            except TrapError as error:
                if ALREADY_LISTED not in error.message:
                    return ActionResult(action, False, error.message)
            return ActionResult(action, True)
        for entry in list(self._ours.get((list_name, address), ())):
            try:
                self._path.remove(entry.id)
            except TrapError as error:
                if NO_SUCH_ITEM not in error.message:
                    return ActionResult(action, False, error.message)
            self._ours[(list_name, address)].remove(entry)
        return ActionResult(action, True)

    def managed(self) -> ManagedState:
        config = self._config
        lists = [config.list_name] if config.notice_list is None else [config.list_name, config.notice_list]
        suspended: set[ManagedEntry] = set()
        noticed: set[ManagedEntry] = set()
        for entry in self._read(lists):
            found = parse_mark(entry.comment)
            assert found is not None  # _read keeps marked entries only
            managed = ManagedEntry(entry.address, found[0])
            (suspended if entry.list_name == config.list_name else noticed).add(managed)
        return ManagedState(frozenset(suspended), frozenset(noticed))


@dataclass(frozen=True, slots=True)
class _Secret:
    id: str
    name: str
    disabled: bool
    comment: str


class _SecretSteps:
    """The ppp-secret method on one open connection."""

    def __init__(self, api: Api, config: RouterConfig) -> None:
        self._secrets_path = api.path(*SECRET_PATH)
        self._active_path = api.path(*ACTIVE_PATH)
        self._config = config
        self._secrets: dict[str, _Secret] = {}
        self._sessions: dict[str, list[str]] = {}

    def prepare(self, actions: Sequence[RouterAction]) -> None:
        """One print of the secrets involved and one of their sessions, whatever the batch size."""
        names = sorted({action.target for action in actions})
        rows = self._secrets_path.select(_ID, _NAME, _DISABLED, _COMMENT).where(_NAME.In(*names))
        for row in rows:
            secret = _Secret(
                str(row[".id"]), str(row["name"]), row.get("disabled") == "true", str(row.get("comment", ""))
            )
            self._secrets[secret.name] = secret
        suspending = sorted({action.target for action in actions if action.action == "suspend"})
        if suspending:
            for row in self._active_path.select(_ID, _NAME).where(_NAME.In(*suspending)):
                self._sessions.setdefault(str(row["name"]), []).append(str(row[".id"]))

    def apply(self, action: RouterAction) -> ActionResult:
        secret = self._secrets.get(action.target)
        try:
            if action.action == "suspend":
                if secret is None:
                    return ActionResult(action, False, f"no PPP secret named {action.target!r}")
                self._suspend(secret, action.contract_ref)
            elif secret is not None and (found := parse_mark(secret.comment)) is not None:
                self._update(secret, {"disabled": False, "comment": found[1]})
                self._secrets[secret.name] = replace(secret, disabled=False, comment=found[1])
        except TrapError as error:
            return ActionResult(action, False, error.message)
        return ActionResult(action, True)

    def _update(self, secret: _Secret, changes: ReplyDict) -> None:
        """One ``set``, so disabling and marking happen together or not at all."""
        self._secrets_path.update(**{".id": secret.id}, **changes)

    def _suspend(self, secret: _Secret, contract_ref: str) -> None:
        ours = parse_mark(secret.comment) is not None
        if ours and not secret.disabled:
            self._update(secret, {"disabled": True})
        elif not ours and not secret.disabled:
            comment = f"{mark(contract_ref)} {secret.comment}" if secret.comment else mark(contract_ref)
            self._update(secret, {"disabled": True, "comment": comment})
            secret = replace(secret, comment=comment)
        self._secrets[secret.name] = replace(secret, disabled=True)
        for session_id in list(self._sessions.get(secret.name, ())):
            try:
                self._active_path.remove(session_id)
            except TrapError as error:
                if NO_SUCH_ITEM not in error.message:  # a session that just ended is fine
                    raise
            self._sessions[secret.name].remove(session_id)

    def managed(self) -> ManagedState:
        # Queries cannot match a comment prefix, so every secret's comment is read.
        suspended = frozenset(
            ManagedEntry(str(row["name"]), found[0])
            for row in self._secrets_path.select(_NAME, _COMMENT)
            if (found := parse_mark(str(row.get("comment", "")))) is not None
        )
        return ManagedState(suspended=suspended)

"""A MikroTik RouterOS API server for tests and benchmarks, speaking the real wire protocol.

Wire format (MikroTik "API" manual): a *sentence* is a run of *words* ended by an empty word; each
word is its byte length in a 1..5 byte prefix followed by the bytes::

    length < 0x80        1 byte   the length itself
    length < 0x4000      2 bytes  length | 0x8000
    length < 0x200000    3 bytes  length | 0xC00000
    length < 0x10000000  4 bytes  length | 0xE0000000
    otherwise            5 bytes  0xF0, then the length in 4 bytes

The client sends a command word (``/ppp/secret/print``), attribute words (``=name=value``), query
words (``?list=morosos``, ``?#|``) and API attributes (``.tag=7``). The router answers every command
with ``!re`` (one per row), ``!trap`` (errors, ``=message=``, sometimes ``=category=``), ``!empty``
(RouterOS 7.18+, a print with no rows) and always a final ``!done``; ``!fatal <reason>`` precedes a
close. A tagged command gets its ``.tag`` back on every reply sentence.

What it emulates, kept in memory so tests can inject and inspect it:

* ``/login`` with ``=name=`` and ``=password=`` (the plain login of RouterOS 6.43 and later). A bad
  password gets ``!trap =message=invalid user name or password (6)`` and ``!done``, as RouterOS does;
  any other command before a login gets ``!fatal not logged in`` and the connection is closed.
* ``/ip/firewall/address-list``: print (getall), add, set, remove, disable, enable. An add that
  repeats a list/address pair is refused with ``failure: already have such entry``.
* ``/ppp/secret``: the same verbs; secrets can also be addressed by name in ``.id``.
* ``/ppp/active``: print and remove (disconnect). Disabling a secret does not end its session, as on
  a real router.
* print takes ``=.proplist=`` and the whole query language: ``?name``, ``?-name``, ``?name=x``,
  ``?=name=x``, ``?<name=x``, ``?>name=x`` and ``?#`` stack operations (``|``, ``&``, ``!``, ``.``
  and stack indexes).
* ``/quit`` (``!fatal session terminated on request``); unknown commands trap like RouterOS.

Words are decoded as Latin-1, so any byte a client sends comes back unchanged.

Nothing but :class:`FakeRouterOS` touches a socket: :class:`SentenceReader` frames bytes and
:class:`RouterModel` turns one sentence into reply sentences, so both are testable with byte strings.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Final, Self

__all__ = [
    "ADDRESS_LIST",
    "PPP_ACTIVE",
    "PPP_SECRET",
    "FakeRouterOS",
    "Outcome",
    "RouterModel",
    "SentenceReader",
    "WireError",
    "decode_length",
    "encode_length",
    "encode_sentence",
]

ENCODING: Final = "latin-1"
ADDRESS_LIST: Final = "/ip/firewall/address-list"
PPP_SECRET: Final = "/ppp/secret"
PPP_ACTIVE: Final = "/ppp/active"

BAD_LOGIN: Final = "invalid user name or password (6)"
ALREADY_LISTED: Final = "failure: already have such entry"
SECRET_EXISTS: Final = "failure: secret with the same name already exists"
NO_SUCH_ITEM: Final = "no such item"
NO_SUCH_COMMAND: Final = "no such command"

_TRUE_WORDS: Final = frozenset({"yes", "true"})
_FALSE_WORDS: Final = frozenset({"no", "false"})


class WireError(ValueError):
    """Bytes that no RouterOS peer would send (a reserved length control byte)."""


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError(f"negative word length {length}")
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    if length <= 0xFFFFFFFF:
        return b"\xf0" + length.to_bytes(4, "big")
    raise ValueError(f"word length {length} does not fit the API's 32-bit length")


def decode_length(buffer: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """The word length encoded at ``start`` and the prefix size, or None until enough bytes came."""
    if start >= len(buffer):
        return None
    first = buffer[start]
    if first < 0x80:
        size, value_mask = 1, 0x7F
    elif first < 0xC0:
        size, value_mask = 2, 0x3FFF
    elif first < 0xE0:
        size, value_mask = 3, 0x1FFFFF
    elif first < 0xF0:
        size, value_mask = 4, 0xFFFFFFF
    elif first == 0xF0:
        if start + 5 > len(buffer):
            return None
        return int.from_bytes(buffer[start + 1 : start + 5], "big"), 5
    else:
        raise WireError(f"reserved control byte 0x{first:02X}")
    if start + size > len(buffer):
        return None
    return int.from_bytes(buffer[start : start + size], "big") & value_mask, size


def encode_sentence(words: Iterable[str]) -> bytes:
    out = bytearray()
    for word in words:
        data = word.encode(ENCODING)
        out += encode_length(len(data)) + data
    out += b"\x00"
    return bytes(out)


class SentenceReader:
    """Frames a byte stream into sentences; accepts any split or concatenation of the input."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._words: list[str] = []

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer += data
        sentences: list[list[str]] = []
        position = 0
        while (header := decode_length(self._buffer, position)) is not None:
            length, size = header
            end = position + size + length
            if end > len(self._buffer):
                break
            if length == 0:
                sentences.append(self._words)
                self._words = []
            else:
                self._words.append(self._buffer[position + size : end].decode(ENCODING))
            position = end
        del self._buffer[:position]
        return sentences


# --- the router -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the router answers to one sentence, and whether it then closes the connection."""

    replies: list[list[str]]
    close: bool = False


@dataclass(slots=True)
class Session:
    """Per-connection state."""

    user: str | None = None


class CommandError(Exception):
    """A command that RouterOS refuses with ``!trap``."""

    def __init__(self, message: str, category: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.category = category

    def words(self) -> list[str]:
        trap = ["!trap"]
        if self.category is not None:
            trap.append(f"=category={self.category}")
        trap.append(f"=message={self.message}")
        return trap


@dataclass(frozen=True, slots=True)
class MenuSpec:
    path: str
    verbs: frozenset[str]
    writable: frozenset[str]
    booleans: frozenset[str]
    required: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    duplicate_message: str = ""
    by_name: bool = False
    defaults: tuple[tuple[str, str], ...] = ()
    normalize: Callable[[str, str], str] = lambda _name, value: value


def _host_address(name: str, value: str) -> str:
    """RouterOS shows a single host without its /32."""
    return value.removesuffix("/32") if name == "address" else value


_ALL_VERBS: Final = frozenset({"print", "getall", "add", "set", "remove", "disable", "enable"})

MENUS: Final = {
    spec.path: spec
    for spec in (
        MenuSpec(
            path=ADDRESS_LIST,
            verbs=_ALL_VERBS,
            writable=frozenset({"list", "address", "comment", "disabled", "timeout"}),
            booleans=frozenset({"disabled", "dynamic"}),
            required=("list", "address"),
            unique=("list", "address"),
            duplicate_message=ALREADY_LISTED,
            normalize=_host_address,
        ),
        MenuSpec(
            path=PPP_SECRET,
            verbs=_ALL_VERBS,
            writable=frozenset(
                {"name", "password", "service", "profile", "remote-address", "local-address", "disabled", "comment"}
            ),
            booleans=frozenset({"disabled"}),
            required=("name",),
            unique=("name",),
            duplicate_message=SECRET_EXISTS,
            by_name=True,
            defaults=(("service", "any"), ("profile", "default"), ("password", "")),
        ),
        MenuSpec(
            path=PPP_ACTIVE,
            verbs=frozenset({"print", "getall", "remove"}),
            writable=frozenset(),
            booleans=frozenset({"radius"}),
        ),
    )
}
# Directories that exist on every router but are not menus we emulate rows for.
_KNOWN_DIRECTORIES: Final = frozenset({"/ip", "/ip/firewall", "/ppp"})


@dataclass(slots=True)
class Table:
    spec: MenuSpec
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    last_id: int = 0
    # Unique keys -> row ids, rebuilt after changes made through `rows`: a benchmark adds ten
    # thousand entries, and a scan of every row per add made the test router the bottleneck.
    _unique: dict[tuple[str | None, ...], list[str]] | None = None

    def insert(self, values: Mapping[str, str]) -> str:
        self.last_id += 1
        row_id = f"*{self.last_id:X}"
        self.rows[row_id] = {".id": row_id, **values}
        if self._unique is not None:
            self._unique.setdefault(self._key(self.rows[row_id]), []).append(row_id)
        return row_id

    def changed(self) -> None:
        """Rows were removed or rewritten through ``rows``: the unique-key index is stale."""
        self._unique = None

    def _key(self, row: Mapping[str, str]) -> tuple[str | None, ...]:
        return tuple(row.get(name) for name in self.spec.unique)

    def resolve(self, reference: str) -> list[str]:
        """Row ids for a ``.id``/``numbers`` value: ``*1A`` ids, or names where the menu allows it."""
        ids: list[str] = []
        for part in filter(None, reference.split(",")):
            if part in self.rows:
                ids.append(part)
                continue
            named = [rid for rid, row in self.rows.items() if self.spec.by_name and row.get("name") == part]
            if not named:
                raise CommandError(NO_SUCH_ITEM)
            ids.extend(named)
        if not ids:
            raise CommandError(NO_SUCH_ITEM)
        return ids

    def check_unique(self, candidate: Mapping[str, str], except_id: str | None = None) -> None:
        if not self.spec.unique:
            return
        if self._unique is None:
            self._unique = {}
            for row_id, row in self.rows.items():
                self._unique.setdefault(self._key(row), []).append(row_id)
        if any(row_id != except_id for row_id in self._unique.get(self._key(candidate), ())):
            raise CommandError(self.spec.duplicate_message)


def _as_boolean(name: str, value: str) -> str:
    lowered = value.lower()
    if lowered in _TRUE_WORDS:
        return "true"
    if lowered in _FALSE_WORDS:
        return "false"
    raise CommandError(f"value of {name} must be yes or no", category=1)


class Query:
    """RouterOS print queries: a stack of booleans that starts as endless ``true``."""

    def __init__(self, words: Sequence[str], spec: MenuSpec) -> None:
        self._words = words
        self._spec = spec

    def matches(self, row: Mapping[str, str]) -> bool:
        stack: list[bool] = []
        for word in self._words:
            body = word[1:]
            if body.startswith("#"):
                stack = self._operate(stack, body[1:])
            else:
                stack.append(self._test(body, row))
        return all(stack)

    def _value(self, name: str, value: str) -> str:
        if name in self._spec.booleans:
            return _as_boolean(name, value)
        return self._spec.normalize(name, value)

    def _test(self, body: str, row: Mapping[str, str]) -> bool:
        if body.startswith("-"):
            return body[1:] not in row
        operator = body[0] if body[:1] in ("=", "<", ">") else ""
        name, equals, value = body[len(operator) :].partition("=")
        if not equals:
            if operator:
                raise CommandError(f"invalid query word ?{body}")
            return name in row
        have = row.get(name, "")
        want = self._value(name, value)
        if operator in ("", "="):
            return have == want
        # RouterOS compares typed values; numbers as numbers and the rest as text is enough here.
        if have.lstrip("-").isdigit() and want.lstrip("-").isdigit():
            left, right = int(have), int(want)
            return left < right if operator == "<" else left > right
        return have < want if operator == "<" else have > want

    @staticmethod
    def _operate(stack: list[bool], operations: str) -> list[bool]:
        def pop() -> bool:
            return stack.pop() if stack else True  # below the pushed values the stack is all true

        position = 0
        after_index = False
        while position < len(operations):
            char = operations[position]
            if char.isdigit():
                end = position
                while end < len(operations) and operations[end].isdigit():
                    end += 1
                index = int(operations[position:end])
                value = stack[-1 - index] if index < len(stack) else True
                if end == len(operations):
                    stack = [value]
                else:
                    stack.append(value)
                position, after_index = end, True
                continue
            if char == "!":
                stack.append(not pop())
            elif char == "&":
                right, left = pop(), pop()
                stack.append(left and right)
            elif char == "|":
                right, left = pop(), pop()
                stack.append(left or right)
            elif char == ".":
                if not after_index:
                    top = pop()
                    stack.extend((top, top))
            else:
                raise CommandError(f"invalid query operation {char!r}")
            position, after_index = position + 1, False
        return stack


@dataclass(frozen=True, slots=True)
class Sentence:
    command: str
    attributes: dict[str, str]
    queries: list[str]
    tag: str | None

    @classmethod
    def parse(cls, words: Sequence[str]) -> Sentence:
        attributes: dict[str, str] = {}
        queries: list[str] = []
        tag: str | None = None
        for word in words[1:]:
            if word.startswith("="):
                name, _, value = word[1:].partition("=")
                attributes[name] = value
            elif word.startswith("?"):
                queries.append(word)
            elif word.startswith(".tag="):
                tag = word.removeprefix(".tag=")
        return cls(words[0], attributes, queries, tag)


class RouterModel:
    """The router's state and its answers; no sockets, no threads (callers hold a lock)."""

    def __init__(self, users: Mapping[str, str], *, empty_reply: bool = True) -> None:
        self.users = dict(users)
        self.empty_reply = empty_reply
        self.tables = {path: Table(spec) for path, spec in MENUS.items()}
        self.injected_traps: dict[str, CommandError] = {}

    def handle(self, session: Session, words: Sequence[str]) -> Outcome:
        sentence = Sentence.parse(words)
        if sentence.command == "/quit":
            return Outcome([["!fatal", "session terminated on request"]], close=True)
        if sentence.command == "/login":
            return self._tagged(sentence, self._login(session, sentence))
        if session.user is None:
            return Outcome([["!fatal", "not logged in"]], close=True)
        try:
            if (trap := self.injected_traps.get(sentence.command)) is not None:
                raise trap
            replies = self._run(sentence)
        except CommandError as error:
            replies = [error.words(), ["!done"]]
        except _MissingPathError as missing:
            replies = [
                ["!trap", "=category=0", f"=message=no such command or directory ({missing.segment})"],
                ["!trap", "=message=no such command prefix"],
                ["!done"],
            ]
        return self._tagged(sentence, replies)

    @staticmethod
    def _tagged(sentence: Sentence, replies: list[list[str]]) -> Outcome:
        if sentence.tag is not None:
            replies = [[*reply, f".tag={sentence.tag}"] for reply in replies]
        return Outcome(replies)

    def _login(self, session: Session, sentence: Sentence) -> list[list[str]]:
        name = sentence.attributes.get("name")
        if name is not None and name in self.users and self.users[name] == sentence.attributes.get("password"):
            session.user = name
            return [["!done"]]
        return [["!trap", f"=message={BAD_LOGIN}"], ["!done"]]

    def _run(self, sentence: Sentence) -> list[list[str]]:
        menu, _, verb = sentence.command.rpartition("/")
        table = self.tables.get(menu)
        if table is None:
            segments = [part for part in menu.split("/") if part]
            for depth in range(1, len(segments) + 1):
                prefix = "/" + "/".join(segments[:depth])
                if prefix not in _KNOWN_DIRECTORIES and prefix not in self.tables:
                    raise _MissingPathError(segments[depth - 1])
            raise CommandError(NO_SUCH_COMMAND, category=0)
        if verb not in table.spec.verbs:
            raise CommandError(NO_SUCH_COMMAND, category=0)
        attributes = dict(sentence.attributes)
        if verb in ("print", "getall"):
            return self._print(table, attributes, sentence.queries)
        if verb == "add":
            return [["!done", f"=ret={self.add(menu, attributes)}"]]
        reference = attributes.pop(".id", None) or attributes.pop("numbers", None)
        if reference is None:
            raise CommandError("missing value(s) of argument(s) numbers", category=1)
        ids = table.resolve(reference)
        if verb == "remove":
            self._reject_unknown(table, attributes, allowed=frozenset())
            for row_id in ids:
                del table.rows[row_id]
            table.changed()
        elif verb == "set":
            self._set(table, ids, attributes)
        else:
            self._reject_unknown(table, attributes, allowed=frozenset())
            self._set(table, ids, {"disabled": "yes" if verb == "disable" else "no"})
        return [["!done"]]

    def _print(self, table: Table, attributes: dict[str, str], queries: list[str]) -> list[list[str]]:
        proplist_text = attributes.pop(".proplist", None)
        attributes.pop("detail", None)
        attributes.pop("without-paging", None)
        self._reject_unknown(table, attributes, allowed=frozenset())
        proplist = proplist_text.split(",") if proplist_text is not None else None
        query = Query(queries, table.spec)
        rows = [row for row in table.rows.values() if query.matches(row)]
        replies = [
            ["!re", *(f"={name}={value}" for name, value in row.items() if proplist is None or name in proplist)]
            for row in rows
        ]
        if not replies and self.empty_reply:
            replies.append(["!empty"])
        replies.append(["!done"])
        return replies

    def _values(self, table: Table, attributes: Mapping[str, str]) -> dict[str, str]:
        self._reject_unknown(table, attributes, allowed=table.spec.writable)
        values: dict[str, str] = {}
        for name, value in attributes.items():
            if name in table.spec.booleans:
                values[name] = _as_boolean(name, value)
            else:
                values[name] = table.spec.normalize(name, value)
        return values

    @staticmethod
    def _reject_unknown(table: Table, attributes: Mapping[str, str], allowed: frozenset[str]) -> None:
        for name in attributes:
            if name not in allowed:
                raise CommandError(f"unknown parameter {name}")

    def add(self, menu: str, attributes: Mapping[str, str]) -> str:
        """Add a row as ``<menu>/add`` would (API words' values); returns its ``.id``."""
        table = self.tables[menu]
        values = self._values(table, attributes)
        for name in table.spec.required:
            if not values.get(name):
                raise CommandError(f"missing value(s) of argument(s) {name}", category=1)
        row = dict(table.spec.defaults)
        row.update(values)
        if not row.get("comment"):
            row.pop("comment", None)
        if table.spec.path == ADDRESS_LIST:
            row["creation-time"] = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            row["dynamic"] = "true" if "timeout" in row else "false"
        row.setdefault("disabled", "false")
        table.check_unique(row)
        return table.insert(row)

    def _set(self, table: Table, ids: Sequence[str], attributes: Mapping[str, str]) -> None:
        values = self._values(table, attributes)
        updated: dict[str, dict[str, str]] = {}
        for row_id in ids:
            row = {**table.rows[row_id], **values}
            if not row.get("comment"):
                row.pop("comment", None)  # setting an empty comment removes it
            table.check_unique(row, except_id=row_id)
            updated[row_id] = row
        table.rows.update(updated)
        table.changed()


class _MissingPathError(Exception):
    def __init__(self, segment: str) -> None:
        super().__init__(segment)
        self.segment = segment


# --- the transport --------------------------------------------------------------------------------


class FakeRouterOS:
    """The model above served on 127.0.0.1 (port 0: the OS picks), one thread per connection.

    Use ``with FakeRouterOS() as router:`` or ``start()``/``stop()``. Knobs, read on every sentence:

    * ``reply_delay``: seconds to wait before answering each sentence (a slow router).
    * ``stall_after``: answer this many sentences per connection, then read on and answer nothing
      (0 stalls before the login reply).
    * ``drop_after``: answer this many sentences per connection, then close when the next arrives.
    * ``refuse_connections``: accept and close at once, before any byte is read.

    Counters: ``connections`` (accepted), ``commands`` (every command word received, in order),
    ``errors`` (exceptions the server hit; a test should expect it empty).
    """

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        empty_reply: bool = True,
    ) -> None:
        self.model = RouterModel({username: password}, empty_reply=empty_reply)
        self.lock = threading.Lock()
        self.reply_delay = 0.0
        self.stall_after: int | None = None
        self.drop_after: int | None = None
        self.refuse_connections = False
        self.connections = 0
        self.commands: list[str] = []
        self.errors: list[BaseException] = []
        self._bind = (host, port)
        self._tls = tls
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    # lifecycle

    def start(self) -> Self:
        listener = socket.create_server(self._bind)
        listener.settimeout(0.05)  # lets the accept loop notice stop()
        self._listener = listener
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with suppress(OSError):  # already closed by its peer
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        assert self._listener is not None, "start() first"
        return str(self._listener.getsockname()[0])

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() first"
        return int(self._listener.getsockname()[1])

    # state, for tests to arrange and inspect

    def add_address_list_entry(
        self, list_name: str, address: str, *, comment: str | None = None, disabled: bool = False
    ) -> str:
        return self._add(
            ADDRESS_LIST, {"list": list_name, "address": address, "comment": comment, "disabled": disabled}
        )

    def add_secret(
        self,
        name: str,
        *,
        password: str = "",
        service: str = "pppoe",
        profile: str = "default",
        remote_address: str | None = None,
        comment: str | None = None,
        disabled: bool = False,
    ) -> str:
        values = {
            "name": name,
            "password": password,
            "service": service,
            "profile": profile,
            "remote-address": remote_address,
            "comment": comment,
            "disabled": disabled,
        }
        return self._add(PPP_SECRET, values)

    def add_active(
        self, name: str, address: str, *, service: str = "pppoe", caller_id: str = "", uptime: str = "1h2m3s"
    ) -> str:
        with self.lock:
            row = {
                "name": name,
                "service": service,
                "caller-id": caller_id,
                "address": address,
                "uptime": uptime,
                "radius": "false",
            }
            return self.model.tables[PPP_ACTIVE].insert(row)

    def rows(self, menu: str) -> list[dict[str, str]]:
        """A copy of a menu's rows, e.g. ``rows(ADDRESS_LIST)``."""
        with self.lock:
            return [dict(row) for row in self.model.tables[menu].rows.values()]

    def inject_trap(self, command: str, message: str, category: int | None = None) -> None:
        """Make every ``command`` (e.g. ``/ppp/active/remove``) fail with this trap, changing nothing."""
        with self.lock:
            self.model.injected_traps[command] = CommandError(message, category)

    def _add(self, menu: str, values: Mapping[str, str | bool | None]) -> str:
        attributes = {
            name: ("yes" if value else "no") if isinstance(value, bool) else value
            for name, value in values.items()
            if value is not None
        }
        with self.lock:
            return self.model.add(menu, attributes)

    # serving

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"fake-routeros-{target.__name__}")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self.lock:
                self.connections += 1
                refuse = self.refuse_connections
            if refuse:
                conn.close()
                continue
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        sock = conn
        with self.lock:
            self._open.add(conn)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(conn, server_side=True)
                with self.lock:
                    self._open.discard(conn)
                    self._open.add(sock)
            if not self._stopping.is_set():
                self._converse(sock)
        except (OSError, WireError):
            pass  # the client went away, failed the TLS handshake or sent bytes no client sends
        except Exception as error:  # surfaced to the tests through `errors`
            with self.lock:
                self.errors.append(error)
        finally:
            with self.lock:
                self._open.difference_update((conn, sock))
            sock.close()

    def _converse(self, sock: socket.socket) -> None:
        session = Session()
        reader = SentenceReader()
        answered = 0
        while not self._stopping.is_set():
            data = sock.recv(65536)
            if not data:
                return
            for words in reader.feed(data):
                if not words:
                    continue  # RouterOS ignores empty sentences
                with self.lock:
                    self.commands.append(words[0])
                    stall_after, drop_after, delay = self.stall_after, self.drop_after, self.reply_delay
                if drop_after is not None and answered >= drop_after:
                    return
                if stall_after is not None and answered >= stall_after:
                    continue
                if delay and self._stopping.wait(delay):
                    return
                with self.lock:
                    outcome = self.model.handle(session, words)
                sock.sendall(b"".join(encode_sentence(reply) for reply in outcome.replies))
                answered += 1
                if outcome.close:
                    return

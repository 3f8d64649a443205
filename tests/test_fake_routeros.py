"""The fake RouterOS server at the wire level: raw words over a real socket, no client library."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from librouteros.protocol import decode_length as librouteros_decode_length
from librouteros.protocol import encode_length as librouteros_encode_length

from tests.fake_routeros import (
    ADDRESS_LIST,
    PPP_ACTIVE,
    PPP_SECRET,
    FakeRouterOS,
    SentenceReader,
    WireError,
    decode_length,
    encode_length,
    encode_sentence,
)

LENGTH_ENCODINGS = [
    (0, "00"),
    (0x7F, "7f"),
    (0x80, "8080"),
    (0x3FFF, "bfff"),
    (0x4000, "c04000"),
    (0x1FFFFF, "dfffff"),
    (0x200000, "e0200000"),
    (0xFFFFFFF, "efffffff"),
    (0x10000000, "f010000000"),
    (0xFFFFFFFF, "f0ffffffff"),
]


@pytest.mark.parametrize(("length", "encoded"), LENGTH_ENCODINGS)
def test_length_prefix_uses_the_shortest_of_the_five_forms(length: int, encoded: str) -> None:
    assert encode_length(length).hex() == encoded
    assert decode_length(bytes.fromhex(encoded)) == (length, len(encoded) // 2)


@pytest.mark.parametrize("length", [0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 0xFFFFFFF])
def test_length_prefix_agrees_with_librouteros(length: int) -> None:
    assert encode_length(length) == librouteros_encode_length(length)
    assert decode_length(librouteros_encode_length(length)) == (
        librouteros_decode_length(encode_length(length)),
        len(encode_length(length)),
    )


def test_incomplete_length_prefix_waits_and_reserved_control_byte_is_refused() -> None:
    assert decode_length(b"\xc0\x40") is None
    assert decode_length(b"\xf0\x00\x00") is None
    with pytest.raises(WireError):
        decode_length(b"\xf8")


def test_reader_frames_any_split_of_the_stream() -> None:
    long_word = "=comment=" + "x" * 0x4000  # a 3-byte length prefix
    stream = encode_sentence(["/login", "=name=admin"]) + encode_sentence(["/ppp/secret/print", long_word])
    stream += b"\xf0\x00\x00\x00\x05hello\x00"  # the 5-byte form, for a short word
    reader = SentenceReader()
    sentences = [sentence for byte in stream for sentence in reader.feed(bytes([byte]))]
    assert sentences == [["/login", "=name=admin"], ["/ppp/secret/print", long_word], ["hello"]]
    assert SentenceReader().feed(stream) == sentences


class WireClient:
    """A bare RouterOS API client: sends words, reads reply sentences."""

    def __init__(self, router: FakeRouterOS) -> None:
        self.sock = socket.create_connection((router.host, router.port), timeout=5)
        self.reader = SentenceReader()
        self.pending: list[list[str]] = []

    def send(self, *sentences: list[str]) -> None:
        self.sock.sendall(b"".join(encode_sentence(words) for words in sentences))

    def sentence(self) -> list[str]:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the router")
            self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)

    def until_done(self) -> list[list[str]]:
        replies = [self.sentence()]
        while replies[-1][0] not in ("!done", "!fatal"):
            replies.append(self.sentence())
        return replies

    def call(self, *words: str) -> list[list[str]]:
        self.send(list(words))
        return self.until_done()

    def closed_by_peer(self) -> bool:
        return self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def router() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(username="api", password="pw") as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def client(router: FakeRouterOS) -> Iterator[WireClient]:
    wire = WireClient(router)
    assert wire.call("/login", "=name=api", "=password=pw") == [["!done"]]
    yield wire
    wire.close()


def test_bad_password_gets_a_trap_then_done_and_the_connection_stays(router: FakeRouterOS) -> None:
    wire = WireClient(router)
    assert wire.call("/login", "=name=api", "=password=nope") == [
        ["!trap", "=message=invalid user name or password (6)"],
        ["!done"],
    ]
    assert wire.call("/login", "=name=api", "=password=pw") == [["!done"]]
    wire.close()


def test_a_command_before_login_is_fatal(router: FakeRouterOS) -> None:
    wire = WireClient(router)
    assert wire.call("/ppp/secret/print") == [["!fatal", "not logged in"]]
    assert wire.closed_by_peer()
    wire.close()


def test_quit_ends_the_session(client: WireClient) -> None:
    assert client.call("/quit") == [["!fatal", "session terminated on request"]]
    assert client.closed_by_peer()


def test_pipelined_tagged_commands_get_their_tag_on_every_reply(router: FakeRouterOS, client: WireClient) -> None:
    router.add_address_list_entry("morosos", "10.0.0.1", comment="a")
    router.add_address_list_entry("morosos", "10.0.0.2")
    client.send(
        ["/ip/firewall/address-list/print", "=.proplist=.id,address", ".tag=p"],
        ["/ip/firewall/address-list/add", "=list=morosos", "=address=10.0.0.3/32", ".tag=a"],
        ["/ip/firewall/address-list/add", ".tag=d", "=list=morosos", "=address=10.0.0.1"],
    )
    replies = [client.sentence() for _ in range(6)]
    assert replies == [
        ["!re", "=.id=*1", "=address=10.0.0.1", ".tag=p"],
        ["!re", "=.id=*2", "=address=10.0.0.2", ".tag=p"],
        ["!done", ".tag=p"],
        ["!done", "=ret=*3", ".tag=a"],
        ["!trap", "=message=failure: already have such entry", ".tag=d"],
        ["!done", ".tag=d"],
    ]
    assert [row["address"] for row in router.rows(ADDRESS_LIST)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def _print(client: WireClient, *words: str) -> list[str]:
    """Addresses of the address-list rows a print with these query words returns."""
    replies = client.call("/ip/firewall/address-list/print", "=.proplist=address", *words)
    assert replies[-1] == ["!done"]
    return [reply[1].removeprefix("=address=") for reply in replies if reply[0] == "!re"]


@pytest.fixture
def lists(router: FakeRouterOS) -> None:
    router.add_address_list_entry("morosos", "10.0.0.1", comment="[centinela:C-1]")
    router.add_address_list_entry("morosos", "10.0.0.2")
    router.add_address_list_entry("avisos", "10.0.0.3", comment="[centinela:C-3]", disabled=True)
    router.add_address_list_entry("otros", "10.0.0.4", comment="manual")


@pytest.mark.usefixtures("lists")
@pytest.mark.parametrize(
    ("words", "addresses"),
    [
        ((), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]),
        (("?list=morosos",), ["10.0.0.1", "10.0.0.2"]),
        (("?=list=morosos",), ["10.0.0.1", "10.0.0.2"]),
        (("?list=morosos", "?list=avisos", "?#|"), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
        (("?list=morosos", "?comment", "?#&"), ["10.0.0.1"]),
        (("?list=morosos", "?comment"), ["10.0.0.1"]),  # values left on the stack must all be true
        (("?list=morosos", "?#!"), ["10.0.0.3", "10.0.0.4"]),
        (("?-comment",), ["10.0.0.2"]),
        (("?comment=manual", "?#!", "?list=otros", "?#|"), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]),
        (("?list=morosos", "?comment=nothing", "?#1"), ["10.0.0.1", "10.0.0.2"]),  # index at word end
        (("?disabled=yes",), ["10.0.0.3"]),
        (("?disabled=false", "?list=otros", "?#!&"), ["10.0.0.1", "10.0.0.2"]),
        (("?address=10.0.0.4/32",), ["10.0.0.4"]),
        (("?>address=10.0.0.2", "?<address=10.0.0.4"), ["10.0.0.3"]),
    ],
)
def test_print_queries(client: WireClient, words: tuple[str, ...], addresses: list[str]) -> None:
    assert _print(client, *words) == addresses


@pytest.mark.usefixtures("lists")
def test_proplist_limits_the_attributes_and_missing_ones_are_left_out(client: WireClient) -> None:
    replies = client.call("/ip/firewall/address-list/print", "=.proplist=.id,comment,list", "?list=morosos")
    assert replies == [
        ["!re", "=.id=*1", "=list=morosos", "=comment=[centinela:C-1]"],
        ["!re", "=.id=*2", "=list=morosos"],
        ["!done"],
    ]


@pytest.mark.parametrize("empty_reply", [True, False])
def test_a_print_with_no_rows_says_empty_like_routeros_7_18(empty_reply: bool) -> None:
    with FakeRouterOS(username="api", password="pw", empty_reply=empty_reply) as router:
        wire = WireClient(router)
        wire.call("/login", "=name=api", "=password=pw")
        expected = [["!empty", ".tag=9"], ["!done", ".tag=9"]] if empty_reply else [["!done", ".tag=9"]]
        assert wire.call("/ppp/active/print", ".tag=9") == expected
        wire.close()


def test_unknown_commands_trap_like_routeros(client: WireClient) -> None:
    assert client.call("/ppp/active/add", "=name=x") == [
        ["!trap", "=category=0", "=message=no such command"],
        ["!done"],
    ]
    assert client.call("/system/resource/print", ".tag=t") == [
        ["!trap", "=category=0", "=message=no such command or directory (system)", ".tag=t"],
        ["!trap", "=message=no such command prefix", ".tag=t"],
        ["!done", ".tag=t"],
    ]


def test_set_and_remove_need_existing_items(router: FakeRouterOS, client: WireClient) -> None:
    router.add_address_list_entry("morosos", "10.0.0.1")
    assert client.call("/ip/firewall/address-list/remove", "=.id=*1,*9") == [
        ["!trap", "=message=no such item"],
        ["!done"],
    ]
    assert len(router.rows(ADDRESS_LIST)) == 1  # all or nothing
    assert client.call("/ip/firewall/address-list/set", "=.id=*1", "=colour=red") == [
        ["!trap", "=message=unknown parameter colour"],
        ["!done"],
    ]
    assert client.call("/ip/firewall/address-list/remove", "=.id=*1") == [["!done"]]
    assert router.rows(ADDRESS_LIST) == []


def test_secrets_by_name_and_sessions_outlive_a_disabled_secret(router: FakeRouterOS, client: WireClient) -> None:
    router.add_secret("juan", password="x", comment="Juan")
    router.add_active("juan", "100.64.0.7", caller_id="AA:BB:CC:00:11:22")
    assert client.call("/ppp/secret/disable", "=.id=juan") == [["!done"]]
    assert client.call("/ppp/secret/set", "=numbers=juan", "=comment=") == [["!done"]]
    [secret] = router.rows(PPP_SECRET)
    assert secret["disabled"] == "true"
    assert "comment" not in secret
    assert client.call("/ppp/secret/add", "=name=juan") == [
        ["!trap", "=message=failure: secret with the same name already exists"],
        ["!done"],
    ]
    [session] = client.call("/ppp/active/print", "?name=juan")[:-1]
    assert session[:2] == ["!re", "=.id=*1"]
    assert "=caller-id=AA:BB:CC:00:11:22" in session
    assert client.call("/ppp/active/remove", "=.id=*1") == [["!done"]]
    assert router.rows(PPP_ACTIVE) == []


def test_counters_and_failure_knobs(router: FakeRouterOS) -> None:
    router.refuse_connections = True
    refused = WireClient(router)
    assert refused.closed_by_peer()
    refused.close()

    router.refuse_connections = False
    router.drop_after = 1
    dropped = WireClient(router)
    assert dropped.call("/login", "=name=api", "=password=pw") == [["!done"]]
    dropped.send(["/ppp/secret/print"])
    assert dropped.closed_by_peer()
    dropped.close()

    router.drop_after = None
    router.stall_after = 1
    stalled = WireClient(router)
    stalled.sock.settimeout(0.2)
    assert stalled.call("/login", "=name=api", "=password=pw") == [["!done"]]
    stalled.send(["/ppp/secret/print"])
    with pytest.raises(TimeoutError):
        stalled.sentence()
    stalled.close()

    assert router.connections == 3
    assert router.commands == ["/login", "/ppp/secret/print", "/login", "/ppp/secret/print"]

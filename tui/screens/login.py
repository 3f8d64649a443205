"""Log-in: who is at the console decides what they may do, and every action carries their name."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from centinela.data import operators
from centinela.data.operators import Operator
from centinela.data.store import Store
from centinela.tui.texts import Texts


class LoginScreen(Screen[Operator]):
    """Dismisses with the authenticated operator."""

    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    LoginScreen #login-box { width: 60; height: auto; border: round $accent; padding: 1 2; }
    LoginScreen Input { margin-bottom: 1; }
    LoginScreen #login-error { color: $error; height: auto; }
    LoginScreen #login-hint { color: $text-muted; height: auto; }
    """

    def __init__(self, store: Store, texts: Texts, *, hint: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.texts = texts
        self.hint = hint

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Header()
        with Center():
            with Vertical(id="login-box"):
                yield Label(t("login.title"))
                yield Input(placeholder=t("login.user"), id="login-user")
                yield Input(placeholder=t("login.password"), password=True, id="login-password")
                yield Button(t("login.submit"), variant="primary", id="login-submit")
                yield Static("", id="login-error")
                yield Static(self.hint or "", id="login-hint")
        yield Footer()

    async def on_mount(self) -> None:
        if await operators.count_operators(self.store.reader) == 0:
            self.query_one("#login-error", Static).update(self.texts("login.no_operators"))
        self.query_one("#login-user", Input).focus()

    @on(Input.Submitted, "#login-user")
    def _next_field(self) -> None:
        self.query_one("#login-password", Input).focus()

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def _submit(self) -> None:
        self._check(self.query_one("#login-user", Input).value, self.query_one("#login-password", Input).value)

    @work(exclusive=True, exit_on_error=False)
    async def _check(self, username: str, password: str) -> None:
        operator = await operators.authenticate(self.store.reader, username, password)
        if operator is None:
            self.query_one("#login-error", Static).update(self.texts("login.failed"))
            self.query_one("#login-password", Input).value = ""
            self.query_one("#login-password", Input).focus()
            return
        self.dismiss(operator)

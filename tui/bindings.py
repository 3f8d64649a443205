"""Key-binding labels in the operator's language.

Textual reads footer labels from class-level BINDINGS; ours hold text-catalogue keys, and each
screen swaps them for the translated text when it is created.
"""

from __future__ import annotations

from dataclasses import replace

from textual.dom import DOMNode

from centinela.tui.texts import Texts


def localize_bindings(node: DOMNode, texts: Texts) -> None:
    bindings = node._bindings.key_to_bindings  # noqa: SLF001 - no public API to relabel
    for key, entries in bindings.items():
        bindings[key] = [replace(entry, description=texts(entry.description)) if entry.description else entry
                         for entry in entries]

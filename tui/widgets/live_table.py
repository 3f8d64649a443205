"""A DataTable for a live feed: rows keyed by event id, kept in a given order, capped in size."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

Cells = Sequence[Text | str]


class LiveTable(DataTable[Text | str]):
    """Rows arrive in bursts; the table re-sorts once per burst, not once per row."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        order: Callable[[int], Hashable],
        reverse: bool = False,
        capacity: int = 500,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_labels = tuple(columns)
        self._order = order
        self._reverse = reverse
        self._capacity = capacity
        self._sort_keys: dict[int, Hashable] = {}

    def on_mount(self) -> None:
        self.add_columns(*self._column_labels)

    def upsert(self, rows: Iterable[tuple[int, Cells]]) -> None:
        for row_id, cells in rows:
            key = str(row_id)
            if row_id in self._sort_keys:
                self.remove_row(key)
            self.add_row(*cells, key=key)
            self._sort_keys[row_id] = self._order(row_id)
        self._trim()
        self.sort(key=self._row_order, reverse=self._reverse)

    def discard(self, row_ids: Iterable[int]) -> None:
        for row_id in row_ids:
            if self._sort_keys.pop(row_id, None) is not None:
                try:
                    self.remove_row(str(row_id))
                except RowDoesNotExist:
                    pass

    def row_ids(self) -> list[int]:
        """Row ids in display order."""
        return [int(str(row.key.value)) for row in self.ordered_rows]

    def _row_order(self, cells: Sequence[Text | str]) -> Hashable:
        return self._sort_keys[int(str(cells[0]))]

    def _trim(self) -> None:
        excess = len(self._sort_keys) - self._capacity
        if excess <= 0:
            return
        # Drop the rows that would sort last: the oldest in a newest-first feed.
        ranked = sorted(self._sort_keys, key=self._sort_keys.__getitem__, reverse=not self._reverse)
        self.discard(ranked[:excess])

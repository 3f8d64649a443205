"""A DataTable for a live feed: rows keyed by event id, kept in a given order, capped in size,
with columns that fit the terminal (fixed ones, flexible ones, and ones dropped when narrow)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widgets import DataTable

Cells = Sequence[Text | str]
CELL_PADDING = 1
REBUILD_AFTER = 128
"""Rows removed at once past which re-adding every row is cheaper: DataTable.remove_row
renumbers all rows (about 0.5 us each), while adding a row and measuring its cells (DataTable does
on idle) costs about 100 us, so removing k rows of n costs about as much as rebuilding when k
nears 200, whatever n."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    label: str
    width: int | None = None
    """Fixed width; None shares what is left with the other flexible columns."""
    shown_from: int = 0
    """Hide the column when the table is narrower than this (80-column terminals)."""


def fit_columns(specs: Sequence[ColumnSpec], total: int) -> list[tuple[int, int]]:
    """(spec index, width) of the columns to show in ``total`` cells. Flexible columns split the
    remainder (less room for the scrollbar) equally and never shrink below 8 cells."""
    shown = [(i, spec) for i, spec in enumerate(specs) if total >= spec.shown_from]
    fixed = sum(spec.width or 0 for _, spec in shown) + 2 * CELL_PADDING * len(shown)
    flexible = [i for i, spec in shown if spec.width is None]
    share = max(8, (total - fixed - 2) // len(flexible)) if flexible else 0
    return [(i, spec.width if spec.width is not None else share) for i, spec in shown]


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A cell that carries its row's sort key: DataTable's sort sees cell values, not row keys."""

    text: Text
    sort_key: Hashable

    def __rich__(self) -> Text:
        return self.text

    def __str__(self) -> str:
        return str(self.text)


class LiveTable(DataTable[Text | str]):
    """Rows arrive in bursts; the table re-sorts once per burst, not once per row.

    The console's receiver runs on the same event loop, so a burst must cost the table about its
    size, not its size times the burst: DataTable.remove_row renumbers every row, so a burst that
    removes many rows rebuilds the table once instead, rows already shown are updated in place,
    and rows that would be trimmed at once are never added.
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        *,
        order: Callable[[int], Hashable],
        reverse: bool = False,
        capacity: int = 500,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self._specs = tuple(columns)
        self._order = order
        self._reverse = reverse
        self.capacity = capacity
        self._rows: dict[int, list[Text | str]] = {}
        self._sort_keys: dict[int, Hashable] = {}
        self._layout: list[tuple[int, int]] = []

    def on_resize(self, event: events.Resize) -> None:
        layout = fit_columns(self._specs, event.size.width)
        if layout != self._layout:
            self._layout = layout
            self._rebuild()

    def _rebuild(self) -> None:
        self.clear(columns=True)
        for index, width in self._layout:
            self.add_column(self._specs[index].label, width=width, key=str(index))
        for row_id, cells in self._rows.items():
            self._add(row_id, cells)
        self._sort()

    def _shown(self, row_id: int, index: int, cell: Text | str) -> Text | _Keyed:
        """A cell as the DataTable holds it. Plain strings would be parsed as Rich markup (a
        customer called "[x]" must show as is); the first column shown carries the row's sort key."""
        value = Text(cell) if isinstance(cell, str) else cell
        return _Keyed(value, self._sort_keys[row_id]) if index == self._layout[0][0] else value

    def _add(self, row_id: int, cells: Cells) -> None:
        self.add_row(*(self._shown(row_id, index, cells[index]) for index, _ in self._layout), key=str(row_id))

    def upsert(self, rows: Iterable[tuple[int, Cells]]) -> None:
        shown = set(self._rows) if self._layout else set()
        arrived: list[int] = []
        for row_id, cells in rows:
            self._rows[row_id] = list(cells)
            self._sort_keys[row_id] = self._order(row_id)
            arrived.append(row_id)
        gone = self._forget(self._excess())
        if not self._layout:
            return
        kept = [row_id for row_id in dict.fromkeys(arrived) if row_id in self._rows]
        if self._remove_shown(gone & shown):
            return  # rebuilt with every row
        for row_id in kept:
            if row_id in shown:
                self._replace(row_id)
            else:
                self._add(row_id, self._rows[row_id])
        self._sort()

    def discard(self, row_ids: Iterable[int]) -> None:
        shown = set(self._rows)
        gone = self._forget(row_ids)
        if self._layout:
            self._remove_shown(gone & shown)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    def _forget(self, row_ids: Iterable[int]) -> set[int]:
        gone = set()
        for row_id in row_ids:
            if self._rows.pop(row_id, None) is not None:
                del self._sort_keys[row_id]
                gone.add(row_id)
        return gone

    def _remove_shown(self, row_ids: set[int]) -> bool:
        """Take rows off the DataTable; True if that rebuilt it (it then shows every kept row)."""
        if len(row_ids) > REBUILD_AFTER:
            self.clear()
            for row_id, cells in self._rows.items():
                self._add(row_id, cells)
            self._sort()
            return True
        for row_id in row_ids:
            self.remove_row(str(row_id))
        return False

    def _replace(self, row_id: int) -> None:
        cells = self._rows[row_id]
        for index, _ in self._layout:
            self.update_cell(str(row_id), str(index), self._shown(row_id, index, cells[index]))  # type: ignore[arg-type]

    def update_column(self, index: int, cells: dict[int, Text | str]) -> None:
        """Redraw one column of many rows in place (e.g. the elapsed time of pending alarms);
        unlike upsert this neither re-sorts nor re-creates rows."""
        shown = {spec_index for spec_index, _ in self._layout}
        for row_id, cell in cells.items():
            if row_id not in self._rows:
                continue
            row = list(self._rows[row_id])
            row[index] = cell
            self._rows[row_id] = row
            if index in shown:
                self.update_cell(str(row_id), str(index), self._shown(row_id, index, cell))  # type: ignore[arg-type]

    def clear_rows(self) -> None:
        self._rows.clear()
        self._sort_keys.clear()
        self.clear()

    def oldest_id(self) -> int | None:
        return min(self._rows) if self._rows else None

    def selected_id(self) -> int | None:
        """The event under the cursor, if any."""
        if not self._layout or self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(str(row_key.value))

    def row_ids(self) -> list[int]:
        """Row ids in display order."""
        if not self._layout:
            return sorted(self._rows, key=self._sort_keys.__getitem__, reverse=self._reverse)
        return [int(str(row.key.value)) for row in self.ordered_rows]

    def cells(self, row_id: int) -> Cells:
        """All of a row's cells, including those of columns hidden at this width."""
        return self._rows[row_id]

    def _sort(self) -> None:
        if self._layout:
            self.sort(str(self._layout[0][0]), key=lambda cell: cell.sort_key, reverse=self._reverse)

    def _excess(self) -> list[int]:
        """The rows beyond capacity: those that would sort last (the oldest in a newest-first feed)."""
        excess = len(self._rows) - self.capacity
        if excess <= 0:
            return []
        ranked = sorted(self._rows, key=self._sort_keys.__getitem__, reverse=not self._reverse)
        return ranked[:excess]

"""The live feed table under a storm: the right rows, in order, at a cost that follows its size."""

from __future__ import annotations

from textual.app import App, ComposeResult

from centinela.tui.widgets.live_table import REBUILD_AFTER, ColumnSpec, LiveTable

COLUMNS = (ColumnSpec("id", 8), ColumnSpec("text"))


class Feed(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, order=lambda row_id: row_id, reverse=True, capacity=300)


def rows(ids: range, text: str = "alarm") -> list[tuple[int, list[str]]]:
    return [(row_id, [str(row_id), f"{text} {row_id}"]) for row_id in ids]


def shown(table: LiveTable) -> list[tuple[str, ...]]:
    return [tuple(str(cell) for cell in table.get_row(str(row_id))) for row_id in table.row_ids()]


async def test_a_burst_keeps_the_newest_rows_and_never_removes_them_one_by_one() -> None:
    app = Feed()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(LiveTable)
        table.upsert(rows(range(1, 301)))
        await pilot.pause()
        removed: list[str] = []
        original = table.remove_row
        table.remove_row = lambda key: (removed.append(str(key)), original(key))[1]  # type: ignore[method-assign]

        table.upsert(rows(range(301, 3301)))  # a storm's burst, ten times the table
        await pilot.pause()
        assert table.row_ids() == list(range(3300, 3000, -1))
        assert shown(table)[0] == ("3300", "alarm 3300")
        assert removed == []  # rebuilt once instead of three hundred renumberings

        table.upsert(rows(range(3301, 3306)))  # a few: removed one by one, cheaper than a rebuild
        await pilot.pause()
        assert table.row_ids() == list(range(3305, 3005, -1))
        assert sorted(removed) == [str(row_id) for row_id in range(3001, 3006)]
        assert 5 <= REBUILD_AFTER < 300


async def test_a_changed_row_is_updated_in_place_and_keeps_its_place() -> None:
    app = Feed()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(LiveTable)
        table.upsert(rows(range(1, 51)))
        table.upsert([(25, ["25", "taken by ana"]), (200, ["200", "new alarm"])])
        await pilot.pause()
        assert table.row_ids()[:2] == [200, 50]
        assert shown(table)[table.row_ids().index(25)] == ("25", "taken by ana")
        assert 25 in table and 26 in table and 999 not in table
        table.discard([25, 999])
        await pilot.pause()
        assert 25 not in table and table.row_count == 50

"""How a table is fitted to the terminal (``cli.render.fit``): free text shrinks first, then
columns are left out by priority; names are never cut."""

from __future__ import annotations

from tickwork.cli.render import FLEX_MIN_WIDTH, Column, fit

COLUMNS = [
    Column("name"),
    Column("schedule", drop=1),
    Column("kind", drop=3),
    Column("description", drop=2, flex=True),
]
ROW = ["nightly-export", "30 2 * * *", "shell", "x" * 40]


def width_of(widths: list[int | None]) -> int:
    shown = [w for w in widths if w is not None]
    return sum(w + 3 for w in shown) + 1


def test_everything_fits_at_natural_width() -> None:
    assert fit(COLUMNS, [ROW], 200) == [14, 10, 5, 40]


def test_free_text_shrinks_before_a_column_goes() -> None:
    widths = fit(COLUMNS, [ROW], 60)
    assert widths[:3] == [14, 10, 5]
    assert widths[3] is not None and FLEX_MIN_WIDTH <= widths[3] < 40
    assert width_of(widths) == 60


def test_columns_go_by_priority_then_names_stay_whole() -> None:
    # No room for the description even at its narrowest: kind (3) goes before it (2).
    assert fit(COLUMNS, [ROW], 48) == [14, 10, None, 14]
    assert fit(COLUMNS, [ROW], 31) == [14, 10, None, None]
    assert fit(COLUMNS, [ROW], 30) == [14, None, None, None]
    # Too narrow even for the name: it is shown whole, and the table is wider than asked.
    assert fit(COLUMNS, [ROW], 10) == [14, None, None, None]


def test_the_rightmost_of_equal_priorities_goes_first() -> None:
    columns = [Column("a"), Column("b", drop=1), Column("c", drop=1)]
    assert fit(columns, [["aaaa", "bbbb", "cccc"]], 15) == [4, 4, None]


def test_headers_count_and_wide_characters_take_two_cells() -> None:
    columns = [Column("name"), Column("note", drop=1, flex=True)]
    assert fit(columns, [["\u65e5\u672c", "short"]], 100) == [4, 5]
    assert fit(columns, [["\u65e5\u672c\u8a9e\u306e", "short"]], 100) == [8, 5]

"""The column facet of a published copy: Datasette's own (`?_facet=column`), except that a facet of a whole
table of an immutable copy is read from the counts the copy keeps (archiver/facet_counts.py) instead of
grouping every row of the table on every page view. A filtered table, a column without counts and a live
archive are counted by Datasette, as before; the page and its links are the same either way."""

from __future__ import annotations

import weakref
from typing import Any

from datasette import hookimpl
from datasette.facets import ColumnFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

from archiver.facet_counts import counted

# per Datasette instance, the immutable archive databases whose file holds facet counts (set at startup)
precounted: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _column(item: dict[str, Any]) -> str:
    return item["config"].get("column") or item["config"]["simple"]


class CountedColumnFacet(ColumnFacet):
    _configs: list[dict[str, Any]] | None = None

    def get_configs(self) -> list[dict[str, Any]]:
        return super().get_configs() if self._configs is None else self._configs

    def _whole_table(self) -> bool:
        # the table view facets `select <columns> from <table> <where>`: no where clause, no filter
        return bool(self.table) and not self.params and \
            self.sql.rstrip().endswith(f" from {escape_sqlite(self.table)}")

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        if self.database not in precounted.get(self.ds, ()) or not self._whole_table():
            return await super().facet_results()
        db = self.ds.get_database(self.database)
        size = self.get_facet_size()
        configs = self.get_configs()
        found: dict[int, dict[str, Any]] = {}
        for index, item in enumerate(configs):
            column = _column(item)
            rows = await db.execute_fn(lambda conn, column=column: counted(conn, self.table, column, size + 1))
            if rows is not None:
                found[index] = await self._result(column, item["source"], rows, size)
        self._configs = [item for index, item in enumerate(configs) if index not in found]
        computed, timed_out = await super().facet_results() if self._configs else ([], [])
        self._configs = None
        results = []  # in the order they were asked for, as Datasette gives them
        for index, item in enumerate(configs):
            result = found.get(index) or next((r for r in computed if r["name"] == _column(item)), None)
            if result is not None:
                results.append(result)
                if index not in found:
                    computed.remove(result)
        return results, timed_out

    async def _result(self, column: str, source: str, rows: list[tuple[Any, int]], size: int) -> dict[str, Any]:
        """One facet as ColumnFacet makes it (the same keys, labels and links) from counted rows. The table is
        whole, so no value is selected yet: each value's link adds it as a filter."""
        shown = rows[:size]
        labels = await self.ds.expand_foreign_keys(self.database, self.table, column, [v for v, _ in shown])
        column_qs = f"{column}__exact" if column.startswith("_") else column
        return {
            "name": column,
            "type": self.type,
            "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
            "results": [{
                "value": value,
                "label": labels.get((column, value), value),
                "count": count,
                "toggle_url": self.ds.absolute_url(
                    self.request, self.ds.urls.path(path_with_added_args(self.request, {column_qs: value}))),
                "selected": False,
            } for value, count in shown],
            "truncated": len(rows) > size,
        }


@hookimpl(hookwrapper=True)
def register_facet_classes() -> Any:
    # Datasette's column facet is replaced by the counted one (a subclass: the same type and query arguments)
    outcome = yield
    outcome.force_result([[CountedColumnFacet if klass is ColumnFacet else klass for klass in classes]
                          for classes in outcome.get_result()])

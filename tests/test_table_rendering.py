"""The table pages print their rows and sort links in Python (archiver/publish/labels.py) rather than in
Jinja, for speed: they must print what Datasette's own template prints. Both templates are rendered here
with the same rows, taken from Datasette itself for a real archive table, and compared."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import jinja2
import pytest
from datasette.utils import escape_css_string, path_with_replaced_args, to_css_class
from datasette.utils.asgi import Request
from markupsafe import Markup

from archiver.publish.labels import sort_links, table_body, table_columns

OURS = Path(__file__).resolve().parent.parent / "archiver" / "publish" / "templates" / "_table.html"
THEIRS = files("datasette").joinpath("templates", "_table.html")
COLUMNS = ["id", "platform", "native_id", "text", "version_count", "media", "weird name-é"]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(to_css_class=to_css_class, escape_css_string=escape_css_string)
    env.globals.update(archiver_columns=table_columns, archiver_sort_links=sort_links, archiver_table_body=table_body)
    return env


def rows() -> list[list[dict[str, object]]]:
    """Cells as Datasette's display_columns_and_rows makes them: markup it or a plugin made, plain text to
    be escaped, numbers, None shown as a blank."""
    values = [Markup('<a href="/archive/posts/1">1</a>'), "x", Markup('<a href="/-/post/x/1">a&amp;b</a>'),
              'He said "stop" & <left> it\'s…', 3, None, "[]"]
    types = ["pk", "str", "str", "str", "int", "none", "str"]
    return [[{"column": name, "value": value if value is not None else Markup("&nbsp;"), "raw": value,
              "value_type": kind} for name, value, kind in zip(COLUMNS, values, types, strict=True)]
            for _ in range(3)]


def render(template: str, query: str, sort: str | None, sort_desc: str | None) -> str:
    columns = [{"name": name, "sortable": name != "media", "is_pk": name == "id", "type": "TEXT", "notnull": 0,
                "description": None} for name in COLUMNS]
    return environment().from_string(template).render(
        display_columns=columns, display_rows=rows(), sort=sort, sort_desc=sort_desc,
        request=Request.fake(f"/archive/posts{query}"), fix_path=lambda path: f"/prefix{path}",
        path_with_replaced_args=path_with_replaced_args, archiver_archive=True, table="posts", metadata={})


def squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", " ".join(html.split()))


@pytest.mark.parametrize(("query", "sort", "sort_desc"), [
    ("", None, None),
    ("?_sort=text", "text", None),
    ("?_sort_desc=version_count&_next=20&_facet=platform", None, "version_count"),
    ("?_search=caf%C3%A9+%26+co&_where=a%3D1&_where=b%3D2&_sort=native_id&_size=5", "native_id", None),
])
def test_rows_and_sort_links_are_what_datasette_prints(query: str, sort: str | None, sort_desc: str | None) -> None:
    ours, theirs = (render(template, query, sort, sort_desc) for template in (OURS.read_text("utf-8"),
                                                                               THEIRS.read_text("utf-8")))
    body = re.compile(r"<tbody>.*</tbody>", re.S)
    assert squeezed(body.search(ours).group()) == squeezed(body.search(theirs).group())
    assert squeezed(body.search(ours).group()).count("<td") == 3 * len(COLUMNS)
    link = re.compile(r'<a href="([^"]*)" rel="nofollow">')
    assert link.findall(ours) == link.findall(theirs)
    assert len(link.findall(ours)) == len(COLUMNS) - 1  # every sortable column, each with its own link
    assert "&lt;left&gt;" in ours and 'a&amp;b</a>' in ours and "&amp;amp;" not in ours


def test_a_row_page_without_sorting_renders() -> None:
    html = environment().from_string(OURS.read_text("utf-8")).render(
        display_columns=[{"name": name, "sortable": False, "is_pk": False, "type": "TEXT", "notnull": 0,
                          "description": None} for name in COLUMNS],
        display_rows=rows()[:1], request=Request.fake("/archive/posts/1"), archiver_archive=True, table="posts",
        metadata={}, sort=None, sort_desc=None)
    assert html.count("<td") == len(COLUMNS) and 'rel="nofollow"' not in html

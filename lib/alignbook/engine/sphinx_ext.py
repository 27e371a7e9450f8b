"""Sphinx roles of the book (loaded by ``book/_config.yml``).

``{paper}`27.6 %``` marks a number typed from the paper (its tables, its text). It renders the
text as it is, in its own class, so a reader sees which numbers are the paper's, and the page
checks (:mod:`alignbook.engine.pages`) can tell a quoted number from a measured one: numbers a run
measured never appear typed on a chapter page; they come from the executed notebooks.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes


def paper_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any, options: Any = None,
               content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    node = nodes.inline(rawtext, text, classes=["paper-number"])
    node["title"] = "the paper's number"
    return [node], []


def setup(app: Any) -> dict[str, Any]:
    app.add_role("paper", paper_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

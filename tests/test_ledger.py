"""The claims ledger, the number formatting and the page checks, on hand-made inputs."""

import pytest

from alignbook.engine import claims, pages
from alignbook.engine.claims import Claim, judge
from alignbook.engine.metrics import format_number, format_value


def _claim(kind="status", **kw):
    return Claim("c", "a claim", "paper", "ch/01_x", "m", "when it holds", kind=kind, **kw)


def test_status_claims_take_the_recorded_verdict_word():
    assert judge(_claim(), {"value": "shown"}) == "shown"
    assert judge(_claim(), {"value": "not testable here"}) == "not testable"
    assert judge(_claim(), None) == "not run"
    with pytest.raises(ValueError, match="not a verdict"):
        judge(_claim(), {"value": "REPRODUCED"})


def test_interval_claims_need_the_whole_interval_on_one_side():
    above = _claim("above", threshold=0.0)
    assert judge(above, {"value": 0.3, "spread": 0.1}) == "shown"
    assert judge(above, {"value": 0.05, "spread": 0.1}) == "not shown"
    assert judge(above, {"value": -0.3, "spread": 0.1}) == "contrary"
    assert judge(above, {"value": 0.3, "spread": None}) == "not testable"
    below = _claim("below", threshold=1.0)
    assert judge(below, {"value": 0.5, "spread": 0.1}) == "shown"
    assert judge(_claim("near", threshold=1.0, tolerance=0.01), {"value": 1.005}) == "shown"
    assert judge(_claim("near", threshold=1.0, tolerance=0.01), {"value": 1.02}) == "not shown"


def test_a_claim_needs_a_criterion_and_a_known_kind():
    with pytest.raises(ValueError, match="criterion"):
        Claim("c", "x", "p", "n", "m", " ")
    with pytest.raises(ValueError, match="kind"):
        Claim("c", "x", "p", "n", "m", "crit", kind="maybe")


def test_evaluate_and_tally_never_use_a_notebook_without_a_valid_result():
    class Module:
        CLAIMS = (_claim(), Claim("d", "b", "p", "ch/02_y", "n", "crit", support="n_number", support_words="diff"))

    rows = claims.evaluate(Module, {"ch/01_x": {"m": {"value": "shown", "profile": "smoke"}}})
    assert [r["verdict"] for r in rows] == ["shown", "not run"]
    assert rows[1]["ours"] == "–" and rows[0]["profile"] == "smoke"
    assert claims.tally(rows) == "1 shown, 1 not run"
    assert claims.tally(rows[1:]) == "not run"
    rows = claims.evaluate(Module, {"ch/02_y": {"n": {"value": "contrary", "profile": "smoke"},
                                                 "n_number": {"value": -0.1234, "spread": 0.05, "seeds": 3}}})
    assert rows[1]["ours"] == "diff -0.123 ± 0.050 (3 seeds)"
    assert "| **contrary** (smoke) |" in claims.markdown_table(rows)


def test_numbers_are_rounded_and_say_their_seeds_and_units():
    assert format_number(16.580000000000002) == "16.6"
    assert format_number(0.484994655445357) == "0.485"
    assert format_number(float("nan")) == "not available"
    assert format_value({"value": 0.43503473621110766, "spread": 0.0, "seeds": 1}) == "0.435 (1 seed)"
    assert format_value({"value": 81.31, "unit": "s"}) == "81.3 s"
    assert format_value({"value": 12.0, "spread": 1.5, "seeds": 3, "unit": "%"}) == "12.0 ± 1.5 % (3 seeds)"


def test_typed_numbers_catch_measurements_but_not_settings_or_references():
    page = ("The smoke run took 205 s and reached 0.43 ± 0.02. See Table 3 and Section 4.2 of arXiv "
            "2406.06144 (2025), Llama2-7B and SmolLM2-135M, lr 0.035, ε = 0.2, {paper}`27.6 %` and `0.5`.\n"
            "$$ x = 0.5 $$\n```python\ny = 3.14\n```\n")
    found = pages.typed_numbers(page)
    assert len(found) == 3 and "205 s" in found[0] and "0.43" in found[1]
    assert pages.typed_numbers("Section 4.2, Table 1, v6, 2.3.3, 95% intervals, 7B.") == []


def test_site_problems_finds_reprs_foreign_links_and_unshown_images(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "old.png").write_bytes(b"x")
    (tmp_path / "_images" / "new.png").write_bytes(b"x")
    (tmp_path / "index.html").write_text(
        '<p><img src="_images/new.png" alt="Figure"></p><a href="https://arxiv.org/abs/1">p</a>'
        '<a href="http://ppo-lag.sh">x</a><pre>{&#39;png&#39;: &#39;figures/a.png&#39;}</pre>')
    problems = pages.site_problems(tmp_path)
    assert any("ppo-lag.sh" in p for p in problems)
    assert any("old.png" in p for p in problems) and not any("new.png" in p for p in problems)
    assert any("png" in p and "shows" in p for p in problems)
    assert len(problems) == 3


def test_prune_images_keeps_only_what_a_page_shows(tmp_path):
    from alignbook.engine import book

    (tmp_path / "_images").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "_images" / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text('<img src="../_images/a.png" alt="Figure: a">')
    assert book.prune_images(tmp_path) == ["b.png"]
    assert pages.site_problems(tmp_path) == []

"""Every notebook keeps the contract, executes in the `test` profile, and the book builds strictly."""

import ast
import json
import os
import re

import nbformat
import pytest

from alignbook.engine import book, claims, metrics, pages, paths, runner
from alignbook.engine.config import PROFILES, resolve

NOTEBOOKS = runner.all_notebooks()


def _cells(name, kind="code"):
    nb = nbformat.read(paths.notebooks_dir() / f"{name}.ipynb", as_version=4)
    return [c for c in nb.cells if c.cell_type == kind]


def test_the_page_hides_the_default_parameters_but_keeps_the_injected_ones():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "test"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f'profile = "smoke"\nrun_dir = "{paths.repo_root()}/build/smoke/runs/x"',
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("x = 1")]
    page = json.loads(book.for_the_page(nbformat.writes(nb).encode()))
    assert [c["metadata"].get("tags", []) for c in page["cells"]] == [
        ["parameters", "remove-cell"], ["injected-parameters"], []]
    assert page["cells"][1]["source"] == 'profile = "smoke"\nrun_dir = "build/smoke/runs/x"'
    assert book.for_the_page(json.dumps(page).encode()) == book.for_the_page(json.dumps(page).encode())


def test_the_page_carries_no_machine_paths_or_progress_bars():
    root = paths.repo_root()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("execute_result", data={"text/plain": f"{{'png': PosixPath('{root}/build/x.png')}}"}),
        nbformat.v4.new_output("stream", name="stderr", text="train:  50%|#####     | 5/10 [00:01<00:01, 3.1it/s]\r"
                               "train: 100%|##########| 10/10 [00:02<00:00, 3.2it/s]\nUserWarning: kept\n"),
        nbformat.v4.new_output("stream", name="stdout", text=f"saved to {root}/build/smoke/runs/a\n"),
        nbformat.v4.new_output("stream", name="stderr", text="  0%|          | 0/3 [00:00<?, ?it/s]"),
    ])]
    outputs = json.loads(book.for_the_page(nbformat.writes(nb).encode()))["cells"][0]["outputs"]

    def text(value):
        return "".join(value) if isinstance(value, list) else value

    assert text(outputs[0]["data"]["text/plain"]) == "{'png': 'build/x.png'}"
    assert text(outputs[1]["text"]).strip() == "UserWarning: kept"
    assert text(outputs[2]["text"]) == "saved to build/smoke/runs/a\n"
    assert len(outputs) == 3  # the stream holding only a progress bar is gone


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exactly_one_parameters_cell_of_independent_literals(name):
    tagged = [c for c in _cells(name) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters' (need exactly one)"
    tree = ast.parse(tagged[0].source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{name}: parameters cell must only assign"
        ast.literal_eval(node.value)  # independent literals: no expressions depending on others
        names.append(node.targets[0].id)
    assert {"profile", "seed"} <= set(names), f"{name}: parameters cell lacks profile/seed"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_outputs_and_no_definitions(name):
    for cell in _cells(name):
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{name}: committed outputs"
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), (
                f"{name}: `{getattr(node, 'name', 'lambda')}` is defined in a notebook; move it to lib/alignbook")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_cell_is_a_title_and_every_profile_resolves(name):
    first = nbformat.read(paths.notebooks_dir() / f"{name}.ipynb", as_version=4).cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), f"{name}: no title cell"
    for profile in PROFILES:
        cfg = resolve(paths.notebooks_dir() / f"{name}.yaml", profile)
        assert cfg.profile == profile


def test_toc_and_notebooks_agree():
    in_toc = runner.book_order()
    assert sorted(in_toc) == sorted(NOTEBOOKS), "book/_toc.yml and notebooks/ list different notebooks"
    assert len(set(in_toc)) == len(in_toc)


@pytest.fixture(scope="module")
def test_profile_run(request):
    """Every notebook in the test profile, one at a time, each with every core (so every map of units
    runs its units side by side in worker processes: :mod:`alignbook.engine.parallel`). The run itself
    started in a process of its own when the tests were collected (tests/conftest.py: ProfileRun);
    this waits for it and reads its results (cached by then; anything it left undone runs here)."""
    background = getattr(request.config, "alignbook_profile_run", None)
    if background is not None:
        background.wait()
    return runner.run([], "test", progress=False, jobs=1)


@pytest.fixture(scope="module")
def parallel_profile_run(request, test_profile_run):
    """The whole test profile again, into another build folder: two notebooks at once, each with one
    core, so every map of units runs its units one after another in the notebook's own process. It runs
    in a process of its own, started when the tests were collected (tests/conftest.py: ProfileRun)."""
    run = getattr(request.config, "alignbook_parallel_run", None)
    if run is None:  # selected some other way: start it now
        from conftest import ProfileRun

        run = request.config.alignbook_parallel_run = ProfileRun(jobs=2)
    return run.wait()


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_same_numbers_with_two_workers_and_units_in_sequence(test_profile_run, parallel_profile_run, name):
    """Issue: every core, the same numbers. Bit-identical recorded metrics (wall-clock timings aside)."""
    from conftest import identity_notebooks

    build, manifest = parallel_profile_run
    if name not in identity_notebooks():
        # left out of the --jobs 2 run because it runs its units in its own process either way: check that
        # is still true (a map of two or more units would run in workers under --jobs 1)
        assert test_profile_run.results[name]["status"] in ("ok", "cached")
        maps = [d for d in (paths.run_dir("test", name) / "units").glob("*") if d.is_dir()]
        several = [d.name for d in maps if len(list(d.glob("*/result.json"))) > 1]
        assert not several, (f"{name} now maps several units ({several}): remove it from AT_MOST_ONE_UNIT in "
                             "tests/conftest.py so that the identity run covers it")
        return
    assert manifest[name]["status"] == "ok", manifest[name].get("error")
    assert test_profile_run.results[name]["status"] in ("ok", "cached")
    first = metrics.reproducible(metrics.load_metrics(paths.run_dir("test", name)))
    second = metrics.reproducible(metrics.load_metrics(build / "test" / "runs" / name))
    # Results pages draw verdicts from the other notebooks' results and record no metric of their own;
    # every other notebook must record something, or the comparison below would prove nothing.
    assert first or name.endswith("_results"), f"{name} recorded no metric"
    assert bool(first) == bool(second), f"{name} recorded metrics in one run only"
    differ = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
    assert not differ, f"{name}: {differ[:5]} differ between --jobs 1 and --jobs 2: " + \
        "; ".join(f"{k}: {first.get(k, {}).get('value')!r} vs {second.get(k, {}).get('value')!r}" for k in differ[:3])


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_in_test_profile(test_profile_run, name):
    result = test_profile_run.results[name]
    assert result["status"] in ("ok", "cached"), f"{name}: {result.get('error')}\n{result.get('cell_source', '')}"


@pytest.mark.slow
@pytest.mark.notebooks
def test_book_builds_strictly_with_provenance(test_profile_run):
    if test_profile_run.failed:
        pytest.fail(f"notebooks failed, book not built: {test_profile_run.failed}")
    assert book.prepare("test") == {}  # every page has a valid result
    index = book.build(strict=True)
    html = index.parent
    root = str(paths.repo_root())
    for page_path in html.rglob("*.html"):  # what a reader sees: no machine paths, reprs or progress bars
        if "mathjax" in page_path.parts or "_static" in page_path.parts:
            continue
        text = page_path.read_text()
        for leak in (root, "PosixPath(", "&lt;Figure size", "&lt;IPython.core", "it/s]"):
            assert leak not in text, f"{page_path.relative_to(html)} shows {leak!r}"
        assert not re.search(r"/tmp/[a-z]", text), f"{page_path.relative_to(html)} shows a /tmp path"
    for name in NOTEBOOKS:
        page = (html / "_executed" / f"{name}.html").read_text()
        assert "Provenance" in page and "profile <strong>test</strong>" in page, f"{name}: no provenance banner on the page"
    problems = pages.site_problems(html, checkout=root)  # reprs, paths, foreign links, stale images
    assert not problems, "the site shows what a reader must not see:\n" + "\n".join(problems[:30])
    for chapter in book.chapters():  # measured numbers come from the runs, never typed into a chapter page
        source = book.book_dir() / chapter / "index.md"
        if source.exists():
            typed = pages.typed_numbers(source.read_text())
            assert not typed, f"book/{chapter}/index.md types measured numbers:\n" + "\n".join(typed[:20])
    results = (html / "_executed" / "results.html").read_text()
    for chapter, rows in book.ledger("test").items():  # every claim on the Results page, with its verdict
        for row in rows:
            assert row["verdict"] in claims.VERDICTS, f"{chapter}/{row['id']}: {row['verdict']}"
            assert f"<strong>{row['verdict']}</strong>" in results
    front = (html / "index.html").read_text()
    assert "built from the <strong>test</strong> profile" in front and "Safe RLHF" in front
    recorded = json.loads((paths.run_dir("test", "intro/01_machine") / "metrics.json").read_text())
    assert "machine_final_loss" in recorded and recorded["machine_final_loss"]["description"] in results
    # math renders offline: the pages load the MathJax copied into the site, not a CDN
    chapter = (html / "safety-gymnasium" / "index.html").read_text()
    assert 'src="../_static/../mathjax/MathJax.js?config=' in chapter and "cdn.jsdelivr" not in chapter
    assert (html / "mathjax" / "MathJax.js").is_file()
    assert (html / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()


@pytest.mark.slow
@pytest.mark.notebooks
def test_every_declared_claim_gets_a_verdict(test_profile_run):
    """Each chapter's claims name a metric their notebook really records, so none is left without a verdict."""
    from alignbook.engine import claims

    declared = claims.declared(book.chapters())
    assert {"safe-rlhf", "aligner", "pku-saferlhf", "resist-alignment", "safety-gymnasium"} <= set(declared)
    for chapter, module in declared.items():
        assert module.PAPER and module.CLAIMS, f"{chapter}: no PAPER or no CLAIMS"
        for claim in module.CLAIMS:
            assert claim.notebook in NOTEBOOKS, f"{chapter}/{claim.id}: no notebook {claim.notebook}"
            recorded = json.loads((paths.run_dir("test", claim.notebook) / "metrics.json").read_text())
            for name in filter(None, (claim.metric, claim.support)):
                assert name in recorded, f"{chapter}/{claim.id}: {claim.notebook} records no {name!r}"
            assert claims.judge(claim, recorded[claim.metric]) in claims.VERDICTS

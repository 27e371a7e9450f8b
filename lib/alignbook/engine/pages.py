"""What a reader must never see on a page, checked on the rendered site and on the chapter sources.

- :func:`site_problems` reads the built HTML: machine paths and Python reprs in any page, external
  links outside :data:`ALLOWED_HOSTS`, images in the site that no page shows (left from an earlier
  build).
- :func:`typed_numbers` reads a chapter page's Markdown source: a measured number typed into prose
  would go stale the next time the notebook runs, so chapter pages carry none. Numbers quoted from
  the paper are written ``{paper}`…``` (:mod:`alignbook.engine.sphinx_ext`); versions, years, arXiv
  ids, section/table/figure numbers and model sizes are plain text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlparse

ALLOWED_HOSTS = (
    "arxiv.org", "github.com", "huggingface.co", "pypi.org", "doi.org", "aclanthology.org",
    "openreview.net", "proceedings.neurips.cc", "jupyterbook.org", "www.sphinx-doc.org",
    "sphinx-book-theme.readthedocs.io", "pydata-sphinx-theme.readthedocs.io", "sphinx-doc.org",
    "executablebooks.org", "ebp.jupyterbook.org",
)
"""Sites a page may link to: papers, code and the book's own toolchain (theme footer)."""

LEAKS = ("PosixPath(", "WindowsPath(", "&lt;Figure", "&lt;IPython.", "&lt;matplotlib.", " object at 0x",
         "{&#39;png&#39;", "{'png'", "/home/", "/tmp/", "/.venv/", "site-packages/", "it/s]")
"""Text that only a machine path or a Python repr produces."""

_SKIP_PARTS = ("_static", "mathjax", "_sources")


def pages(site: Path) -> list[Path]:
    """The site's HTML pages a reader opens (not the theme's or MathJax's files)."""
    return sorted(p for p in site.rglob("*.html") if not set(p.relative_to(site).parts) & set(_SKIP_PARTS))


def _visible(text: str) -> str:
    """The page without its ``<script>`` and ``<style>`` blocks (theme code, not content)."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S | re.I)


def site_problems(site: str | Path, checkout: str | Path | None = None) -> list[str]:
    """Everything on the rendered site a reader must not see; empty when it is clean."""
    site = Path(site)
    problems: list[str] = []
    shown: set[str] = set()
    for page in pages(site):
        rel = page.relative_to(site)
        raw = page.read_text(errors="replace")
        text = _visible(raw)
        leaks = list(LEAKS) + ([str(checkout)] if checkout else [])
        for leak in leaks:
            if leak in text:
                at = text.index(leak)
                snippet = html.unescape(re.sub(r"<[^>]+>", "", text[max(at - 60, 0): at + 60])).strip()
                problems.append(f"{rel}: shows {leak!r} (…{snippet}…)")
        for url in re.findall(r'href="(https?://[^"]+)"', raw):
            host = urlparse(html.unescape(url)).hostname or ""
            if host not in ALLOWED_HOSTS:
                problems.append(f"{rel}: links to {url} (not an allowed site: {', '.join(ALLOWED_HOSTS[:4])}, …)")
        for src in re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', raw):
            if not src.startswith(("http:", "https:", "data:")):
                shown.add(str((page.parent / src.split("#")[0].split("?")[0]).resolve()))
    images = site / "_images"
    if images.is_dir():
        for image in sorted(images.iterdir()):
            if image.is_file() and str(image.resolve()) not in shown:
                problems.append(f"_images/{image.name}: in the site but shown on no page (left from an earlier build)")
    return problems


_STRIP = [
    re.compile(r"^(```|~~~|:::)[^\n]*\n.*?^\1\s*$", re.S | re.M),  # fenced blocks: code, math, directives
    re.compile(r"\$\$.*?\$\$", re.S),                              # display math
    re.compile(r"(?<!\\)\$[^$\n]+\$"),                            # inline math
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),                            # roles: {paper}`…`, {doc}`…`, {eq}`…`
    re.compile(r"`[^`\n]*`"),                                      # inline code
    re.compile(r"\]\([^)]*\)"),                                    # link targets
    re.compile(r"<!--.*?-->", re.S),                               # comments
    re.compile(r"^\(.*\)=\s*$", re.M),                             # MyST targets
]

_ALLOWED = re.compile(
    r"arXiv:?\s*\d{4}\.\d{4,5}(v\d+)?|\b\d{4}\.\d{4,5}(v\d+)?\b"     # arXiv ids
    r"|\b(19|20)\d\d\b"                                                 # years
    r"|\b(Section|Sections|Table|Tables|Figure|Figures|Fig\.|Theorem|Lemma|Eq\.|Equation|Appendix|Algorithm"
    r"|Definition|Corollary|Proposition|§)\s*[A-Z]?\d+(\.\d+)*([–-]\d+(\.\d+)*)?"  # references into the paper
    r"|\bv\d+(\.\d+)*\b|\b\d+\.\d+\.\d+\w*"                           # versions
    r"|\b\d+(\.\d+)?\s?[MBK]\b"                                         # model sizes: 135M, 7B
    r"|\b[A-Za-z][\w-]*-\d+(\.\d+)*[A-Za-z]*\b"                        # names with numbers: Llama2-7B, GPT-4, MiniLM-L6
    r"|\bPython\s*\d+(\.\d+)*|\bPyTorch\s*\d+(\.\d+)*|\bnumpy\s*\d+(\.\d+)*|\bmujoco\s*\d+(\.\d+)*"
    # a setting, not a measurement: "lr 0.035", "ε = 0.2", "KL stop 0.02", "betas (0.9, 0.95)", "{0.01, 1, 100}"
    r"|(=|≤|≥|<|>|\b(lr|init|damping|stop|threshold|limit|temperature|betas?|rate|decay|dropout|clip|GAE|KL"
    r"|learning rate|probability|coefficient|weight|margin|tolerance|μ|ν|λ\w*|β|γ|ε|η\w*|α|τ|δ|σ))"
    r"\s*[=:]?\s*\(?[-−]?\d+(\.\d+)?([eE][-−]?\d+)?(\s*[,/]\s*[-−]?\d+(\.\d+)?([eE][-−]?\d+)?)*\)?"
    r"|\{[-−\d.,\s]+\}"
    r"|\b(Beta|Normal|Uniform)\([^)]*\)"
    r"|\b\d+\s?% (interval|confidence|CI)"
)

_MEASURED = re.compile(
    r"[±]\s*\d"                                                          # a spread
    r"|(?<![\w.])[-−+]?\d+\.\d+(?![\w.])"                               # a decimal number
    r"|(?<![\w.])\d[\d,]*\s?(%|×|s\b|ms\b|sec\b|seconds\b|min\b|minutes\b|h\b|hours\b|GiB\b|MiB\b|GB\b|MB\b|it/s\b)"
)
"""What a measured number looks like in prose: a spread, a decimal, or a count with a unit."""


def typed_numbers(markdown: str) -> list[str]:
    """Measured-looking numbers typed in a page's prose (outside code, math, roles and allowed forms),
    each with a little context; empty when the page carries none."""
    text = markdown
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith(":") and re.match(r"\s*:[\w-]+:", line):  # directive options
            continue
        cleaned = _ALLOWED.sub(" ", line)
        for match in _MEASURED.finditer(cleaned):
            start = max(match.start() - 40, 0)
            found.append(f"{match.group(0).strip()!r} in “…{cleaned[start: match.end() + 40].strip()}…”")
    return found

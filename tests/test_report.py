"""README generation: blocks come from the recorded results with the notebook's statistics, and --check notices a
stale README."""

from __future__ import annotations

import shutil

import pytest

from conv_workshop.i18n import in_language, phrase
from conv_workshop.profiles import PROFILES
from conv_workshop.reporting.report import generated_blocks, profiles_table, render, update_readmes
from conv_workshop.stats import Verdict

from .conftest import ROOT


def test_render_replaces_only_named_blocks():
    text = "a\n<!-- BEGIN x -->\nold\n<!-- END x -->\nb\n<!-- BEGIN y -->\nkeep\n<!-- END y -->\n"
    expected = text.replace("old", "new")
    assert render(text, {"x": "new"}) == expected


@pytest.mark.realdata
def test_blocks_come_from_the_recorded_results_with_verdicts(real_data):
    blocks = generated_blocks("en", labels=real_data.test_labels)
    assert "| CNN vs dense | CNN | 7 |" in blocks["headline"] and "difference (points, 95 % CI)" in blocks["headline"]
    assert "3×3" in blocks["kernel"] and "7×7" in blocks["kernel"] and "reference" in blocks["kernel"]
    assert "small GAP (16, 32, 64)" in blocks["architecture"]
    assert "CNN, shifts" in blocks["augmentation"] and "✓ chosen" in blocks["augmentation"]
    verdict_tables = 0
    for block in ("headline", "kernel", "architecture", "augmentation", "probes"):
        for table in blocks[block].split("\n\n"):
            rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
                    if line.startswith("|") and "---" not in line]
            if not rows or rows[0][-1] != "verdict":
                continue
            verdict_tables += 1
            assert all(row[-1] in ("reference", "better", "worse", "equivalent within ±0.5")
                       or row[-1].startswith("not resolved with ") for row in rows[1:]), rows
    assert verdict_tables >= 6
    spanish = generated_blocks("es", labels=real_data.test_labels)
    assert "precisión de prueba (%)" in spanish["headline"] and "veredicto" in spanish["kernel"]


@pytest.mark.realdata
def test_check_mode_finds_a_stale_readme(tmp_path, real_data):
    for folder in ("results", "fashion_mnist_cnn_model_pytorch"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    original = (ROOT / "README.md").read_text()
    stale = original.replace("<!-- BEGIN kernel -->\n", "<!-- BEGIN kernel -->\n| stale |\n")
    (tmp_path / "README.md").write_text(stale)
    assert update_readmes(check=True, root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(root=tmp_path) == [tmp_path / "README.md"]
    assert update_readmes(check=True, root=tmp_path) == []


def test_verdicts_are_translated_from_their_fields():
    with in_language("es"):
        assert phrase(Verdict("not resolved", seeds=3)) == "sin resolver con 3 semillas"
        assert phrase(Verdict("not resolved", seeds=1)) == "sin resolver con 1 semilla"
        assert phrase(Verdict("worse")) == "peor"
        assert phrase(Verdict("equivalent", margin=0.5)) == "equivalente dentro de ±0.5"
        assert phrase("not resolved with 3 seeds") == "not resolved with 3 seeds"  # words are never parsed back


def test_profiles_table_states_each_budget():
    for language, header in (("en", "budget, 2-core CPU"), ("es", "presupuesto, CPU de 2 núcleos")):
        with in_language(language):
            table = profiles_table()
        assert header in table
        for name, profile in PROFILES.items():
            assert f"`{name}`" in table and f"≤ {profile.cpu_budget_minutes} min" in table


def test_the_reference_run_names_every_commit_device_and_precision_of_its_records():
    from conv_workshop.experiments.runs import load_runs
    from conv_workshop.layout import RunLayout
    from conv_workshop.reporting.report import ROOT, _reference_run

    runs = load_runs(ROOT / "results" / "runs.csv")
    one = _reference_run(runs, RunLayout(ROOT))
    assert f"commit `{runs.git_commit.iloc[0]}`" in one and "recorded by" not in one
    runs.loc[:9, ["git_commit", "precision"]] = ["abc1234", "fp32"]  # ten runs added later, elsewhere
    several = _reference_run(runs, RunLayout(ROOT))
    assert f"{len(runs) - 10} runs at commit `{runs.git_commit.iloc[-1]}` on cpu" in several
    assert "10 runs at commit `abc1234` on cpu (AMD EPYC, fp32)" in several

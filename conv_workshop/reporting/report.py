"""Generated README sections: every table of numbers in README.md / README.es.md comes from results/ and the model card.

  python -m conv_workshop report          # rewrite the generated blocks in both READMEs
  python -m conv_workshop report --check  # exit 1 if a README is out of date (the tests run this)

The verdicts are computed here exactly as in the notebook: the same declared families of comparisons
(catalogue.families), found in the recorded runs by run key, tested by conv_workshop.stats against the real test
labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import torch

from .. import stats
from ..atomic import write_atomic
from ..data import TRAIN_SIZE
from ..experiments.catalogue import AUGMENTATION_EXPERIMENTS, families
from ..experiments.recorded import family_effects, recorded_tests
from ..experiments.runner import choose_augmentation
from ..experiments.runs import RecordedRuns, count_reproduced, current_runs, provenance
from ..i18n import N_, _, current_language, in_language
from ..layout import CHECKOUT, RunLayout
from ..models import ConvNet, DenseBaseline, count_parameters, layer_summary
from ..profiles import DENSE_EPOCH_FACTOR, PROFILES
from ..stats import lead_change
from . import tables
from .tables import percent, to_markdown

ROOT = CHECKOUT
READMES = {"en": ROOT / "README.md", "es": ROOT / "README.es.md"}
BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)  # i18n: key



def _no_results() -> str:
    return _("No recorded results yet: run the notebook in the full profile.")

def _markdown(frame: pd.DataFrame) -> str:
    """A table in the current language: headers and words through the package's catalog (i18n), as the notebook
    shows them."""
    return to_markdown(tables.localise(frame))


def test_labels(data_dir: Path | None = None) -> torch.Tensor:
    """The Fashion-MNIST test labels the recorded predictions are scored against (the data must be installed;
    `data_dir` is the FASHION_MNIST_DIR setting)."""
    from ..data import load_fashion_mnist

    return load_fashion_mnist(data_dir, download=False).test_labels


def recorded_families(recorded: RecordedRuns, labels: torch.Tensor | None = None) -> dict[str, pd.DataFrame]:
    """Every family of comparisons of the committed full run (catalogue.families), with the notebook's grouping
    and statistics (recorded.family_effects); a family with nothing recorded has an empty table."""
    if not len(recorded):
        return {}
    found = family_effects(recorded, families(), test_labels() if labels is None else labels)
    return {name: found.get(name, pd.DataFrame()) for name in families()}


def _effects_table(table: pd.DataFrame, experiment: bool = False, extra: tuple[str, ...] = ()) -> str:
    if table.empty:
        return _no_results()
    columns = (("experiment",) if experiment else ()) + ("variant", "seeds", *extra, "parameters",  # i18n: key
                                                         "MACs (M)", "accuracy", "difference", "p (Holm)",  # i18n: key
                                                         "verdict")
    return _markdown(tables.summary(table, columns))


def _reference_run(runs: pd.DataFrame, layout: RunLayout) -> str:
    """The README's sentence on the committed full run: where and when it ran, how long it took, and the replay that
    rendered this README's edition of the notebook (results/notebook_run.json, notebook_run.es.json), timed inside the
    notebook as its section 12 states it (the profiles table times the whole process, kernel start included)."""
    first = runs.iloc[0]
    language = current_language()
    facts = _json(layout.run_facts(language))
    timings = _json(layout.profile_timings)
    sources = provenance(runs)
    if len(sources) == 1:
        text = _("Reference run: profile `{profile}`, {device} ({device_name}, {precision}), torch {torch}, commit "
                 "`{commit}`, {date}; {minutes:.1f} min of training in all").format(
            profile=first.profile, device=first.device, device_name=first.device_name, precision=first.precision,
            torch=first.torch_version, commit=first.git_commit, date=runs.timestamp.min()[:10],
            minutes=runs.train_seconds.sum() / 60)
    else:  # records extended over several runs: each commit, device and precision with its share
        text = _("Reference run: profile `{profile}`, torch {torch}, {first_date} to {last_date}, recorded by "
                 "{sources}; {minutes:.1f} min of training in all").format(
            profile=first.profile, torch=", ".join(runs.torch_version.unique()), first_date=runs.timestamp.min()[:10],
            last_date=runs.timestamp.max()[:10], minutes=runs.train_seconds.sum() / 60,
            sources="; ".join(_("{runs} runs at commit `{commit}` on {device} ({device_name}, {precision})").format(
                runs=s["runs"], commit=s["git_commit"], device=s["device"], device_name=s["device_name"],
                precision=s["precision"]) for s in sources))
    if "full" in timings:
        text += ", " + _("{minutes:.1f} min for the whole notebook").format(minutes=timings["full"]["seconds"] / 60)
    text += "; " + _("{count} training runs in `results/runs.csv`").format(count=len(runs))
    if facts.get("replayed_runs"):
        checks = facts.get("replay_checks", [])
        text += "; " + _("the committed notebook is a replay of it ({minutes} min, {device} ({device_name}, "
                         "{precision})): {replayed} runs taken from their records, {retrained} retrained because "
                         "figures use their models, {matching} of which reproduce their recorded test accuracy to the "
                         "image").format(
            minutes=facts["minutes"], device=facts["device"], device_name=facts["device_name"],
            precision=facts["precision"], replayed=facts["replayed_runs"],
            retrained=facts.get("retrained_for_models", 0), matching=count_reproduced(checks))
    return text + "."


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def profiles_table(root: Path = ROOT) -> str:
    """What each profile runs (from conv_workshop.profiles) beside its budget and its measured duration."""
    timings = _json(RunLayout(root).profile_timings)
    default = {"full": "CUDA", "quick": "CPU, MPS", "smoke": "CI"}  # i18n: key
    rows = []
    for name, profile in PROFILES.items():
        train = profile.subset[0] if profile.subset else TRAIN_SIZE
        experiments = min(profile.experiment_train_size or train, train)
        timing = timings.get(name)
        measured = _("{minutes:.1f} min ({device}, {threads} threads, {date})").format(
            minutes=timing["seconds"] / 60, device=timing["device"], threads=timing["cpu_threads"],
            date=timing["date"]) if timing else "—"
        rows.append({
            N_("profile"): f"`{name}`",
            N_("default on"): default[name],
            N_("train images (headline / experiments)"): f"{train:,} / {experiments:,}",
            N_("epochs (CNN / dense / experiments)"):
                f"{profile.main_epochs} / {profile.main_epochs * DENSE_EPOCH_FACTOR} / {profile.experiment_epochs}",
            N_("seeds (primary CNNs / other CNNs / cheap runs)"):
                f"{len(profile.primary_seeds)} / {len(profile.seeds)} / {len(profile.cheap_seeds)}",
            N_("budget, 2-core CPU"): f"≤ {profile.cpu_budget_minutes} min",
            N_("measured"): measured,
        })
    return to_markdown(pd.DataFrame(rows).rename(columns=_))


def _recipe_tables(recorded: RecordedRuns) -> list[str]:
    """Each model's augmentation choice on validation (sections 3.3 and 5.2), from the recorded runs."""
    runs, _size = recorded_tests(recorded, "augmentation")
    out = []
    for kind, experiment in AUGMENTATION_EXPERIMENTS.items():
        outcomes = runs.get(experiment, {})
        if outcomes and len(outcomes) == len(families()["augmentation"].experiments[experiment]):
            table = tables.recipe_choice(choose_augmentation(outcomes)[1])
            out.append(_markdown(table.assign(model=kind)[["model", *table.columns]]))
    return out


def _lead_change(recorded: RecordedRuns, labels: torch.Tensor | None) -> str:
    """The interaction test of section 7.3: the CNN's lead with the fewest images minus with the most."""
    runs, _size = recorded_tests(recorded, "data size")  # i18n: key
    if len(runs) < 2:
        return ""
    names = list(runs)
    change = lead_change(runs, labels if labels is not None else test_labels(), names[0], names[-1])
    row = change.iloc[0]
    table = pd.DataFrame([{N_("lead difference (CNN − dense)"): f"{row.small} − {row.large}",
                           "difference (points, 95 % CI)":  # i18n: key
                               tables.difference_text(row.difference, row.low, row.high),
                           "p (Holm)": tables.p_text(row.p_holm), "verdict": row.verdict}])
    return _markdown(table)


def generated_blocks(language: str, root: Path = ROOT, labels: torch.Tensor | None = None) -> dict[str, str]:
    """Every generated block of the README in `language`, its text through the package's catalog (i18n)."""
    with in_language(language):
        return _blocks(root, labels)


def _blocks(root: Path, labels: torch.Tensor | None) -> dict[str, str]:
    layout = RunLayout(root)
    recorded = RecordedRuns(layout.results)  # read once for every block
    runs = current_runs(recorded.table)
    blocks: dict[str, str] = {"profiles": profiles_table(root)}
    families = recorded_families(recorded, labels) if not runs.empty else {}
    if not families:
        for name in ("reference-run", "headline", "kernel", "architecture", "augmentation", "probes", "artifacts"):
            blocks[name] = _no_results()
    else:
        blocks["reference-run"] = _reference_run(runs, layout)
        headline = pd.concat([families["headline"], families["schedule"]], ignore_index=True)
        blocks["headline"] = _effects_table(headline, experiment=True, extra=("train images", "epochs"))  # i18n: key
        blocks["kernel"] = _effects_table(families["kernel size"])  # i18n: key
        blocks["architecture"] = _effects_table(pd.concat([families["controlled"], families["small GAP"]],  # i18n: key
                                                          ignore_index=True), experiment=True)
        blocks["augmentation"] = "\n\n".join([*_recipe_tables(recorded),
                                                _effects_table(families["augmentation"], experiment=True)])
        probes = [_effects_table(families["scrambling"], experiment=True),
                  _effects_table(families["data size"], experiment=True, extra=("train images", "epochs")),  # i18n: key
                  _lead_change(recorded, labels)]
        translation = layout.table("translation.csv")
        if translation.exists():
            table = tables.translation(stats.shift_accuracy(pd.read_csv(translation))).reset_index()
            probes.append(_markdown(table[table.direction != "diagonal"]))
        selectivity = layout.table("selectivity.csv")
        if selectivity.exists():
            probes.append(_markdown(tables.selectivity(stats.selectivity_tests(pd.read_csv(selectivity)))))
        blocks["probes"] = "\n\n".join(probes)
        blocks["artifacts"] = _artifacts(layout)
    blocks["cnn-parameters"] = _cnn_parameters()
    blocks["benchmarks"] = _benchmarks(layout)
    return blocks


def _artifacts(layout: RunLayout) -> str:
    files = layout.artifacts
    card_path = files.model_card
    if not card_path.exists():
        return _no_results()
    card = json.loads(card_path.read_text())
    metrics, onnx = card["metrics"], card["metrics"]["onnx"]
    table = pd.DataFrame([
        [f"{files.checkpoint.name} / {files.complete_model.name}",
         f"{metrics['test_accuracy'] * 100:.2f} %"],
        [f"{files.onnx.name} (ONNX Runtime)", f"{onnx['onnx_accuracy'] * 100:.2f} %"],  # i18n: key
        [_("max abs logit difference, PyTorch vs ONNX"), f"{onnx['max_abs_logit_diff']:.2e}"],
        [_("same predicted class"), f"{onnx['prediction_agreement'] * 100:.2f} %"],
        [_("parameters"), f"{card['parameters']:,}"],
    ], columns=[_("what"), _("value")])
    return to_markdown(table)


def _cnn_parameters() -> str:
    rows = {row["layer"]: row for row in layer_summary(ConvNet())}
    cnn, dense, head = count_parameters(ConvNet()), count_parameters(DenseBaseline()), rows["head.1"]["parameters"]
    return _("The CNN has **{ratio:.1f}×** the dense baseline's parameters ({cnn:,} vs {dense:,}), not fewer: "
             "{share} of them ({head:,}) are in the first dense layer of its head.").format(
        ratio=cnn / dense, cnn=cnn, dense=dense, share=percent(head / cnn, 0), head=head)


def _benchmarks(layout: RunLayout) -> str:
    root, benchmark = layout.root, layout.benchmarks
    sections = []
    for path in sorted(benchmark.glob("*.json")) if benchmark.exists() else []:
        data = json.loads(path.read_text())
        if all(isinstance(item, dict) for item in data.values()):  # one row per item (e.g. notebook profiles)
            table = pd.DataFrame([{"": name, **item} for name, item in data.items()])
            if "seconds" in table:
                table.insert(2, _("minutes"), (table.seconds / 60).round(1))
        else:
            table = pd.DataFrame({_("what"): list(data), _("value"): [_cell(v) for v in data.values()]})
        script = f"benchmarks/{path.stem}.py"
        producer = script if (root / script).exists() else "tools/run_notebook.py --record-timing"  # i18n: key
        sections.append(f"`{producer}` → `{path.relative_to(root)}`\n\n{to_markdown(table)}")
    return "\n\n".join(sections) if sections else _no_results()


def _cell(value) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def render(text: str, blocks: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in blocks:
            return match.group(0)
        return f"{match.group(1)}{blocks[name].strip()}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def update_readmes(check: bool = False, root: Path = ROOT, data_dir: Path | None = None) -> list[Path]:
    """Rewrite (or, with check, only compare) the generated blocks; returns the READMEs that were out of date.
    `data_dir` is the FASHION_MNIST_DIR setting (the test labels)."""
    stale = []
    labels = test_labels(data_dir) if RunLayout(root).runs_csv.exists() else None
    for language, path in READMES.items():
        path = root / path.name
        if not path.exists():
            continue
        text = path.read_text()
        updated = render(text, generated_blocks(language, root, labels))
        if updated != text:
            stale.append(path)
            if not check:
                write_atomic(path, updated.encode())
    return stale

"""Generated README sections: every table of numbers in README.md / README.es.md comes from results/ and the model card.

  python -m conv_workshop report          # rewrite the generated blocks in both READMEs
  python -m conv_workshop report --check  # exit 1 if a README is out of date (the tests run this)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .experiments import architecture_variants, kernel_size_variants
from .models import ConvNet, DenseBaseline, count_parameters, layer_summary
from .results import load_runs, summarise, to_markdown, write_atomic

ROOT = Path(__file__).resolve().parent.parent
READMES = {"en": ROOT / "README.md", "es": ROOT / "README.es.md"}
BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)

WORDS = {
    "en": {"variant": "variant", "experiment": "experiment", "seeds": "seeds", "epochs": "epochs",
           "params": "parameters", "macs": "MACs/image", "acc": "test accuracy (%)", "time": "train s/run",
           "device": "Reference run", "what": "what", "value": "value",
           "none": "No recorded results yet: run the notebook in the full profile.", "shift": "shift (pixels)"},
    "es": {"variant": "variante", "experiment": "experimento", "seeds": "semillas", "epochs": "épocas",
           "params": "parámetros", "macs": "MACs/imagen", "acc": "precisión de prueba (%)",
           "time": "s de entrenamiento/ejecución", "device": "Ejecución de referencia", "what": "qué",
           "value": "valor", "none": "Aún no hay resultados registrados: ejecute el notebook en el perfil full.",
           "shift": "desplazamiento (píxeles)"},
}


def _accuracy(mean: float, std: float) -> str:
    return f"{mean * 100:.2f} ± {std * 100:.2f}"


def _table(summary: pd.DataFrame, words: dict, with_experiment: bool = False) -> str:
    columns = {"variant": words["variant"], "seeds": words["seeds"], "epochs": words["epochs"],
               "parameters": words["params"], "macs": words["macs"], "accuracy": words["acc"],
               "time": words["time"]}
    frame = pd.DataFrame({
        columns["variant"]: summary.variant,
        columns["seeds"]: summary.seeds,
        columns["epochs"]: summary.epochs,
        columns["parameters"]: [f"{int(v):,}" for v in summary.parameters],
        columns["macs"]: [f"{v / 1e6:.1f} M" for v in summary.macs],
        columns["accuracy"]: [_accuracy(m, s) for m, s in zip(summary.test_accuracy_mean, summary.test_accuracy_std)],
        columns["time"]: [f"{v:.1f}" for v in summary.train_seconds_mean],
    })
    if with_experiment:
        frame.insert(0, words["experiment"], summary.experiment)
    return to_markdown(frame)


def _config_key(config) -> str:
    from .models import config_to_dict

    return json.dumps(config_to_dict(config), sort_keys=True)


def experiment_summary(runs: pd.DataFrame, experiments: dict) -> pd.DataFrame:
    """One row per (experiment, variant) of controlled experiments, found by config, not by the run's label.

    The default CNN is trained once and serves as every experiment's reference row.
    """
    runs = runs[runs.experiment.isin(["baseline", "kernel_size", *architecture_variants()])].copy()
    runs = runs[runs.data == runs.data.iloc[0]] if "data" in runs else runs
    runs["config_key"] = runs.config.map(lambda text: json.dumps(json.loads(text), sort_keys=True))
    epochs = runs[runs.experiment != "baseline"].epochs.max() if (runs.experiment != "baseline").any() else None
    rows = []
    for experiment, variants in experiments.items():
        for variant, config in variants.items():
            match = runs[(runs.config_key == _config_key(config)) & (runs.epochs == epochs)]
            match = match.drop_duplicates("seed")
            if match.empty:
                continue
            rows.append(match.assign(experiment=experiment, variant=variant))
    if not rows:
        return pd.DataFrame()
    return summarise(pd.concat(rows))


def generated_blocks(language: str, root: Path = ROOT) -> dict[str, str]:
    words = WORDS[language]
    runs = load_runs(root / "results" / "runs.csv")
    blocks: dict[str, str] = {}
    if runs.empty:
        return {name: words["none"] for name in ("reference-run", "headline", "kernel", "architecture", "probes",
                                                 "artifacts")}
    first = runs.iloc[0]
    facts_path = root / "results" / "notebook_run.json"
    minutes = f", {runs.train_seconds.sum() / 60:.1f} min of training in all"
    if facts_path.exists():
        facts = json.loads(facts_path.read_text())
        replayed = facts.get("replayed_runs")
        minutes += (f"; notebook outputs re-rendered from the recorded runs in {facts['minutes']} min "
                    f"({facts.get('retrained_for_models', 0)} runs retrained for figures, identical to their records)"
                    if replayed else f"; {facts['minutes']} min for the whole notebook")
    blocks["reference-run"] = (
        f"{words['device']}: profile `{first.profile}`, {first.device} ({first.device_name}, {first.precision}), "
        f"torch {first.torch_version}, commit `{first.git_commit}`, {runs.timestamp.min()[:10]}{minutes}; "
        f"{len(runs)} training runs in `results/runs.csv`.")
    summary = summarise(runs)
    blocks["headline"] = _table(summary[summary.experiment == "baseline"], words)
    kernel = experiment_summary(runs, {"kernel size": kernel_size_variants()})
    blocks["kernel"] = _table(kernel, words) if not kernel.empty else ""
    architecture = experiment_summary(runs, architecture_variants())
    blocks["architecture"] = _table(architecture, words, with_experiment=True) if not architecture.empty else ""

    probe_rows = []
    permutation = summary[summary.experiment == "permutation"]
    for _, row in permutation.iterrows():
        probe_rows.append({words["experiment"]: "permutation", words["variant"]: row.variant,
                           words["seeds"]: row.seeds, words["acc"]: _accuracy(row.test_accuracy_mean,
                                                                               row.test_accuracy_std)})
    sizes = runs[runs.experiment == "data_size"]
    if not sizes.empty:
        sizes = summarise(sizes, by=("variant",))
        for _, row in sizes.iterrows():
            probe_rows.append({words["experiment"]: "data size", words["variant"]: row.variant,
                               words["seeds"]: row.seeds,
                               words["acc"]: _accuracy(row.test_accuracy_mean, row.test_accuracy_std)})
    translation = root / "results" / "translation.csv"
    blocks["probes"] = to_markdown(pd.DataFrame(probe_rows)) if probe_rows else ""
    if translation.exists():
        curve = pd.read_csv(translation)
        curve = curve[(curve.direction == "horizontal") & curve["shift"].isin([0, 2, 4, 6])]
        wide = curve.pivot_table(index="shift", columns="model", values="accuracy", sort=False) * 100
        wide = wide.round(1).reset_index().rename(columns={"shift": words["shift"]})
        blocks["probes"] += "\n\n" + to_markdown(wide)

    card_path = root / "fashion_mnist_cnn_model_pytorch" / "model_card.json"
    if card_path.exists():
        card = json.loads(card_path.read_text())
        metrics = card["metrics"]
        onnx = metrics["onnx"]
        table = pd.DataFrame([
            ["best_model.pth / complete_model.pth", f"{metrics['test_accuracy'] * 100:.2f} %"],
            ["fashion_mnist_cnn.onnx (ONNX Runtime)", f"{onnx['onnx_accuracy'] * 100:.2f} %"],
            ["max abs logit difference, PyTorch vs ONNX", f"{onnx['max_abs_logit_diff']:.2e}"],
            ["same predicted class", f"{onnx['prediction_agreement'] * 100:.2f} %"],
            [words["params"], f"{card['parameters']:,}"],
        ], columns=[words["what"], words["value"]])
        blocks["artifacts"] = to_markdown(table)
    else:
        blocks["artifacts"] = words["none"]

    cnn_layers = layer_summary(ConvNet())
    fields = [str(row["receptive_field"]) for row in cnn_layers if row["type"] == "Conv2d"]
    last_pool = [row["receptive_field"] for row in cnn_layers if row["type"] == "MaxPool2d"][-1]
    blocks["probes"] += "\n\n" + {
        "en": f"Hierarchy: the receptive fields of the CNN's four convolutions are {', '.join(fields)} pixels "
              f"({last_pool} after the last pooling); section 5c of the notebook shows what units at each depth "
              "respond to.",
        "es": f"Jerarquía: los campos receptivos de las cuatro convoluciones de la CNN son {', '.join(fields)} "
              f"píxeles ({last_pool} tras el último pooling); la sección 5c del notebook muestra a qué responden "
              "las unidades de cada profundidad.",
    }[language]
    rows = {row["layer"]: row for row in cnn_layers}
    cnn, dense, head = count_parameters(ConvNet()), count_parameters(DenseBaseline()), rows["head.1"]["parameters"]
    blocks["cnn-parameters"] = {
        "en": f"The CNN has **{cnn / dense:.1f}×** the dense baseline's parameters ({cnn:,} vs {dense:,}), not fewer: "
              f"{head / cnn:.0%} of them ({head:,}) are in the first dense layer of its head.",
        "es": f"La CNN tiene **{cnn / dense:.1f}×** los parámetros del modelo denso ({cnn:,} frente a {dense:,}), no "
              f"menos: el {head / cnn:.0%} ({head:,}) está en la primera capa densa de su cabeza.",
    }[language]

    benchmark = root / "results" / "benchmarks"
    sections = []
    for path in sorted(benchmark.glob("*.json")) if benchmark.exists() else []:
        data = json.loads(path.read_text())
        if all(isinstance(value, dict) for value in data.values()):  # one row per item (e.g. notebook profiles)
            table = pd.DataFrame([{"": name, **value} for name, value in data.items()])
            if "seconds" in table:
                table.insert(2, "minutes", (table.seconds / 60).round(1))
        else:
            table = pd.DataFrame({words["what"]: list(data), words["value"]: list(data.values())})
        script = f"benchmarks/{path.stem}.py"
        producer = script if (root / script).exists() else "tools/run_notebook.py --record-timing"
        sections.append(f"`{producer}` → `{path.relative_to(root)}`\n\n{to_markdown(table)}")
    blocks["benchmarks"] = "\n\n".join(sections) if sections else words["none"]
    return blocks


def render(text: str, blocks: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in blocks:
            return match.group(0)
        return f"{match.group(1)}{blocks[name].strip()}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def update_readmes(check: bool = False, root: Path = ROOT) -> list[Path]:
    """Rewrite (or, with check, only compare) the generated blocks; returns the READMEs that were out of date."""
    stale = []
    for language, path in READMES.items():
        path = root / path.name
        if not path.exists():
            continue
        text = path.read_text()
        updated = render(text, generated_blocks(language, root))
        if updated != text:
            stale.append(path)
            if not check:
                write_atomic(path, updated.encode())
    return stale

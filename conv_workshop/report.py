"""Generated README sections: every table of numbers in README.md / README.es.md comes from results/ and the model card.

  python -m conv_workshop report          # rewrite the generated blocks in both READMEs
  python -m conv_workshop report --check  # exit 1 if a README is out of date (the tests run this)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .data import SPLIT_FILES, VALIDATION_SIZE
from .experiments import DENSE_EPOCH_FACTOR, architecture_variants, default_train_config, kernel_size_variants
from .models import (
    ConvConfig,
    ConvNet,
    DenseBaseline,
    DenseConfig,
    ModelConfig,
    config_to_dict,
    count_parameters,
    layer_summary,
)
from .profiles import PROFILES, Profile
from .results import load_runs, summarise, to_markdown, write_atomic

ROOT = Path(__file__).resolve().parent.parent
READMES = {"en": ROOT / "README.md", "es": ROOT / "README.es.md"}
BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)

WORDS = {
    "en": {"variant": "variant", "experiment": "experiment", "seeds": "seeds", "epochs": "epochs",
           "params": "parameters", "macs": "MACs/image", "acc": "test accuracy (%)", "time": "train s/run",
           "device": "Reference run", "what": "what", "value": "value",
           "none": "No recorded results yet: run the notebook in the full profile.", "shift": "shift (pixels)",
           "train": "train images"},
    "es": {"variant": "variante", "experiment": "experimento", "seeds": "semillas", "epochs": "épocas",
           "params": "parámetros", "macs": "MACs/imagen", "acc": "precisión de prueba (%)",
           "time": "s de entrenamiento/ejecución", "device": "Ejecución de referencia", "what": "qué",
           "value": "valor", "none": "Aún no hay resultados registrados: ejecute el notebook en el perfil full.",
           "shift": "desplazamiento (píxeles)", "train": "imágenes de entrenamiento"},
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
        words["train"]: [f"{int(v):,}" for v in summary.train_size],
        columns["epochs"]: summary.epochs,
        columns["parameters"]: [f"{int(v):,}" for v in summary.parameters],
        columns["macs"]: [f"{v / 1e6:.1f} M" for v in summary.macs],
        columns["accuracy"]: [_accuracy(m, s) for m, s in zip(summary.test_accuracy_mean, summary.test_accuracy_std)],
        columns["time"]: [f"{v:.1f}" for v in summary.train_seconds_mean],
    })
    if with_experiment:
        frame.insert(0, words["experiment"], summary.experiment)
    return to_markdown(frame)


def _key(value: dict) -> str:
    return json.dumps(value, sort_keys=True)


def runs_of(runs: pd.DataFrame, config: ModelConfig, epochs: int, data: str, train_size: int,
            dense_epoch_factor: int = DENSE_EPOCH_FACTOR) -> pd.DataFrame:
    """The recorded runs (one per seed) of one configuration, found by what makes a run the same run (model config,
    recipe, data, training-set size; see experiments.run_key), not by the label of the experiment that trained it.

    Identical runs are trained once and shared, so a table's row may come from another experiment's records.
    """
    if runs.empty:
        return runs
    recipe = asdict(default_train_config(config, epochs, dense_epoch_factor))
    match = runs[(runs.config.map(lambda text: _key(json.loads(text))) == _key(config_to_dict(config)))
                 & (runs.train_config.map(lambda text: _key(json.loads(text))) == _key(recipe))
                 & (runs.data == data) & (runs.train_size == train_size)]
    return match.drop_duplicates("seed")


def _profile_of(runs: pd.DataFrame) -> Profile:
    return PROFILES.get(str(runs.profile.iloc[0]), PROFILES["full"])


def _experiment_set(runs: pd.DataFrame) -> tuple[str, int, int]:
    """(data, training-set size, CNN epochs) of the recorded run's controlled experiments."""
    profile = _profile_of(runs)
    full_size = int(runs.train_size.max())
    size = min(profile.experiment_train_size or full_size, full_size)
    return "Fashion-MNIST", size, profile.experiment_epochs


def experiment_summary(runs: pd.DataFrame, experiments: dict) -> pd.DataFrame:
    """One row per (experiment, variant) of controlled experiments, found by run key, not by the run's label.

    The default CNN is trained once and serves as every experiment's reference row.
    """
    if runs.empty:
        return pd.DataFrame()
    data, size, epochs = _experiment_set(runs)
    rows = []
    for experiment, variants in experiments.items():
        for variant, config in variants.items():
            match = runs_of(runs, config, epochs, data, size)
            if not match.empty:
                rows.append(match.assign(experiment=experiment, variant=variant))
    if not rows:
        return pd.DataFrame()
    return summarise(pd.concat(rows))


def probe_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """The permutation and data-size probes, each row found by run key (the notebook shares identical runs)."""
    if runs.empty:
        return pd.DataFrame()
    profile = _profile_of(runs)
    data, size, epochs = _experiment_set(runs)
    full_size = int(runs.train_size.max())
    permuted = runs[runs.data != data].data
    rows = []
    for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig())):
        for pixels, data_name in (("intact", data), ("scrambled", permuted.iloc[0] if len(permuted) else None)):
            match = runs_of(runs, config, epochs, data_name, size) if data_name else runs.iloc[:0]
            if not match.empty:
                rows.append(match.assign(experiment="permutation", variant=f"{model} ({pixels})"))
    for train_size in profile.data_sizes:
        train_size = min(train_size, full_size)
        cnn_epochs = profile.main_epochs if train_size == full_size else profile.epochs_for(train_size,
                                                                                             profile.main_epochs)
        for model, config in (("dense", DenseConfig()), ("CNN", ConvConfig())):
            match = runs_of(runs, config, cnn_epochs, data, train_size)
            if not match.empty:
                rows.append(match.assign(experiment="data size", variant=f"{model} n={train_size}"))
    if not rows:
        return pd.DataFrame()
    return summarise(pd.concat(rows)).drop_duplicates(["experiment", "variant"])


REFERENCE_RUN_PHRASES = {
    "en": ("Reference run: profile", "min of training in all", "min for the whole notebook",
           "re-rendered: {replayed} runs taken from their records, {retrained} retrained",
           "training runs in `results/runs.csv`"),
    "es": ("Ejecución de referencia: perfil", "min de entrenamiento en total", "min para el notebook completo",
           "re-renderizado: {replayed} ejecuciones tomadas de los registros, {retrained} re-entrenadas",
           "entrenamientos en `results/runs.csv`"),
}


def _reference_run(runs: pd.DataFrame, root: Path, language: str) -> str:
    intro, training_words, notebook_words, replay_words, runs_words = REFERENCE_RUN_PHRASES[language]
    first = runs.iloc[0]
    facts_path = root / "results" / "notebook_run.json"
    facts = json.loads(facts_path.read_text()) if facts_path.exists() else {}
    text = (f"{intro} `{first.profile}`, {first.device} ({first.device_name}, {first.precision}), "
            f"torch {first.torch_version}, commit `{first.git_commit}`, {runs.timestamp.min()[:10]}; "
            f"{runs.train_seconds.sum() / 60:.1f} {training_words}")
    if facts:
        text += f", {facts['minutes']} {notebook_words}"
        if facts.get("replayed_runs"):
            replay = replay_words.format(replayed=facts["replayed_runs"],
                                         retrained=facts.get("retrained_for_models", 0))
            text += f" ({replay})"
    return text + f"; {len(runs)} {runs_words}."


def profiles_table(language: str, root: Path = ROOT) -> str:
    """What each profile runs (from conv_workshop.profiles) beside its budget and its measured duration."""
    timings_path = root / "results" / "benchmarks" / "notebook_profiles.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    es = language == "es"
    default = {"full": "CUDA", "quick": "CPU, MPS", "smoke": "CI"}
    all_train = SPLIT_FILES["train"][2] - VALIDATION_SIZE
    rows = []
    for name, profile in PROFILES.items():
        train = profile.subset[0] if profile.subset else all_train
        experiments = min(profile.experiment_train_size or train, train)
        timing = timings.get(name)
        measured = (f"{timing['seconds'] / 60:.1f} min ({timing['device']}, {timing['cpu_threads']} "
                    f"{'hilos' if es else 'threads'}, {timing['date']})" if timing else "—")
        rows.append({
            "perfil" if es else "profile": f"`{name}`",
            "por defecto en" if es else "default on": default[name],
            "imágenes de entrenamiento (principales / experimentos)" if es else "train images (headline / experiments)":
                f"{train:,} / {experiments:,}",
            "épocas (CNN / denso / experimentos)" if es else "epochs (CNN / dense / experiments)":
                f"{profile.main_epochs} / {profile.main_epochs * DENSE_EPOCH_FACTOR} / {profile.experiment_epochs}",
            "semillas (principales / experimentos)" if es else "seeds (headline / experiments)":
                f"{len(profile.main_seeds)} / {len(profile.experiment_seeds)}",
            "presupuesto, CPU de 2 núcleos" if es else "budget, 2-core CPU": f"≤ {profile.cpu_budget_minutes} min",
            "medido" if es else "measured": measured,
        })
    return to_markdown(pd.DataFrame(rows))


def generated_blocks(language: str, root: Path = ROOT) -> dict[str, str]:
    words = WORDS[language]
    runs = load_runs(root / "results" / "runs.csv")
    blocks: dict[str, str] = {}
    if runs.empty:
        blocks = {name: words["none"] for name in ("reference-run", "headline", "kernel", "architecture", "probes",
                                                   "artifacts")}
        return {**blocks, "profiles": profiles_table(language, root)}
    blocks["reference-run"] = _reference_run(runs, root, language)
    blocks["profiles"] = profiles_table(language, root)
    summary = summarise(runs)
    blocks["headline"] = _table(summary[summary.experiment == "baseline"], words)
    kernel = experiment_summary(runs, {"kernel size": kernel_size_variants()})
    blocks["kernel"] = _table(kernel, words) if not kernel.empty else ""
    architecture = experiment_summary(runs, architecture_variants())
    blocks["architecture"] = _table(architecture, words, with_experiment=True) if not architecture.empty else ""

    probes = probe_summary(runs)
    probe_rows = [{words["experiment"]: row.experiment, words["variant"]: row.variant, words["seeds"]: row.seeds,
                   words["train"]: f"{int(row.train_size):,}", words["epochs"]: row.epochs,
                   words["acc"]: _accuracy(row.test_accuracy_mean, row.test_accuracy_std)}
                  for row in probes.itertuples()]
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

"""Where a run's files are on disk, from one root: its records, figures per language, probe tables, run facts,
benchmarks and model files. A profile's run has its own root (the checkout for the full profile, runs/<profile>/
otherwise); every other module asks this one for a path instead of spelling it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# The repository's root (the package's parent folder): where the committed full run's files are in a checkout.
CHECKOUT = Path(__file__).resolve().parent.parent
# What a notebook run itself rewrites, relative to its root (changes there say nothing about the code that ran).
RUN_OUTPUTS = ("results", "fashion_mnist_cnn_model_pytorch", "runs", "convolutional_layers_workshop.ipynb")


@dataclass(frozen=True)
class RecordFiles:
    """The files of one records folder (a run's results/): the runs, their histories and test predictions, the
    weights saved with each run (not committed), how the last run went, and who records now."""

    folder: Path

    @property
    def runs_csv(self) -> Path:
        return self.folder / "runs.csv"

    @property
    def histories(self) -> Path:
        return self.folder / "histories.jsonl"

    @property
    def predictions(self) -> Path:
        return self.folder / "predictions.jsonl"

    @property
    def models(self) -> Path:
        return self.folder / "models"

    def weights(self, run_id: str) -> Path:
        """A run's trained weights, under a name safe on any file system."""
        return self.models / f"{hashlib.sha256(run_id.encode()).hexdigest()[:20]}.pt"

    @property
    def state(self) -> Path:
        return self.folder / "run_state.json"

    @property
    def lock(self) -> Path:
        return self.folder / ".lock"

    @property
    def set_aside(self) -> Path:
        """Where a fresh start moves earlier records (one folder per start), so that nothing is deleted."""
        return self.folder / "set_aside"


@dataclass(frozen=True)
class ModelFiles:
    """The model files of a run (sections 9 and 10): checkpoint, complete model, ONNX file and model card."""

    folder: Path

    @property
    def checkpoint(self) -> Path:
        return self.folder / "best_model.pth"

    @property
    def complete_model(self) -> Path:
        return self.folder / "complete_model.pth"

    @property
    def onnx(self) -> Path:
        return self.folder / "fashion_mnist_cnn.onnx"

    @property
    def model_card(self) -> Path:
        return self.folder / "model_card.json"


@dataclass(frozen=True)
class RunLayout:
    """Every path of one run, from its root folder."""

    root: Path

    @classmethod
    def for_profile(cls, profile: str, output_dir: Path | None = None) -> RunLayout:
        """The layout of a profile's run: `output_dir` (the WORKSHOP_OUTPUT_DIR setting) when given, else the
        working directory for the full profile (the committed run) and runs/<profile>/ for the others."""
        if output_dir is not None:
            return cls(Path(output_dir))
        return cls(Path(".") if profile == "full" else Path("runs") / profile)

    @property
    def results(self) -> Path:
        """The records, probe tables, run facts, figures and benchmarks."""
        return self.root / "results"

    @property
    def records(self) -> RecordFiles:
        return RecordFiles(self.results)

    @property
    def runs_csv(self) -> Path:
        return self.records.runs_csv

    def figures(self, language: str = "en") -> Path:
        """The saved figures: results/figures/, and results/figures/<language>/ for another edition than English
        (its labels are in that language)."""
        folder = self.results / "figures"
        return folder if language == "en" else folder / language

    def run_facts(self, language: str = "en") -> Path:
        """How the notebook's last run of this edition went (section 12): notebook_run[.<language>].json."""
        return self.results / ("notebook_run.json" if language == "en" else f"notebook_run.{language}.json")

    def table(self, name: str) -> Path:
        """A probe's table (translation.csv, selectivity.csv)."""
        return self.results / name

    @property
    def benchmarks(self) -> Path:
        return self.results / "benchmarks"

    @property
    def profile_timings(self) -> Path:
        """The measured duration of each profile (benchmarks/notebook_profiles.json)."""
        return self.benchmarks / "notebook_profiles.json"

    @property
    def artifacts(self) -> ModelFiles:
        return ModelFiles(self.root / "fashion_mnist_cnn_model_pytorch")


COMMITTED = RunLayout(Path("."))  # the committed full run, relative to the working directory (the checkout's root)

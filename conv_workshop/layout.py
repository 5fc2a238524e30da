"""Where a run's files are on disk, from one root: its records, figures per language, probe tables, run facts and
model files. A profile's run has its own root (the checkout for the full profile, runs/<profile>/ otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The repository's root (the package's parent folder): where the committed full run's files are.
CHECKOUT = Path(__file__).resolve().parent.parent


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
        """The records (runs.csv, histories.jsonl, predictions.jsonl), probe tables and run facts."""
        return self.root / "results"

    @property
    def runs_csv(self) -> Path:
        return self.results / "runs.csv"

    @property
    def histories(self) -> Path:
        return self.results / "histories.jsonl"

    @property
    def predictions(self) -> Path:
        return self.results / "predictions.jsonl"

    @property
    def benchmarks(self) -> Path:
        return self.results / "benchmarks"

    def figures(self, language: str = "en") -> Path:
        """The saved figures: results/figures/, and results/figures/<language>/ for another edition than English
        (its labels are in that language)."""
        folder = self.results / "figures"
        return folder if language == "en" else folder / language

    def run_facts(self, language: str = "en") -> Path:
        """How the notebook's last run of this edition went (section 12): notebook_run[.<language>].json."""
        return self.results / ("notebook_run.json" if language == "en" else f"notebook_run.{language}.json")

    @property
    def artifacts(self) -> Path:
        """The model files (sections 9 and 10): checkpoint, complete model, ONNX, model card."""
        return self.root / "fashion_mnist_cnn_model_pytorch"


COMMITTED = RunLayout(Path("."))  # the committed full run, relative to the working directory (the checkout's root)

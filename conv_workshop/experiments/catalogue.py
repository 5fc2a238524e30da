"""What is trained: every experiment's variants, the families of comparisons they form, their budgets and their
display names. Declarations only: the runner (runner.py) trains whatever is declared here, and nothing here changes
what a run computes, so editing this file (a name, a docstring, a new experiment) keeps every recorded run valid.

Adding a controlled experiment: declare its variants here (the reference first) and show it in a notebook cell.
Names are data (the `experiment` and `variant` columns of results/runs.csv) marked with `N_` for the catalog and
translated only where they are shown (i18n.label).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..data import TRAIN_SIZE
from ..i18n import N_
from ..models import ConvConfig, DenseConfig, ModelConfig
from ..profiles import PROFILES, Profile

# The two kinds of model, each with its own augmentation in the recipe (runner.Recipe).
MODEL_KINDS = ("dense", "CNN")


def model_kind(config: ModelConfig) -> str:
    """'dense' or 'CNN': which kind of model a config builds."""
    return "dense" if isinstance(config, DenseConfig) else "CNN"


@dataclass(frozen=True)
class Variant:
    """A model config trained with a recipe other than the chosen one: its augmentation, or (for a dense model)
    its epoch factor, is the factor under study."""

    config: ModelConfig
    augment: str | None = None  # None: the Recipe's choice for this kind of model
    dense_epoch_factor: int | None = None  # None: the experiment's factor (DENSE_EPOCH_FACTOR by default)


def kernel_size_variants() -> dict[str, ConvConfig]:
    """The kernel-size experiment; the first variant (3×3, the default CNN) is the reference."""
    return {f"{k}×{k}": ConvConfig(kernel_size=k) for k in (3, 5, 7)}


SMALL_GAP = N_("small GAP (16, 32, 64)")  # the smallest CNN of the head experiment, also set against the dense model


def architecture_variants() -> dict[str, dict[str, ModelConfig]]:
    """The controlled experiments beyond kernel size; each changes one factor of the default CNN (listed first)."""
    base = ConvConfig()
    return {
        N_("depth"): {
            N_("2 blocks (32, 64)"): base,
            N_("1 block (32)"): replace(base, channels=(32,)),
            N_("3 blocks (32, 64, 128)"): replace(base, channels=(32, 64, 128)),
            N_("1 conv per block"): replace(base, convs_per_block=1),
        },
        N_("downsampling"): {N_("max pooling"): base, N_("stride-2 conv"): replace(base, downsample="stride")},
        N_("padding"): {N_("same"): base, N_("valid"): replace(base, padding="valid")},
        N_("pooling"): {N_("max"): base, N_("average"): replace(base, downsample="avg")},
        # Narrower only: the wider 64 → 128 network took 2.4× the reference's time, too much for the full
        # profile's seven seeds within its 90 minutes on a 2-core CPU.
        N_("width"): {N_("32 → 64 channels"): base, N_("32 → 32 channels"): replace(base, channels=(32, 32))},
        N_("batch norm"): {N_("with batch norm"): base, N_("without batch norm"): replace(base, batch_norm=False)},
        N_("head"): {
            N_("flatten + dense 128"): base,
            N_("global average pool"): replace(base, head="gap"),
            N_("GAP, 3 blocks (32, 64, 128)"): replace(base, head="gap", channels=(32, 64, 128)),
            SMALL_GAP: replace(base, head="gap", channels=(16, 32, 64)),
        },
    }


def controlled_experiments() -> dict[str, dict[str, ModelConfig]]:
    """Kernel size and every architecture experiment: one family of comparisons against the same reference CNN.

    Used in section 6."""
    return {N_("kernel size"): kernel_size_variants(), **architecture_variants()}


def baseline_variants() -> dict[str, ModelConfig]:
    """The headline comparison; the dense baseline (first) is the reference."""
    return {N_("dense baseline"): DenseConfig(), N_("CNN"): ConvConfig()}


def schedule_variants() -> dict[str, ModelConfig | Variant]:
    """The dense baseline with the recipe's longer schedule (first) and with the CNN's own number of epochs.

    Used in section 3.4."""
    return {N_("dense baseline"): DenseConfig(),
            N_("dense baseline, CNN's epochs"): Variant(DenseConfig(), dense_epoch_factor=1)}


def small_gap_variants() -> dict[str, ModelConfig]:
    """The fair test of 'better accuracy with fewer parameters': the dense baseline (first) against a small CNN with
    a global-average-pooling head, trained on the same images."""
    return {N_("dense baseline"): DenseConfig(), SMALL_GAP: architecture_variants()[N_("head")][SMALL_GAP]}


def data_size_variants(size: int) -> dict[str, ModelConfig]:
    """The data-efficiency probe at one training-set size; the dense baseline (first) is the reference."""
    return {f"dense n={size}": DenseConfig(), f"CNN n={size}": ConvConfig()}


def data_size_experiment(size: int) -> str:
    """The data-size probe's experiment at one training-set size ('n=500')."""
    return f"n={size}"


# Each augmentation (training.AUGMENTATIONS) by the name its variants carry.
AUGMENTATION_NAMES = {"none": N_("no augmentation"), "flip": N_("flips"), "shift": N_("shifts")}
# Each kind of model's augmentation experiment, by kind: the kind is the identity, the name is what runs.csv shows.
AUGMENTATION_EXPERIMENTS = {"dense": N_("augmentation, dense"), "CNN": N_("augmentation, CNN")}
_AUGMENTATION_VARIANTS = {  # {kind: {augmentation: variant name}}, spelled out for the catalog
    "dense": {"none": N_("dense, no augmentation"), "flip": N_("dense, flips"), "shift": N_("dense, shifts")},
    "CNN": {"none": N_("CNN, no augmentation"), "flip": N_("CNN, flips"), "shift": N_("CNN, shifts")},
}


def augmentation_variants() -> dict[str, dict[str, Variant]]:
    """No augmentation (the reference), random horizontal flips and random ±2-pixel shifts, for the dense model and
    for the CNN: a positive difference means the augmentation helps. Each model's recipe is its best on validation."""
    configs = {"dense": DenseConfig(), "CNN": ConvConfig()}
    return {AUGMENTATION_EXPERIMENTS[kind]: {name: Variant(configs[kind], augment=mode)
                                             for mode, name in _AUGMENTATION_VARIANTS[kind].items()}
            for kind in MODEL_KINDS}


SCRAMBLE_SEED = 0  # the one pixel permutation of the scrambling probe


def scrambling_variants() -> dict[str, dict[str, ModelConfig]]:
    """Each model on intact pixels (first) and on pixels reordered by one fixed permutation (train and test)."""
    return {
        N_("scrambled, dense"): {N_("dense (intact)"): DenseConfig(),
                                 N_("dense (scrambled)"): DenseConfig(scramble=SCRAMBLE_SEED)},
        N_("scrambled, CNN"): {N_("CNN (intact)"): ConvConfig(),
                               N_("CNN (scrambled)"): ConvConfig(scramble=SCRAMBLE_SEED)},
    }


# --- families: the comparisons Holm's correction runs over together ---

# Where a Family's experiments train: the headline models' whole training split, the controlled experiments'
# class-balanced subset, or one subset per size (the data-size probe).
SCOPES = ("headline", "experiments", "data size")  # i18n: key


@dataclass(frozen=True)
class Family:
    """What one cell trains together: its experiments ({experiment: {variant: config}}, the first variant the
    reference), the data they train on, and the declared family of tests whose verdicts are corrected together
    (`correction`: Holm's correction runs over every comparison of every Family with the same correction)."""

    name: str
    experiments: dict[str, dict]
    scope: str  # one of SCOPES
    correction: str = ""  # the family of tests; "" = this Family's own name
    train_sizes: dict[str, int] = field(default_factory=dict)  # the data-size scope: each experiment's images

    @property
    def tests(self) -> str:
        return self.correction or self.name

    @property
    def comparisons(self) -> int:
        """How many comparisons against a reference this Family adds to its family of tests."""
        return sum(len(variants) - 1 for variants in self.experiments.values())

    def budget(self, experiment: str, profile: Profile, full_size: int = TRAIN_SIZE) -> tuple[int, int]:
        """(training images, CNN epochs) of an experiment of this family in a profile whose headline models train on
        `full_size` images (all of the training split by default)."""
        if self.scope == "headline":
            return full_size, profile.main_epochs
        if self.scope == "data size":  # i18n: key
            size = self.train_sizes[experiment]
            return min(size, full_size), profile.data_size_epochs(size, full_size)
        # the experiments' images: at most the headline's (None: all of them), as the session takes them
        return min(profile.experiment_train_size or full_size, full_size), profile.experiment_epochs


def families(profile: Profile = PROFILES["full"]) -> dict[str, Family]:
    """Every family of comparisons the notebook and the README report (the data-size family at profile's sizes)."""
    sizes = {data_size_experiment(size): size for size in profile.data_sizes}
    declared = [
        # Primary: the original workshop's claims (the CNN beats the dense model; 5×5 and 7×7 kernels against 3×3).
        Family(N_("headline"), {N_("CNN vs dense"): baseline_variants()}, "headline", correction="primary"),
        Family(N_("kernel size"), {N_("kernel size"): kernel_size_variants()}, "experiments", correction="primary"),
        # Secondary: every other controlled factor of section 6, against the same reference CNN.
        Family(N_("controlled"), architecture_variants(), "experiments", correction="secondary"),
        # Each of these is its own family of tests: the recipe, a budget check, and the probes of section 7.
        Family(N_("augmentation"), augmentation_variants(), "experiments"),
        Family(N_("schedule"), {N_("dense schedule"): schedule_variants()}, "headline"),
        Family(N_("small GAP"), {N_("small GAP vs dense"): small_gap_variants()}, "experiments"),
        Family(N_("scrambling"), scrambling_variants(), "experiments"),
        Family(N_("data size"), {name: data_size_variants(size) for name, size in sizes.items()},
               "data size",  # i18n: key
               train_sizes=sizes),
    ]
    return {family.name: family for family in declared}


def family_of_tests(name: str, profile: Profile = PROFILES["full"]) -> list[Family]:
    """Every Family whose comparisons are corrected together with Family `name`'s (the primary family: headline
    and kernel size)."""
    declared = families(profile)
    return [family for family in declared.values() if family.tests == declared[name].tests]


def family_size(name: str, profile: Profile = PROFILES["full"]) -> int:
    """How many comparisons the family of tests of Family `name` holds (Holm's m). Used in section 6."""
    return sum(family.comparisons for family in family_of_tests(name, profile))

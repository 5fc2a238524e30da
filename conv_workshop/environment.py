"""The environment check of the notebook's first cell: every package the workshop needs, its range, the version
installed and the locked one, with the exact install command for each that is missing or out of range.

It uses only the standard library and `packaging`, and imports none of the packages it checks, so it runs before
torch is imported and names every problem at once, sections 8–11's packages included, instead of a traceback later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .i18n import _

DISTRIBUTION = "conv-workshop"
CHECKOUT = Path(__file__).resolve().parent.parent  # the repository, when the package runs from a checkout
RANGES = CHECKOUT / "requirements.txt"
LOCK = CHECKOUT / "requirements.lock"


class EnvironmentProblem(SystemExit):
    """Raised by the setup cell when a package is missing or out of range: Jupyter shows its one message, no
    traceback (a SystemExit), and nothing after the setup cell runs on a broken environment."""


@dataclass(frozen=True)
class PackageStatus:
    """One required package: the range asked for, what is installed (None: missing) and the locked version."""

    name: str
    required: str  # the specifier, e.g. ">=2.6,<2.15"
    installed: str | None
    locked: str | None

    @property
    def ok(self) -> bool:
        from packaging.specifiers import SpecifierSet

        return self.installed is not None and SpecifierSet(self.required).contains(self.installed, prereleases=True)

    @property
    def install_command(self) -> str:
        """The command a notebook cell runs to fix it (%pip installs into the kernel's own environment)."""
        return f'%pip install "{self.name}{self.required}"'  # i18n: key (a command)

    def problem(self) -> str:
        found = _("missing") if self.installed is None else _("{installed} installed, outside {required}").format(
            installed=self.installed, required=self.required)
        return _("{name}: {found}. Install it with: {command}").format(name=self.name, found=found,
                                                                      command=self.install_command)


def required_packages() -> list[tuple[str, str]]:
    """(name, specifier) of every runtime requirement: from the checkout's requirements.txt (the one home of the
    ranges; pyproject.toml reads it too), or outside a checkout from the installed package's metadata."""
    from packaging.requirements import Requirement

    if RANGES.exists():  # a checkout: its own file, even where an older copy of the package is also installed
        lines = RANGES.read_text().splitlines()
    else:
        try:
            lines = metadata.requires(DISTRIBUTION) or []
        except metadata.PackageNotFoundError:
            lines = []
    found = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue  # an optional extra (dev), not needed by the notebook
        found.append((requirement.name, str(requirement.specifier)))
    return found


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """name → version pinned in requirements.lock (empty outside a checkout, where the lock is not shipped)."""
    if not lock.exists():
        return {}
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", lock.read_text(), re.M)
    return {_normal(name): version for name, version in pins}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_environment(installed: Callable[[str], str | None] = _installed) -> list[PackageStatus]:
    """The status of every required package (section 0's setup cell)."""
    locked = locked_versions()
    return [PackageStatus(name, spec, installed(name), locked.get(_normal(name))) for name, spec in required_packages()]


def require_environment(installed: Callable[[str], str | None] = _installed) -> list[PackageStatus]:
    """Check every package; print one line per problem with its install command and stop the notebook there (an
    EnvironmentProblem) when there is any. Used in section 0."""
    statuses = check_environment(installed)
    problems = [s for s in statuses if not s.ok]
    if problems:
        for status in problems:
            print(status.problem())
        raise EnvironmentProblem(_("{count} package(s) missing or out of range: run the command(s) above, restart "
                                   "the kernel, and run the notebook again.").format(count=len(problems)))
    return statuses


def describe_packages(statuses: list[PackageStatus]) -> str:
    """One line for the setup table (section 0): how many packages, and which differ from the lock."""
    differ = [f"{s.name} {s.installed} (lock {s.locked})" for s in statuses if s.locked and s.installed != s.locked]
    if not any(s.locked for s in statuses):
        lock = _("no requirements.lock here (outside the checkout), so nothing to compare with")
    elif differ:
        lock = _("{count} at the locked version; differing: {differing}").format(count=len(statuses) - len(differ),
                                                                                differing=", ".join(differ))
    else:
        lock = _("every one at its version in requirements.lock")
    in_range = sum(s.ok for s in statuses)
    return _("{count} required, {in_range} within requirements.txt's ranges; {lock}").format(
        count=len(statuses), in_range=in_range, lock=lock)

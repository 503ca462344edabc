"""The registry of experiment families: ``handgrad reproduce NAME`` and the report know a family from
its module alone.

A family is one module of this package that builds a :class:`Family` (its sections, experiments with
their published targets, its quick-mode budget and any table only it has) and passes it to
:func:`register`. :func:`names` and :func:`get` import every module of the package first, so adding a
module is all it takes; a family declared elsewhere (a test's toy family) registers itself the same way.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from handgrad.errors import HandgradError
from handgrad.reproduction.quick import QuickBudget
from handgrad.reproduction.runstate import RunState
from handgrad.reproduction.spec import KINDS, Experiment, Section

#: a family's own table: (table or None, extra comparison rows) for a finished experiment
TableFn = Callable[[RunState], "tuple[dict | None, list[dict]]"]


@dataclass(frozen=True)
class Family:
    """Everything particular to one family of published experiments."""

    name: str
    title: str
    sections: tuple[Section, ...]
    experiments: tuple[Experiment, ...]
    #: where the family comes in ``reproduce all`` and in listings (then by name)
    order: int = 100
    quick: QuickBudget = field(default_factory=QuickBudget)
    #: tables only this family has, asked for every finished experiment, in this order
    tables: tuple[TableFn, ...] = ()

    def experiments_in(self, section: str) -> list[Experiment]:
        return [e for e in self.experiments if e.section == section]


_REGISTRY: dict[str, Family] = {}
_discovered = False


def register(family: Family) -> Family:
    """Add ``family`` to the registry (again under the same name: replace it); returns it."""
    sections = {s.id for s in family.sections}
    ids = [e.id for e in family.experiments]
    if len(ids) != len(set(ids)):
        raise HandgradError(f"family {family.name!r}: experiment ids are not unique")
    for s in family.sections:
        if s.family != family.name:
            raise HandgradError(f"family {family.name!r}: section {s.id!r} says family {s.family!r}")
    for e in family.experiments:
        if e.family != family.name or e.section not in sections or e.kind not in KINDS:
            raise HandgradError(f"family {family.name!r}: experiment {e.id!r} has family {e.family!r}, "
                                f"section {e.section!r}, kind {e.kind!r}; sections: {', '.join(sorted(sections))}; "
                                f"kinds: {', '.join(KINDS)}")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def discover() -> None:
    """Import every family module of this package (each registers its family)."""
    global _discovered
    if _discovered:
        return
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    _discovered = True


def names() -> list[str]:
    """The registered families, in ``reproduce all`` order."""
    discover()
    return [f.name for f in sorted(_REGISTRY.values(), key=lambda f: (f.order, f.name))]


def get(name: str) -> Family:
    discover()
    if name not in _REGISTRY:
        raise HandgradError(f"unknown family {name!r}; choose one of {', '.join(names())} or all")
    return _REGISTRY[name]


def select(which: str) -> list[Family]:
    """``which`` is a family's name or "all"."""
    return [get(n) for n in names()] if which == "all" else [get(which)]


__all__ = ["Family", "register", "unregister", "discover", "names", "get", "select"]

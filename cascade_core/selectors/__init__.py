"""Token selectors compared on the same activations (SPEC §10): the interface and the registry.

A selector is a small dataclass with one method, :meth:`Selector.select`,
that chooses the set of one layer of one slice and may carry state to the
next layer (see :mod:`cascade_core.selectors.base`). Every built-in selector
is registered by name, :func:`cascade_core.compare` and ``cascade-core
compare --selectors`` read the registry, and :func:`register` adds your own:

==============  ======  ====================================================
``ada``         tau     ADA (SPEC §3), through :func:`cascade_core.ada`
``cascade``     tau     the cascade (SPEC §5), through :func:`cascade_core.cascade`
``ada-degree``  tau     greedy maximum coverage, independent and covering
``tome``        budget  ToMe's bipartite soft matching, in rounds
``divprune``    budget  greedy max-min diversity
``pivoted-qr``  budget  column pivots of a pivoted QR (SciPy / LAPACK geqp3)
``topk-reuse``  budget  top-r keys by attention mass at anchor layers, reused
``norm-topk``   budget  the r tokens of largest norm
``random``      budget  r tokens drawn uniformly, seeded
==============  ======  ====================================================

To add one: (1) write a dataclass subclassing :class:`Selector` with
``name``, ``takes`` (``"budget"`` or ``"tau"``), ``cost_unit`` and
``source``, and implement ``select(layer, state) -> Pick`` against the array
API (the namespace from ``layer.xh``; increasing ``int64`` indices; ties to
the lowest index); (2) ``register(MySelector)``: it is then a name for
:func:`cascade_core.compare` and the command line, and its fields become
``name:field=value`` options; (3) test it against a slow reference and the
set properties (size, increasing, groups that partition the tokens), as the
project's ``tests/test_selectors.py`` does; (4) a built-in one also gets a
module here, its import below, a row in the table above and its rule and
source in the documentation's "Selectors compared".

Examples
--------
>>> from dataclasses import dataclass
>>> import numpy as np
>>> from cascade_core import selectors
>>> @dataclass
... class FirstR(selectors.Selector):
...     '''The first r tokens (a baseline).'''
...     name = "first-r"
...     takes = "budget"
...     def select(self, layer, state):
...         xp = selectors.array_namespace(layer.xh)
...         return selectors.Pick(xp.arange(layer.r, dtype=xp.int64), cost=0)
>>> _ = selectors.register(FirstR, replace=True)
>>> pick = selectors.apply(selectors.make("first-r"), np.eye(4), r=2)
>>> pick.reps.tolist(), pick.groups.tolist()
([0, 1], [0, 1, 0, 0])
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from .._errors import CascadeInputError
from .._xp import array_namespace, device
from .base import BUDGET, COST_UNITS, THRESHOLD, LayerInput, Pick, Selector, apply, cost_flops, step, top_r

__all__ = [
    "BUDGET",
    "COST_UNITS",
    "THRESHOLD",
    "LayerInput",
    "Pick",
    "Selector",
    "apply",
    "array_namespace",
    "device",
    "cost_flops",
    "get",
    "make",
    "names",
    "register",
    "step",
    "top_r",
]

_REGISTRY: dict[str, type[Selector]] = {}


def register(cls: type[Selector], *, replace: bool = False) -> type[Selector]:
    """Register a selector class under its ``name`` (usable as a class decorator).

    Parameters
    ----------
    cls : type
        A subclass of :class:`Selector` (a dataclass when it has parameters).
    replace : bool, default False
        Replace a selector already registered under that name.

    Returns
    -------
    type
        `cls`, unchanged.

    Raises
    ------
    CascadeInputError
        Not a :class:`Selector`, no name, ``takes`` or ``cost_unit`` not one of
        the known values, or the name is taken (without `replace`).
    """
    if not (isinstance(cls, type) and issubclass(cls, Selector)):
        raise CascadeInputError(f"register needs a Selector subclass, got {cls!r}", param="selectors")
    name = cls.name
    if not isinstance(name, str) or not name or any(c in name for c in ",: "):
        raise CascadeInputError(f"a selector needs a name without ',', ':' or spaces, got {name!r}", param="selectors")
    if cls.takes not in (BUDGET, THRESHOLD):
        raise CascadeInputError(f"selector {name!r}: takes must be 'budget' or 'tau'", param="selectors")
    if cls.cost_unit not in COST_UNITS:
        raise CascadeInputError(
            f"selector {name!r}: cost_unit must be one of {', '.join(COST_UNITS)}", param="selectors"
        )
    if name in _REGISTRY and _REGISTRY[name] is not cls and not replace:
        raise CascadeInputError(f"a selector {name!r} is already registered (use replace=True)", param="selectors")
    _REGISTRY[name] = cls
    return cls


def names() -> list[str]:
    """Registered selector names, in registration order (the built-ins first)."""
    return list(_REGISTRY)


def get(name: str) -> type[Selector]:
    """The selector class registered as `name`."""
    if name not in _REGISTRY:
        raise CascadeInputError(
            f"selectors: unknown selector {name!r}; choose from {', '.join(_REGISTRY)}", param="selectors"
        )
    return _REGISTRY[name]


def _value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def make(spec: str | Selector) -> Selector:
    """A selector instance from a name with optional parameters, or the instance itself.

    Parameters
    ----------
    spec : str or Selector
        ``"tome"``, ``"topk-reuse:every=3"``, ``"random:seed=7"``: a
        registered name, then ``:field=value`` for each parameter to set.

    Examples
    --------
    >>> from cascade_core import selectors
    >>> selectors.make("topk-reuse:every=3")
    TopkReuse(every=3)
    """
    if isinstance(spec, Selector):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise CascadeInputError(f"selectors: a selector is a name such as 'tome', got {spec!r}", param="selectors")
    name, *options = spec.strip().split(":")
    cls = get(name)
    known = {f.name for f in fields(cls)} if is_dataclass(cls) else set()
    params = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise CascadeInputError(
                f"selectors: {name!r} has no parameter {key!r} (parameters: {allowed}); write NAME:PARAM=VALUE",
                param="selectors",
            )
        params[key] = _value(text)
    try:
        return cls(**params)
    except CascadeInputError:
        raise
    except (TypeError, ValueError) as err:
        raise CascadeInputError(f"selectors: {spec!r}: {err}", param="selectors") from None


from . import ada_degree, adapters, divprune, pivoted_qr, simple, tome, topk_reuse  # noqa: E402  (they register)

for _module in (adapters, ada_degree, tome, divprune, pivoted_qr, topk_reuse, simple):
    for _cls in _module.SELECTORS:
        register(_cls)

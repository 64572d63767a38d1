"""The selector interface (SPEC §10): what a selector is given, what it returns, and one step of it.

A selector is a small class with one method to implement, :meth:`Selector.select`:
given one layer of one slice (:class:`LayerInput`) and what it returned for
the layer before (its *state*), it returns a :class:`Pick`: an increasing set
of token indices, optionally every token's group, its cost and the state for
the next layer. :func:`step` runs that method the same way for every selector
(checks, timing, SPEC §4 groups where the selector defines none), and
:func:`apply` runs it on one ``(T, d)`` array.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from .._assignment import assign_normalized
from .._errors import CascadeInputError
from .._gram import normalize
from .._params import backend_for, check_tau, check_tile
from .._xp import Array, array_namespace, isin_sorted

__all__ = [
    "BUDGET",
    "THRESHOLD",
    "COST_UNITS",
    "LayerInput",
    "Pick",
    "Selector",
    "apply",
    "check_budget",
    "cost_flops",
    "step",
    "top_r",
]

#: ``takes`` of a selector given a budget ``r`` (matched budget: ADA's ``|R_l|``).
BUDGET = "budget"
#: ``takes`` of a selector given the threshold ``tau`` (matched tau).
THRESHOLD = "tau"
#: The units a selector may count its cost in.
COST_UNITS = ("inner products", "attention scores", "FLOPs")


@dataclass(frozen=True)
class LayerInput:
    """One layer of one slice, as a selector sees it.

    Attributes
    ----------
    xh : array of shape (T, d)
        The normalised tokens of SPEC §2 (after centring, when asked), in the
        compute dtype of SPEC §9, in the backend's namespace.
    x : array of shape (T, d)
        The same tokens as read, before centring and normalising.
    tau : float or None
        The threshold (given to every selector; threshold selectors need it).
    r : int or None
        The budget of a budget selector at this layer and slice.
    layer : int
        The input's index of the layer.
    position : int
        The layer's position in the run (0: the first layer run).
    where : tuple of int
        The slice (batch, head); ``()`` for one sequence.
    q, k : array of shape (H, T, d_h) or None
        Queries and keys of the attention heads that read this slice (its
        valid tokens; key heads repeated for grouped-query attention), when
        the input has them at this layer.
    causal : bool
        Whether attention is causal.
    backend : Backend
        The backend of the run (Gram tiles, scans).
    tile : int or None
        Rows of a Gram tile.
    """

    xh: Array
    x: Array
    tau: float | None = None
    r: int | None = None
    layer: int = 0
    position: int = 0
    where: tuple[int, ...] = ()
    q: Array | None = None
    k: Array | None = None
    causal: bool = False
    backend: Any = None
    tile: int | None = None

    @property
    def n_tokens(self) -> int:
        """``T``."""
        return self.xh.shape[0]


@dataclass(frozen=True)
class Pick:
    """What a selector returns for one layer of one slice.

    Attributes
    ----------
    reps : array of int64
        The chosen token indices, increasing, unique.
    groups : array of int64, shape (T,), or None
        Every token's representative (a member of `reps`; a member is its own),
        for methods that define groups (ToMe's merges); None: the SPEC §4
        assignment, which :func:`step` fills in.
    cost : int
        What the step cost, in the selector's ``cost_unit``.
    state : object
        Handed back to the selector at the same slice's next layer.
    """

    reps: Array
    groups: Array | None = None
    cost: int = 0
    state: Any = None


class Selector:
    """A token selector of SPEC §10: subclass it as a dataclass and implement :meth:`select`.

    The dataclass fields are the selector's parameters (the command line
    sets them as ``name:field=value``). Class attributes describe it:

    Attributes
    ----------
    name : str
        The name it is registered and reported under.
    takes : {"budget", "tau"}
        A budget ``r`` (matched budget: ADA's ``|R_l|`` at each layer) or the
        threshold ``tau`` (matched tau).
    needs : tuple of str
        Tensors beyond the activations (``("q", "k")``).
    cost_unit : {"inner products", "attention scores", "FLOPs"}
        What :attr:`Pick.cost` counts: inner products of length ``d``,
        attention scores (inner products of length ``d_h``), or FLOPs.
    source : str
        Where the method comes from (paper, repository), for the docs.
    """

    name: ClassVar[str] = ""
    takes: ClassVar[str] = BUDGET
    needs: ClassVar[tuple[str, ...]] = ()
    cost_unit: ClassVar[str] = "inner products"
    source: ClassVar[str] = ""

    def select(self, layer: LayerInput, state: Any) -> Pick:
        """Choose the set of one layer of one slice.

        Parameters
        ----------
        layer : LayerInput
            The layer's tokens, threshold or budget, and what else the run has.
        state : object
            The :attr:`Pick.state` this selector returned at the same slice's
            previous layer; None at the first layer of the run.

        Returns
        -------
        Pick
        """
        raise NotImplementedError(f"selector {self.name!r} does not implement select")

    def check(self, backend) -> None:
        """Refuse, before any work, a backend this selector cannot run on (default: every backend is fine)."""
        return None

    def params(self) -> dict:
        """The selector's parameters (its dataclass fields) and their values."""
        try:
            return {f.name: getattr(self, f.name) for f in fields(self)}
        except TypeError:  # not a dataclass
            return {}

    def label(self) -> str:
        """``name`` with the parameters that differ from their defaults: ``topk-reuse:every=3``."""
        changed = []
        try:
            for f in fields(self):
                if getattr(self, f.name) != f.default:
                    changed.append(f"{f.name}={getattr(self, f.name)}")
        except TypeError:
            pass
        return ":".join([self.name, *changed])


def cost_flops(unit: str, cost: int, layer: LayerInput) -> int:
    """A cost in FLOPs: ``2 d`` per inner product, ``2 d_h`` per attention score (SPEC §6)."""
    if unit == "inner products":
        return 2 * layer.xh.shape[1] * cost
    if unit == "attention scores":
        return 0 if layer.q is None else 2 * layer.q.shape[-1] * cost
    if unit == "FLOPs":
        return cost
    raise CascadeInputError(f"unknown cost unit {unit!r}; use one of {', '.join(COST_UNITS)}", param="selectors")


def check_budget(selector: Selector, r, n_tokens: int) -> int | None:
    """The budget a selector gets: an int in ``1 .. T`` for a budget selector, None for a threshold one."""
    if selector.takes == THRESHOLD:
        return None
    if r is None:
        raise CascadeInputError(
            f"selector {selector.name!r} takes a budget r; give r (matched budget: ADA's |R_l| at the layer)",
            param="r",
        )
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= n_tokens:
        raise CascadeInputError(f"r must be an integer in 1 .. T = {n_tokens}, got {r!r}", param="r")
    return r


def top_r(scores: Array, r: int) -> Array:
    """The `r` indices of the largest `scores` (ties: the lower index), increasing."""
    xp = array_namespace(scores)
    order = xp.argsort(scores, descending=True, stable=True)
    return xp.sort(order[:r])


def step(selector: Selector, layer: LayerInput, state: Any = None) -> tuple[Pick, float]:
    """Run one selector on one layer of one slice: the pick with its groups, and its wall time.

    The time covers :meth:`Selector.select` alone (the backend is synchronised
    before and after); the SPEC §4 groups of a selector that defines none are
    computed afterwards, untimed and uncounted, as the assignment is in
    SPEC §4.
    """
    if selector.takes == THRESHOLD and layer.tau is None:
        raise CascadeInputError(f"selector {selector.name!r} takes the threshold tau; give tau", param="tau")
    if selector.takes not in (BUDGET, THRESHOLD):
        raise CascadeInputError(f"selector {selector.name!r}: takes must be 'budget' or 'tau'", param="selectors")
    check_budget(selector, layer.r, layer.n_tokens)
    backend = layer.backend
    backend.synchronize()
    start = time.perf_counter()
    pick = selector.select(layer, state)
    backend.synchronize()
    seconds = time.perf_counter() - start
    xp = array_namespace(layer.xh)
    reps = xp.astype(pick.reps, xp.int64)
    _check_pick(selector, reps, pick, layer.n_tokens)
    if pick.groups is None:
        groups = assign_normalized(layer.xh, reps, tile=layer.tile, backend=backend)
    else:
        groups = xp.astype(pick.groups, xp.int64)
        if groups.shape != (layer.n_tokens,) or not bool(
            xp.all(isin_sorted(groups, reps)) & xp.all(xp.take(groups, reps) == reps)
        ):
            raise CascadeInputError(
                f"selector {selector.name!r}: groups must give every token a member of the set (members their own)",
                param="selectors",
            )
    return replace(pick, reps=reps, groups=groups), seconds


def _check_pick(selector: Selector, reps: Array, pick: Pick, n_tokens: int) -> None:
    """Refuse a pick that is not a nonempty increasing set of token indices, or a cost that is not an int."""
    xp = array_namespace(reps)
    name = selector.name
    if reps.ndim != 1 or reps.shape[0] == 0:
        raise CascadeInputError(f"selector {name!r}: the set must be a nonempty 1-d index array", param="selectors")
    if int(reps[0]) < 0 or int(reps[-1]) >= n_tokens or not bool(xp.all(reps[1:] > reps[:-1])):
        raise CascadeInputError(
            f"selector {name!r}: the set must be increasing token indices in 0 .. {n_tokens - 1}", param="selectors"
        )
    if not isinstance(pick.cost, int) or isinstance(pick.cost, bool) or pick.cost < 0:
        raise CascadeInputError(f"selector {name!r}: cost must be an int >= 0", param="selectors")


def apply(
    selector: Selector,
    x: Array,
    *,
    tau: float | None = None,
    r: int | None = None,
    state: Any = None,
    center: bool = False,
    q: Array | None = None,
    k: Array | None = None,
    causal: bool = False,
    position: int = 0,
    backend: str = "auto",
    tile: int | None = None,
) -> Pick:
    """One selector on one layer ``(T, d)`` of one sequence.

    Parameters
    ----------
    selector : Selector
        An instance (:func:`cascade_core.selectors.make` builds one from a name).
    x : array of shape (T, d)
        Activations, any array-API namespace.
    tau : float, optional
        The threshold (needed by threshold selectors).
    r : int, optional
        The budget (needed by budget selectors).
    state : object, optional
        The :attr:`Pick.state` of the previous layer.
    center : bool, default False
        Subtract the mean token before normalising (SPEC §2).
    q, k : array of shape (H, T, d_h), optional
        Queries and keys of the layer's heads (``topk-reuse``).
    causal : bool, default False
        Causal attention (``topk-reuse``).
    position : int, default 0
        The layer's position in the run.
    backend : str, default "auto"
        As in :func:`cascade_core.ada`.
    tile : int, optional
        Rows of a Gram tile.

    Returns
    -------
    Pick
        With its groups (SPEC §4 unless the method defines them), in the
        namespace of `x`.

    Examples
    --------
    >>> import numpy as np
    >>> from cascade_core import selectors
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    >>> pick = selectors.apply(selectors.make("divprune"), x, r=2)
    >>> pick.reps.tolist(), pick.groups.tolist(), pick.cost
    ([0, 2], [0, 0, 2, 2], 24)
    """
    tile = check_tile(tile)
    if tau is not None:
        tau = check_tau(tau)
    engine = backend_for(backend, x)
    selector.check(engine)
    xn = engine.native(x)
    xh = normalize(xn, center=center)
    layer = LayerInput(
        xh=xh,
        x=xn,
        tau=tau,
        r=r,
        position=position,
        q=None if q is None else engine.native(q),
        k=None if k is None else engine.native(k),
        causal=causal,
        backend=engine,
        tile=tile,
    )
    missing = [name for name in selector.needs if getattr(layer, name, None) is None]
    if missing:
        raise CascadeInputError(f"selector {selector.name!r} needs {', '.join(missing)}", param=missing[0])
    pick, _ = step(selector, layer, state)
    return replace(pick, reps=engine.export(pick.reps, like=x), groups=engine.export(pick.groups, like=x))

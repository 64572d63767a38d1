"""Per-token views of a run: which tokens each layer chose, each token's group, and its text.

A :class:`TokenView` holds one sequence (one slice, SPEC §1) of a run, token
by token: the cascade's set and the per-layer ADA set at every layer run
(SPEC §3, §5), and every valid token's representative in each (SPEC §4).
:func:`token_views` builds them from a :class:`~cascade_core.RunResult` run
with ``assign=True``; :func:`token_table` turns them into a pandas table, one
row per token and layer; :mod:`cascade_core.report.view` draws them as an
HTML page and a heatmap. Token text comes from the input's ``tokens``
metadata (written by :func:`cascade_core.export_hf`): :func:`token_texts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import CascadeInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from ._analysis import FileReport
    from ._runner import RunResult

__all__ = ["TokenView", "token_views", "token_table", "token_texts", "describe_tokens", "TABLE_COLUMNS"]

#: Columns of :func:`token_table`, in order.
TABLE_COLUMNS = (
    "file",
    "slice",
    "sequence",
    "layer",
    "position",
    "token",
    "cascade",
    "ada",
    "group",
    "ada_group",
)


@dataclass(frozen=True)
class TokenView:
    """One sequence of a run, token by token (plain Python lists, ready to draw or tabulate).

    Attributes
    ----------
    path : str
        The input file (``""`` for arrays in memory).
    slice : tuple of int
        The slice: ``(b,)`` for sequence ``b`` of a batch, ``(b, h)`` per
        head, ``()`` for a single sequence.
    positions : list of int
        Positions of the valid tokens in the (padded) input, increasing.
    tokens : list of str or None
        The text of each valid token, in the order of `positions`; None when
        the input has no token text (then positions stand for tokens).
    layers : list of int
        The input's index of each layer run.
    cascade : list of list of int
        Per layer run: the run's representative set (positions, increasing).
    ada : list of list of int or None
        Per layer run: the per-layer ADA set; None without the reference run.
    groups : list of list of int
        Per layer run: the representative (a position) of every valid token
        in the cascade's set, in the order of `positions`.
    ada_groups : list of list of int or None
        The same in the ADA set; None without the reference run.
    """

    path: str
    slice: tuple[int, ...]
    positions: list[int]
    tokens: list[str] | None
    layers: list[int]
    cascade: list[list[int]]
    ada: list[list[int]] | None
    groups: list[list[int]]
    ada_groups: list[list[int]] | None

    @property
    def sequence(self) -> int:
        """The sequence's index in the batch (0 for a single sequence)."""
        return self.slice[0] if self.slice else 0

    def counts(self) -> list[int]:
        """For every valid token: in how many layers it is a representative of the cascade's sets."""
        index = {p: i for i, p in enumerate(self.positions)}
        counts = [0] * len(self.positions)
        for chosen in self.cascade:
            for p in chosen:
                counts[index[p]] += 1
        return counts

    def label(self, i: int) -> str:
        """The text of the `i`-th valid token, or its position when the input has no text."""
        return self.tokens[i] if self.tokens is not None else str(self.positions[i])


def _ints(a) -> list[int]:
    """A 1-d integer array of any namespace (or device) as Python ints: one transfer to the host."""
    if hasattr(a, "tolist"):
        return [int(v) for v in a.tolist()]
    return [int(a[i]) for i in range(a.shape[0])]


def token_texts(metadata: dict, n_sequences: int | None, n_tokens: int) -> list[list[str]] | None:
    """The token strings of an input's ``tokens`` metadata, one list of `n_tokens` per sequence.

    Parameters
    ----------
    metadata : dict
        The input's metadata (:attr:`cascade_core.Activations.metadata`).
    n_sequences : int or None
        The batch size ``B``, or None for an input of one sequence (``LTD``).
    n_tokens : int
        ``T``, padding included.

    Returns
    -------
    list of list of str or None
        None when the metadata has no ``tokens`` list (positions stand in).

    Raises
    ------
    CascadeInputError
        ``tokens`` is a list of lists that does not fit the activations.
    """
    value = metadata.get("tokens")
    if not isinstance(value, list) or not value:
        return None
    if n_sequences is None and all(isinstance(t, str) for t in value):
        value = [value]  # one sequence, one list
    if not all(isinstance(row, list) for row in value):
        return None
    expected = 1 if n_sequences is None else n_sequences
    if len(value) != expected or any(len(row) != n_tokens for row in value):
        shapes = ", ".join(str(len(row)) for row in value[:4]) + (", ..." if len(value) > 4 else "")
        raise CascadeInputError(
            f"metadata 'tokens' holds {len(value)} lists of {shapes} strings; "
            f"expected {expected} of {n_tokens} (one string per token, padding included)"
        )
    if not all(isinstance(t, str) for row in value for t in row):
        raise CascadeInputError("metadata 'tokens' must hold strings only")
    return value


def describe_tokens(value) -> str:
    """A one-line summary of a ``tokens`` metadata value, for listings (``cascade-core info``)."""
    if not isinstance(value, list) or not value:
        return str(value)
    rows = value if isinstance(value[0], list) else [value]
    first = " ".join(str(t) for t in rows[0][:8])
    return f"{len(rows)} list{'s' if len(rows) != 1 else ''} of {len(rows[0])} token strings: {first} ..."


def _positions(where: tuple[int, ...], n_valid: int, lengths, mask) -> list[int]:
    """Positions of the valid tokens of a slice, as the runner chose them (a prefix, or the mask's)."""
    if mask is not None:
        return [t for t, keep in enumerate(mask[where[0]]) if bool(keep)]
    return list(range(n_valid))


def token_views(
    result: RunResult,
    *,
    tokens: Sequence[Sequence[str]] | None = None,
    lengths=None,
    mask=None,
    path: str = "",
) -> list[TokenView]:
    """Per-token views of every slice of a run.

    Parameters
    ----------
    result : RunResult
        A run made with ``assign=True`` (and, for the ADA columns, with the
        reference, the default).
    tokens : sequence of sequence of str, optional
        Each sequence's token strings, padding included (``(B, T)``), as
        :func:`token_texts` reads them from a file; without them, positions
        stand for tokens.
    lengths, mask : optional
        The same valid lengths or mask the run was given.
    path : str, default ""
        The input's file, recorded in each view.

    Returns
    -------
    list of TokenView
        One per slice, in slice order.

    Raises
    ------
    CascadeInputError
        The run has no assignments, or `tokens`, `lengths` or `mask` do not
        fit the run.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.random.default_rng(0).standard_normal((3, 6, 4))
    >>> view = cc.token_views(cc.run(x, 0.5, assign=True))[0]
    >>> view.layers, view.positions
    ([0, 1, 2], [0, 1, 2, 3, 4, 5])
    >>> view.cascade[0] == view.ada[0]  # layer 0 is ADA in both runs
    True
    """
    if not result.assignments:
        raise CascadeInputError("token views need the run's assignments: run(..., assign=True)", param="assign")
    if lengths is not None and mask is not None:
        raise CascadeInputError("give lengths or mask, not both", param="lengths")
    mask = None if mask is None else [[bool(v) for v in row] for row in mask]
    views = []
    for where in sorted(result.sets):
        groups = [_ints(a) for a in result.assignments[where]]
        positions = _positions(where, len(groups[0]), lengths, mask)
        if lengths is not None and where and len(positions) != int(lengths[where[0]]):
            raise CascadeInputError(f"lengths give {int(lengths[where[0]])} tokens, the run had {len(positions)}")
        has_ada = bool(result.reference_sets) and where in result.reference_assignments
        view = TokenView(
            path=str(path),
            slice=tuple(where),
            positions=positions,
            tokens=_slice_text(tokens, where, positions),
            layers=list(result.layer_ids),
            cascade=[_ints(a) for a in result.sets[where]],
            ada=[_ints(a) for a in result.reference_sets[where]] if has_ada else None,
            groups=groups,
            ada_groups=[_ints(a) for a in result.reference_assignments[where]] if has_ada else None,
        )
        _check(view)
        views.append(view)
    return views


def _slice_text(tokens, where, positions) -> list[str] | None:
    if tokens is None:
        return None
    rows = list(tokens)
    row = rows[where[0]] if where else rows[0]
    if positions and positions[-1] >= len(row):
        raise CascadeInputError(
            f"tokens: {len(row)} strings for sequence {where[0] if where else 0}, "
            f"but position {positions[-1]} is valid",
            param="tokens",
        )
    return [str(row[p]) for p in positions]


def _check(view: TokenView) -> None:
    """Every set lies among the valid tokens and every token's group is a member that is its own group."""
    index = {p: i for i, p in enumerate(view.positions)}
    pairs = [(view.cascade, view.groups)] + ([(view.ada, view.ada_groups)] if view.ada is not None else [])
    for sets, groups in pairs:
        if len(sets) != len(view.layers) or len(groups) != len(view.layers):
            raise CascadeInputError("token views: one set and one assignment per layer run expected")
        for layer, chosen, group in zip(view.layers, sets, groups, strict=True):
            members = set(chosen)
            if len(group) != len(view.positions) or not members <= index.keys():
                raise CascadeInputError("the assignment does not fit the valid tokens", layer=layer, slice=view.slice)
            if not set(group) <= members or any(group[index[p]] != p for p in members):
                raise CascadeInputError("an assignment outside the set", layer=layer, slice=view.slice)


def _views_of(source) -> list[TokenView]:
    if isinstance(source, TokenView):
        return [source]
    if hasattr(source, "result") and hasattr(source, "input"):  # a FileReport
        if getattr(source, "views", None) is None:
            raise CascadeInputError("this report has no token views: analyze with Analysis(views=True)", param="views")
        return list(source.views)
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes)):
        return [view for item in source for view in _views_of(item)]
    raise CascadeInputError(
        f"expected a TokenView, a FileReport or a list of them, got {type(source).__name__}", param="views"
    )


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("the token table needs pandas: pip install 'cascade-core[tables]'") from None
    return pandas


def token_table(source: TokenView | FileReport | Iterable) -> pandas.DataFrame:
    """The per-token view data as a table: one row per token and layer run.

    Parameters
    ----------
    source : TokenView, FileReport or iterable of them
        Views (:func:`token_views`), or reports of
        :func:`cascade_core.analyze_file` made with ``Analysis(views=True)``.

    Returns
    -------
    pandas.DataFrame
        Columns (:data:`TABLE_COLUMNS`): ``file``; ``slice`` (``"b"`` or
        ``"b/h"``, as in ``layers.csv``); ``sequence`` (the batch index);
        ``layer`` (the input's index); ``position``; ``token`` (its text, or
        missing without token text); ``cascade`` (in the cascade's set);
        ``ada`` (in the per-layer ADA set; missing without the reference);
        ``group`` (the position of its representative in the cascade's set,
        itself for a member); ``ada_group`` (the same in the ADA set).

    Raises
    ------
    ImportError
        pandas is not installed (``pip install 'cascade-core[tables]'``).

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.random.default_rng(0).standard_normal((3, 6, 4))
    >>> views = cc.token_views(cc.run(x, 0.5, assign=True))
    >>> table = cc.token_table(views)
    >>> len(table), list(table.columns[:6])
    (18, ['file', 'slice', 'sequence', 'layer', 'position', 'token'])
    >>> bool((table["group"] == table["position"]).eq(table["cascade"]).all())  # a member is its own group
    True
    """
    pd = _pandas()
    columns: dict[str, list] = {name: [] for name in TABLE_COLUMNS}
    for view in _views_of(source):
        n = len(view.positions)
        name = "/".join(str(i) for i in view.slice)
        for k, layer in enumerate(view.layers):
            members = set(view.cascade[k])
            ada = set(view.ada[k]) if view.ada is not None else None
            columns["file"] += [view.path] * n
            columns["slice"] += [name] * n
            columns["sequence"] += [view.sequence] * n
            columns["layer"] += [layer] * n
            columns["position"] += view.positions
            columns["token"] += view.tokens if view.tokens is not None else [None] * n
            columns["cascade"] += [p in members for p in view.positions]
            columns["ada"] += [p in ada for p in view.positions] if ada is not None else [None] * n
            columns["group"] += view.groups[k]
            columns["ada_group"] += view.ada_groups[k] if view.ada_groups is not None else [None] * n
    frame = pd.DataFrame(columns)
    return frame.astype(
        {
            "sequence": "int64",
            "layer": "int64",
            "position": "int64",
            "cascade": "bool",
            "ada": "boolean",
            "group": "int64",
            "ada_group": "Int64",
        }
    )

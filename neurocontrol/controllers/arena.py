"""The adaptive controller's named state: one float64 buffer with a named view per field, and the field tables.

The compiled step takes the whole state as one array plus a layout, because
numba unboxes every array argument on each call; the fields keep names all
the same. :data:`FIELDS` lists every float field once, in layout order, and
:class:`F` (generated from it) gives each field its row in the layout, so a
kernel writes ``view1(A, L, F.offset)`` and never a bare position. Integer
fields work the same way with :data:`INT_FIELDS` and :class:`I`.

An :class:`Arena` is the only owner of its buffer: the controller reaches a
field through ``arena["name"]`` (a view), so copies, deep copies and pickles
are correct by construction (only the buffer and the layout are stored).
"""

from __future__ import annotations

import enum
import math

import numpy as np

from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets._kernels import _jit

__all__ = ["Arena", "FIELDS", "INT_FIELDS", "F", "I", "view1", "view2", "view3"]

#: Float fields of the adaptive controller's arena, in layout order, each with its meaning.
FIELDS = (
    # identifier: weights, regressor [y; u; 1], RLS covariance and its work vectors
    ("W", "identifier weights, normalised units"),
    ("z", "identifier regressor of the last applied input"),
    ("P", "identifier RLS covariance"),
    ("Pz", "identifier RLS work vector"),
    ("gain", "identifier RLS gain"),
    # imitator: weights, regressor [d; r; 1], RLS covariance or the 2-D rule's buffer
    ("Ws", "imitator weights"),
    ("zs", "imitator regressor"),
    ("Ps", "imitator RLS covariance (1 x 1 placeholder under the 2-D rule)"),
    ("Pzs", "imitator RLS work vector"),
    ("gains", "imitator RLS gain or 2-D rule buffer"),
    # reference model and desired response
    ("rm", "reference-model state [value, rate] per output, physical units"),
    ("rm_ad", "reference-model transition matrix per output"),
    ("rm_bd", "reference-model input matrix per output"),
    ("d", "imitator state after this step's reference-model advance"),
    ("d_prev", "imitator state before it (what the law starts from)"),
    # measurement, disturbance estimate, applied input
    ("y", "measured output, normalised and clipped to (-0.99, 0.99)"),
    ("offset", "disturbance estimate added to the identifier's net input"),
    ("u_out", "this step's proposal, physical units (before the limits)"),
    # normalisation
    ("y_scale", "observation scale"), ("y_offset", "observation offset"),
    ("r_scale", "reference scale"), ("r_offset", "reference offset"),
    ("out_scale", "controlled-output scale"), ("out_offset", "controlled-output offset"),
    ("rate_scale", "imitator rate-unit scale"), ("rate_offset", "imitator rate-unit offset"),
    ("u_scale", "input scale"), ("u_offset", "input offset"),
    # scalar settings
    ("lam", "identifier forgetting"), ("lam_dir", "identifier directional forgetting"),
    ("max_trace", "identifier covariance trace bound"),
    ("lam_s", "imitator forgetting"), ("lam_dir_s", "imitator directional forgetting"),
    ("max_trace_s", "imitator covariance trace bound"),
    ("alpha_s", "imitator 2-D rule alpha"), ("delta_s", "imitator 2-D rule delta"),
    ("tol_s", "imitator 2-D rule tolerance"),
    ("dist_a", "disturbance filter coefficient"),
    ("gate_rate", "rate of the outlier gate's running error level"),
    # scalar state and per-step results
    ("have_z", "1 when z holds a transition to learn from"),
    ("gate_factor", "outlier gate factor (0 until armed at the hand-over)"),
    ("gate_level", "log running one-step error level (NaN until the first sample)"),
    ("id_iters", "identifier inner iterations this step (0: it did not learn)"),
    ("im_iters", "imitator inner iterations this step"),
    ("pred_err", "identifier a-priori one-step error norm this step (NaN if none)"),
    ("id_updates", "identifier updates so far"), ("im_updates", "imitator updates so far"),
    ("id_bounded", "identifier covariance bounds applied so far"),
    ("im_bounded", "imitator covariance bounds applied so far"),
    # predictive-law weights and workspace
    ("q", "output weights"), ("rho", "move penalty per input"),
    ("r_n", "normalised reference"), ("u_n", "normalised last input"), ("law_out", "law proposal, normalised"),
    ("yh", "law workspace"), ("yn", "law workspace"), ("dh", "law workspace"), ("dn", "law workspace"),
    ("S", "law sensitivities"), ("Sn", "law sensitivities"), ("NA", "law normal matrix"), ("Nb", "law normal vector"),
)
#: Integer fields, in layout order.
INT_FIELDS = (
    ("dmap", "imitator unit holding each identifier unit's desired value (-1: none)"),
    ("blocks", "start step of each input move block"),
    ("horizon", "law horizon, steps"), ("stride", "law cost stride, steps"),
    ("im_kind", "imitator rule: 0 RLS, 1 the 2-D rule"), ("k_max_s", "imitator 2-D rule iteration limit"),
)

#: Row of each float field in the layout.
F = enum.IntEnum("F", [name for name, _ in FIELDS], start=0)
#: Row of each integer field in the layout.
I = enum.IntEnum("I", [name for name, _ in INT_FIELDS], start=0)  # noqa: E741  (pairs with F)


class Arena:
    """One buffer holding named fields; ``arena[name]`` is a view of it.

    Parameters
    ----------
    fields : tuple of (str, str)
        Field names and meanings in layout order (:data:`FIELDS` or
        :data:`INT_FIELDS`).
    shapes : dict of str to tuple of int
        Shape of every field (``()`` for a scalar, at most three dimensions).
    dtype : numpy dtype, default float64
        Element type of the buffer.

    Notes
    -----
    ``layout`` has one row per field: offset into ``buffer`` and up to three
    dimensions, which the compiled kernels read through :func:`view1`,
    :func:`view2` and :func:`view3`.
    """

    def __init__(self, fields, shapes: dict, dtype=np.float64):
        names = [name for name, _ in fields]
        if set(shapes) != set(names):
            raise ParameterError(f"`shapes` must name every field once: missing {sorted(set(names) - set(shapes))}, "
                                 f"unexpected {sorted(set(shapes) - set(names))}.")
        layout = np.zeros((len(names), 4), dtype=np.int64)
        o = 0
        for k, name in enumerate(names):
            shape = tuple(int(s) for s in shapes[name])
            layout[k, 0] = o
            layout[k, 1:1 + len(shape)] = shape
            o += math.prod(shape)
        self._names = tuple(names)
        self._shapes = tuple(tuple(int(s) for s in shapes[name]) for name in names)
        self.buffer = np.zeros(o, dtype=dtype)
        self.layout = layout
        self._link()

    def _link(self):
        self._views = {}
        for k, (name, shape) in enumerate(zip(self._names, self._shapes)):
            o = int(self.layout[k, 0])
            self._views[name] = self.buffer[o:o + math.prod(shape)].reshape(shape)

    def __getitem__(self, name: str) -> np.ndarray:
        """Return the view of field ``name`` (writeable; scalars are 0-d arrays)."""
        return self._views[name]

    def __setitem__(self, name: str, value) -> None:
        """Copy ``value`` into field ``name`` (broadcast to its shape)."""
        self._views[name][...] = value

    def scalar(self, name: str) -> float:
        """Return scalar field ``name`` as a Python number.

        Parameters
        ----------
        name : str
            A scalar field of the layout.
        """
        return self._views[name].item()

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in layout order."""
        return self._names

    def load(self, name: str, value) -> None:
        """Copy ``value`` into field ``name`` after checking its shape.

        Parameters
        ----------
        name : str
            Field name.
        value : array_like
            New content, exactly the field's shape.
        """
        cur = self._views[name]
        new = np.asarray(value, dtype=cur.dtype)
        if new.shape != cur.shape:
            raise ShapeError(f"`state[{name!r}]` must have shape {cur.shape}, got {new.shape}.")
        cur[...] = new

    def __getstate__(self):
        return {"buffer": self.buffer, "layout": self.layout, "names": self._names, "shapes": self._shapes}

    def __setstate__(self, state):
        self.buffer, self.layout = state["buffer"], state["layout"]
        self._names, self._shapes = state["names"], state["shapes"]
        self._link()


@_jit
def view1(A, L, k):
    """Return field row ``k`` of arena ``A`` (layout ``L``) as a vector."""
    o = L[k, 0]
    return A[o:o + L[k, 1]]


@_jit
def view2(A, L, k):
    """Return field row ``k`` of arena ``A`` (layout ``L``) as a matrix."""
    o = L[k, 0]
    return A[o:o + L[k, 1] * L[k, 2]].reshape((L[k, 1], L[k, 2]))


@_jit
def view3(A, L, k):
    """Return field row ``k`` of arena ``A`` (layout ``L``) as a 3-D array."""
    o = L[k, 0]
    return A[o:o + L[k, 1] * L[k, 2] * L[k, 3]].reshape((L[k, 1], L[k, 2], L[k, 3]))

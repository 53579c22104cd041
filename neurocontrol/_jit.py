"""The numba compilation flags of the project, in one place: the learning kernels' and the plants'.

``cache=True`` keeps compiled machine code on disk so scripts and tests start
quickly; ``nogil`` lets threads run kernels in parallel; ``error_model="numpy"``
makes a division by zero give inf/nan (caught by the learning guards) instead of
raising inside a kernel; ``boundscheck=False`` because kernels index only inside
buffers their public wrappers sized.
"""

from __future__ import annotations

import numba

from neurocontrol._compile import clear_stale_kernels

__all__ = ["JIT_OPTIONS", "PLANT_JIT_OPTIONS", "jit", "plant_jit"]

# Before any kernel is compiled or loaded: drop cached kernels built from other sources (numba checks a kernel's
# own file only, not the files of the kernels it calls).
clear_stale_kernels()

#: Learning and control kernels: floating-point contraction to fused multiply-add only (no reassociation), so
#: results agree with plain references to rounding.
JIT_OPTIONS = dict(nogil=True, cache=True, fastmath={"contract"}, boundscheck=False, error_model="numpy")

#: Plant dynamics: strict IEEE arithmetic (no fastmath), so a plant step is reproducible bit for bit and equal to
#: its python-control twin.
PLANT_JIT_OPTIONS = dict(nogil=True, cache=True, fastmath=False, boundscheck=False, error_model="numpy")

#: Decorator for learning and control kernels.
jit = numba.njit(**JIT_OPTIONS)

#: Decorator for plant kernels.
plant_jit = numba.njit(**PLANT_JIT_OPTIONS)

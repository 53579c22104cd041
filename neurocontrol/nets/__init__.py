"""The networks: RTRN structure, RTRL sensitivities and their variants, learning rules, gradient check.

The lowest learning layer: it imports nothing above it (controllers, loops,
scenarios). Inside, imports run one way, each module importing only those
listed before it: ``_kernels`` < ``activations`` < ``structure`` <
``normalizer``, ``forward`` < ``rtrl`` (sensitivities) < ``rules`` <
``rtrn`` (the :class:`RTRN` object) < ``gradcheck``; the incremental identifier:
``_incremental_kernels`` < ``incremental`` < ``ekf``.
"""

from __future__ import annotations

from neurocontrol.nets.activations import ACTIVATIONS, AbstractActivation, Logistic, Tanh, get_activation
from neurocontrol.nets.ekf import EKF_STATUS, DecoupledEKF, IncrementalIdentifier
from neurocontrol.nets.forward import forward, predict, stack_z
from neurocontrol.nets.gradcheck import GradientCheckResult, bptt_gradient, check_gradients, relative_error
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    free_run,
    incremental_step,
    init_incremental_weights,
    input_jacobian,
    one_step_predictions,
    output_sensitivities,
    split_weights,
    trajectory_jacobians,
)
from neurocontrol.nets.normalizer import Normalizer
from neurocontrol.nets.rtrl import (
    BLAS_MIN_UNITS,
    UORO,
    AbstractSensitivity,
    ExactRTRL,
    InputSensitivities,
    SensitivityState,
    SequenceGradient,
    SnAp1,
    input_sensitivities,
    rtrl_gradient,
    rtrl_step,
)
from neurocontrol.nets.rtrn import RTRN
from neurocontrol.nets.rules import (
    AbstractGuard,
    AbstractLearningRule,
    AbstractOptimizer,
    Adam,
    DeadZone,
    GradientStep,
    Guarded,
    NormalizedStep,
    RecursiveLeastSquares,
    RTRLGradient,
    RuleState,
    SigmaModification,
    TwoDRule,
    UpdateInfo,
    WeightNormProjection,
)
from neurocontrol.nets.structure import RTRNConfig, init_weights

__all__ = [
    "DecoupledEKF",
    "EKF_STATUS",
    "IncrementalIdentifier",
    "IncrementalConfig",
    "free_run",
    "incremental_step",
    "init_incremental_weights",
    "input_jacobian",
    "one_step_predictions",
    "trajectory_jacobians",
    "output_sensitivities",
    "split_weights",
    "AbstractActivation",
    "Tanh",
    "Logistic",
    "ACTIVATIONS",
    "get_activation",
    "RTRNConfig",
    "init_weights",
    "Normalizer",
    "stack_z",
    "forward",
    "predict",
    "RTRN",
    "AbstractSensitivity",
    "SensitivityState",
    "ExactRTRL",
    "SnAp1",
    "UORO",
    "SequenceGradient",
    "rtrl_step",
    "rtrl_gradient",
    "InputSensitivities",
    "input_sensitivities",
    "BLAS_MIN_UNITS",
    "UpdateInfo",
    "RuleState",
    "AbstractLearningRule",
    "TwoDRule",
    "AbstractOptimizer",
    "GradientStep",
    "NormalizedStep",
    "Adam",
    "RTRLGradient",
    "RecursiveLeastSquares",
    "AbstractGuard",
    "WeightNormProjection",
    "SigmaModification",
    "DeadZone",
    "Guarded",
    "GradientCheckResult",
    "bptt_gradient",
    "check_gradients",
    "relative_error",
]

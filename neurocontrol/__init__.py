"""neurocontrol: adaptive neural control of MIMO plants.

Two real-time recurrent networks (RTRNs) of identical structure learn online in
a closed loop: the identifier learns the plant from measured transitions, the
imitator learns the desired response of a reference model, and a control-law
synthesiser turns both networks' weights, the measured output and the reference
into the next input.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("neurocontrol")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""Plant parameters from what a user passes: None (the published defaults), an instance, or a dict of overrides.

Every plant's ``resolve_params`` is a :class:`ParamsResolver` of its frozen
parameter dataclass, so the rules (and the error messages) are the same for all.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

from neurocontrol.exceptions import ParameterError

__all__ = ["ParamsResolver"]


class ParamsResolver:
    """Turn None, an instance or a mapping of field overrides into an instance of one parameter class.

    Parameters
    ----------
    cls : type
        A frozen dataclass of plant parameters whose defaults are the published values.

    Notes
    -----
    A mapping (python-control's ``params`` dict) overrides fields of the
    defaults and may be empty; resolved mappings of hashable values are cached,
    since the python-control adapters resolve the same dict at every call.
    """

    def __init__(self, cls: type):
        self.cls = cls
        self.default = cls()
        self.fields = frozenset(f.name for f in dataclasses.fields(cls))
        self._cached = functools.lru_cache(maxsize=64)(lambda items: cls(**dict(items)))

    def __call__(self, params=None):
        """Return the parameters for ``params``.

        Parameters
        ----------
        params : instance, mapping or None, optional
            The parameters, or field overrides of the defaults.

        Raises
        ------
        ParameterError
            If ``params`` is of another type or the mapping has unknown keys.
        """
        cls = self.cls
        if params is None:
            return self.default
        if isinstance(params, cls):
            return params
        if isinstance(params, Mapping):
            unknown = set(params) - self.fields
            if unknown:
                raise ParameterError(f"`params` has unknown keys {sorted(unknown)}; valid keys are the fields of "
                                     f"{cls.__name__}: {sorted(self.fields)}.")
            if not params:
                return self.default
            try:
                return self._cached(frozenset(params.items()))
            except TypeError:  # unhashable values such as lists
                return cls(**params)
        raise ParameterError(f"`params` must be a {cls.__name__}, a dict of its fields or None, "
                             f"got {type(params).__name__}.")

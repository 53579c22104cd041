"""Decoding TOML tables into frozen config dataclasses, with strict keys and errors that name the key.

The one decoder of every table of a scenario file. Besides the type hints of
a config class it understands fields made by :func:`kind_field`: a sub-table
whose ``kind`` selects any kind registered in a registry section (e.g. the
guarded controller's ``fallback``, any controller kind).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.registry import _plugin_note, kind_of, registered, subclass_kinds

__all__ = ["decode_table", "field_aliases", "kind_field", "registration_of"]


def kind_field(section: str, *, default_kind: str | None = None, default=dataclasses.MISSING,
               default_factory=dataclasses.MISSING):
    """Declare a config field whose sub-table is any kind registered in ``section``, chosen by its ``kind`` key.

    Parameters
    ----------
    section : str
        The registry section the kinds come from, e.g. ``"controller"``.
    default_kind : str, optional
        The kind of a sub-table without a ``kind`` key (and one that
        :meth:`Scenario.to_toml` leaves out); None: ``kind`` is required.
    default : object, optional
        Value when the key is absent (e.g. None).
    default_factory : callable, optional
        Makes the value when the key is absent.

    Returns
    -------
    dataclasses.Field
    """
    meta = {"section": section, "default_kind": default_kind}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def registration_of(section: str, config):
    """Find the registration of ``section`` whose config class is ``type(config)``.

    Parameters
    ----------
    section : str
        Registry section, e.g. ``"controller"``.
    config : object
        A config object of a registered kind.

    Returns
    -------
    neurocontrol.registry.Registration

    Raises
    ------
    ParameterError
        If no kind of ``section`` has that config class.
    """
    for reg in registered(section).values():
        if reg.config is type(config):
            return reg
    raise ParameterError(f"{type(config).__name__} is not the config of a registered {section} kind; register it "
                         f"with neurocontrol.registry.register({section!r}, kind, {type(config).__name__}, build).")


def decode_table(table, cls: type, path: str, *, source: str = "<dict>", label: str | None = None):
    """Decode one table (plain data from TOML) into the frozen config dataclass ``cls``.

    Parameters
    ----------
    table : dict
        The table.
    cls : type
        A frozen keyword-only dataclass whose init fields are the allowed keys.
    path : str
        Dotted key of the table, used in messages (e.g. ``"tune"``).
    source : str, default "<dict>"
        File name used in messages.
    label : str, optional
        How messages name the table (default: the class name).

    Returns
    -------
    object
        An instance of ``cls``.

    Raises
    ------
    ScenarioError
        On an unknown key, a wrong type or a bad value (the message names the file and key).
    """
    dec = _Decoder(source)
    if not isinstance(table, Mapping):
        raise dec.fail(f"`{path}` must be a table [{path}], got {dec._got(table)}.")
    return dec.dataclass(dict(table), cls, path, label=label)


# =========================================================================== decoding


class _Decoder:
    """Turns TOML values into typed config objects; every error names the file and the dotted key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {message}")

    # ------------------------------------------------------------- types
    @staticmethod
    def describe(hint) -> str:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any:
            return "any value"
        if hint is bool:
            return "true or false"
        if hint is int:
            return "an integer"
        if hint is float:
            return "a number"
        if hint is str:
            return "a string"
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            return " or ".join(_Decoder.describe(a) for a in members)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return f"an array of {_Decoder._plural(args[0])}"
            return f"an array of {len(args)} {_Decoder._plural(args[0]) if len(set(args)) == 1 else 'values'}"
        if origin is list:
            return f"an array of {_Decoder._plural(args[0]) if args else 'values'}"
        if origin in (dict, Mapping):
            return f"a table of {_Decoder._plural(args[1]) if len(args) == 2 else 'values'}"
        if origin is Literal:
            return "one of " + ", ".join(repr(a) for a in args)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return f"a table ({hint.__name__})"
        if isinstance(hint, type):
            kinds = sorted(subclass_kinds(hint))
            return f"a table with `kind` one of {', '.join(kinds) or '(none registered)'}"
        return str(hint)

    @staticmethod
    def _plural(hint) -> str:
        return {float: "numbers", int: "integers", str: "strings", bool: "booleans"}.get(
            hint, f"({_Decoder.describe(hint)})")

    @staticmethod
    def _got(value) -> str:
        kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
                dict: "a table"}.get(type(value), type(value).__name__)
        text = repr(value)
        return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"

    def type_error(self, path: str, hint, value) -> ScenarioError:
        return self.fail(f"`{path}` must be {self.describe(hint)}, got {self._got(value)}.")

    # ------------------------------------------------------------- values
    def value(self, value, hint, path: str):
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Annotated:
            return self.value(value, args[0], path)
        if hint is Any:
            return value
        if origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return self.value(value, members[0], path)
            tables = [m for m in members if self._is_table_type(m)]
            if isinstance(value, dict) and tables:
                return self.polymorphic(value, tables, path)
            for m in members:
                if self._is_table_type(m):
                    continue
                try:
                    return self.value(value, m, path)
                except ScenarioError:
                    continue
            raise self.type_error(path, hint, value)
        if hint is bool:
            if not isinstance(value, bool):
                raise self.type_error(path, hint, value)
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.type_error(path, hint, value)
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.type_error(path, hint, value)
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise self.type_error(path, hint, value)
            return value
        if origin is Literal:
            if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
                raise self.fail(f"`{path}` must be one of {', '.join(repr(a) for a in args)}, got {value!r}.")
            return value
        if origin in (tuple, list):
            if not isinstance(value, (list, tuple)):
                raise self.type_error(path, hint, value)
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and args:
                if len(value) != len(args):
                    raise self.fail(f"`{path}` must be {self.describe(hint)}, got {len(value)} values: {value!r}.")
                items = [self.value(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
            else:
                item = args[0] if args else Any
                items = [self.value(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
        if origin in (dict, Mapping):
            if not isinstance(value, dict):
                raise self.type_error(path, hint, value)
            item = args[1] if len(args) == 2 else Any
            return {str(k): self.value(v, item, f"{path}.{k}") for k, v in value.items()}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.dataclass(value, hint, path)
        if isinstance(hint, type):
            candidates = subclass_kinds(hint)
            if not candidates:
                raise self.fail(f"`{path}` is a {hint.__name__}, but no kind of it is registered; register one with "
                                "neurocontrol.scenario.register(section, kind, ConfigClass).")
            return self.polymorphic(value, list(dict.fromkeys(candidates.values())), path)
        raise self.fail(f"`{path}` has a type the scenario reader does not support ({hint!r}); "
                        "use float, int, bool, str, tuples, dicts or dataclasses.")

    @staticmethod
    def _is_table_type(hint) -> bool:
        return isinstance(hint, type) and hint not in (bool, int, float, str) and typing.get_origin(hint) is None

    def polymorphic(self, value, classes: Sequence[type], path: str):
        """Decode a table whose ``kind`` selects one of ``classes``."""
        by_kind = {}
        for cls in classes:
            if dataclasses.is_dataclass(cls):
                kind = kind_of(cls)
                if kind is not None:
                    by_kind.setdefault(kind, cls)
            else:  # an abstract base inside a union: its registered subclasses
                by_kind.update({k: c for k, c in subclass_kinds(cls).items() if k not in by_kind})
        allowed = ", ".join(sorted(by_kind)) or "(none registered)"
        if not isinstance(value, dict):
            raise self.fail(f"`{path}` must be a table with `kind` one of {allowed}, got {self._got(value)}.")
        if "kind" not in value:
            raise self.fail(f"missing key `{path}.kind`; set it to one of {allowed}.")
        kind = value["kind"]
        if not isinstance(kind, str):
            raise self.fail(f"`{path}.kind` must be a string, one of {allowed}; got {self._got(kind)}.")
        if kind not in by_kind:
            raise self.fail(f"unknown kind {kind!r} at `{path}.kind`; allowed: {allowed}." + _plugin_note())
        return self.dataclass(value, by_kind[kind], path)

    def registered_kind(self, value, section: str, default_kind: str | None, path: str):
        """Decode a table whose ``kind`` (default ``default_kind``) selects a kind registered in ``section``."""
        kinds = {k: r for k, r in registered(section).items() if r.config is not None}
        allowed = ", ".join(sorted(kinds)) or "(none registered)"
        if not isinstance(value, dict):
            raise self.fail(f"`{path}` must be a table with `kind` one of {allowed}, got {self._got(value)}.")
        kind = value.get("kind", default_kind)
        if kind is None:
            raise self.fail(f"missing key `{path}.kind`; set it to one of {allowed}.")
        if not isinstance(kind, str):
            raise self.fail(f"`{path}.kind` must be a string, one of {allowed}; got {self._got(kind)}.")
        if kind not in kinds:
            raise self.fail(f"unknown kind {kind!r} at `{path}.kind`; allowed: {allowed}." + _plugin_note())
        table = {k: v for k, v in value.items() if k != "kind"}
        return self.dataclass(table, kinds[kind].config, path, allow_kind=False,
                              label=f"{kinds[kind].config.__name__} ({section} kind {kind!r})")

    def _resolve_aliases(self, value: dict, fields, path: str) -> tuple[dict, dict]:
        """Rename every key a field declares as another name of it (``metadata["aliases"]``) to the field's name.

        Returns the table and ``{field name: the name the table used}`` (so an error names the key as written).
        Both names in one table is an error, since they set the same thing.
        """
        aliases = field_aliases(fields)
        if not aliases.keys() & value.keys():
            return value, {}
        out, written = {}, {}
        for key, v in value.items():
            name = aliases.get(key, key)
            if name != key:
                if name in value or name in out:      # the field's own name, or another of its names, as well
                    other = name if name in value else written[name]
                    raise self.fail(f"`{path}.{key}` and `{path}.{other}` are the same setting; give one of them.")
                written[name] = key
            out[name] = v
        return out, written

    def dataclass(self, value, cls: type, path: str, *, label: str | None = None, allow_kind: bool = True):
        """Decode a table into the frozen dataclass ``cls``; the table's keys are its init fields."""
        if not isinstance(value, dict):
            raise self.fail(f"`{path}` must be a table of {cls.__name__} settings, got {self._got(value)}.")
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise ParameterError(f"the type hints of {cls.__name__} cannot be resolved ({exc}); define the names it "
                                 "uses at module level.") from None
        fields = [f for f in dataclasses.fields(cls) if f.init]
        names = {f.name for f in fields}
        inline = [f for f in fields if f.metadata.get("inline")]
        own_kind = kind_of(cls) if allow_kind else None
        kwargs, rest = {}, {}
        value, written = self._resolve_aliases(value, fields, path)
        for key, v in value.items():
            if key == "kind" and "kind" not in names:
                if own_kind is None or v != own_kind:
                    expect = f"{own_kind!r} (or leave it out)" if own_kind else "absent: this table has no kinds"
                    raise self.fail(f"`{path}.kind` must be {expect}, got {v!r}.")
                continue
            if key in names and not (inline and key == inline[0].name):
                f = next(f for f in fields if f.name == key)
                at = f"{path}.{written.get(key, key)}"        # the key as the table wrote it
                if f.metadata.get("section"):
                    kwargs[key] = self.registered_kind(v, f.metadata["section"], f.metadata.get("default_kind"), at)
                else:
                    kwargs[key] = self.value(v, hints[key], at)
            elif inline:
                rest[key] = v
            else:
                allowed = sorted(names) + ([] if own_kind is None or "kind" in names else ["kind"])
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                what = label or (f"{cls.__name__} (kind {own_kind!r})" if own_kind else cls.__name__)
                raise self.fail(f"unknown key `{path}.{key}`{hint}; allowed keys of {what}: {', '.join(allowed)}.")
        if inline:
            f = inline[0]
            item = typing.get_args(hints[f.name])[1] if len(typing.get_args(hints[f.name])) == 2 else Any
            kwargs[f.name] = {str(k): self.value(v, item, f"{path}.{k}") for k, v in rest.items()}
        for f in fields:
            if f.name in kwargs or f.metadata.get("inline"):
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if self._optional(hints[f.name]):
                    kwargs[f.name] = None
                else:
                    raise self.fail(f"missing key `{path}.{f.name}` ({self.describe(hints[f.name])}).")
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            for name, key in written.items():       # name the key as the table wrote it
                message = message.replace(f"`{name}`", f"`{key}`")
            raise self.fail(_qualify(message, path, names | set(written.values()))) from None

    @staticmethod
    def _optional(hint) -> bool:
        return typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)


def field_aliases(fields) -> dict:
    """Return ``{other name: field name}`` for the ``fields`` that declare other names (``metadata["aliases"]``).

    Parameters
    ----------
    fields : iterable of dataclasses.Field
        E.g. ``dataclasses.fields(cls)``.
    """
    return {a: f.name for f in fields for a in f.metadata.get("aliases", ())}


def _qualify(message: str, path: str, names) -> str:
    """Turn "`duration` must be ..." into "`run.duration` must be ..." (or prefix the table's path)."""
    match = re.search(r"`([A-Za-z_][A-Za-z0-9_]*)(`|\[)", message)
    if match and match.group(1) in names:
        return message[:match.start(1)] + f"{path}." + message[match.start(1):]
    return f"[{path}]: {message}"



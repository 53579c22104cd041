"""The key reference of scenario files: every key of a kind, its type, default and meaning, from the config classes.

One source: the keys are the init fields of a kind's config dataclass, their
types its type hints, their defaults the field defaults and their meanings the
numpydoc ``Parameters`` section of the class (or of a base class that declares
the field). ``docs/make_keys.py`` writes the tables of ``docs/scenarios.md``
and ``scenarios/reference_all_keys.toml`` from :func:`describe_kind`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing

from neurocontrol.exceptions import ParameterError
from neurocontrol.registry import kind_of, registered
from neurocontrol.scenario.configs import ILCSpec, RunConfig, TuneParam, TuneSpec
from neurocontrol.scenario.decode import _Decoder
from neurocontrol.scenario.encode import _encode

__all__ = ["describe_kind", "parameter_docs", "first_sentence", "TABLE_CONFIGS"]

#: The tables without kinds and their config classes (``describe_kind(name, name)``).
TABLE_CONFIGS = {"run": RunConfig, "ilc": ILCSpec, "tune": TuneSpec, "tune_param": TuneParam}

_HEADER = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)


def parameter_docs(cls: type) -> dict[str, str]:
    """Collect the numpydoc ``Parameters`` entries of a class and its bases: ``{field name: description}``.

    A line ``a, b : float`` documents both ``a`` and ``b``; a subclass's entry
    wins over its base's.

    Parameters
    ----------
    cls : type
        The config class.

    Returns
    -------
    dict of str to str
        The description of each documented name, its lines joined by spaces.
    """
    out: dict[str, str] = {}
    for klass in reversed(inspect.getmro(cls)):
        doc = klass.__dict__.get("__doc__")
        if not doc:
            continue
        text = inspect.cleandoc(doc)
        start = re.search(r"^Parameters\n-{3,}\n", text, re.M)
        if start is None:
            continue
        body = text[start.end():]
        end = _HEADER.search(body)
        body = body[:end.start()] if end else body
        names: list[str] = []
        for line in body.splitlines():
            if line and not line[0].isspace():
                names = [n.strip() for n in line.split(" : ")[0].split(",") if n.strip()]
                for n in names:
                    out[n] = ""
            elif line.strip() and names:
                for n in names:
                    out[n] = (out[n] + " " + line.strip()).strip()
    return out


def first_sentence(text: str) -> str:
    """Return the first sentence of a description (up to a full stop followed by a capital or a backquote).

    Parameters
    ----------
    text : str
        A parameter's description.

    Returns
    -------
    str
    """
    parts = re.split(r"(?<!e\.g)(?<!i\.e)(?<=\.)\s+(?=[A-Z`])", text.strip(), maxsplit=1)
    return parts[0] if parts else ""


def _config_class(section: str, kind: str) -> type | None:
    if section in TABLE_CONFIGS and kind == section:
        return TABLE_CONFIGS[section]
    reg = registered(section).get(kind)
    if reg is None:
        known = sorted(registered(section)) if section in registered() else []
        raise ParameterError(f"no {section} kind {kind!r} is registered; registered: "
                             f"{', '.join(known) or '(none: unknown section)'}.")
    return reg.config


def describe_kind(section: str, kind: str) -> list[dict]:
    """Describe the keys of a registered kind (or of the ``run``, ``ilc``, ``tune`` tables), nested tables dotted.

    Parameters
    ----------
    section : str
        Registry section (``"controller"``, ``"law"``, ...) or ``"run"``, ``"ilc"``, ``"tune"``.
    kind : str
        The kind (for the plain tables: the section's name again).

    Returns
    -------
    list of dict
        One row per key: ``key`` (dotted), ``type`` (in words), ``default``
        (TOML data; None when required or absent), ``required``, ``doc`` (the
        numpydoc description) and ``kinds``: for a sub-table chosen by its own
        ``kind``, the section its kinds come from (else None). An optional
        sub-table without its own entry takes its class's summary line.

    Raises
    ------
    ParameterError
        If the kind is not registered.

    Examples
    --------
    >>> [row["key"] for row in describe_kind("run", "run")][:2]
    ['duration', 'seed']
    """
    cls = _config_class(section, kind)
    rows: list[dict] = []

    def walk(c, prefix):
        hints = typing.get_type_hints(c)
        docs = parameter_docs(c)
        for f in dataclasses.fields(c):
            if not f.init:
                continue
            key = f"{prefix}{f.name}"
            hint = hints[f.name]
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if isinstance(hint, type) and dataclasses.is_dataclass(hint) and not f.metadata.get("section"):
                walk(hint, f"{key}.")
                continue
            optional = _optional_dataclass(hint)
            kinds = f.metadata.get("section") or _kind_section(hint, default)
            if f.metadata.get("section"):
                names = ", ".join(sorted(k for k, r in registered(kinds).items() if r.config is not None))
                what = f"a table with `kind` one of {names}"
            else:
                what = _Decoder.describe(hint)
            if f.metadata.get("inline"):
                key = f"{prefix}<output name>"
            doc = docs.get(f.name, "")
            if not doc and optional is not None and optional.__doc__:   # a sub-table: its class's summary line
                doc = inspect.cleandoc(optional.__doc__).splitlines()[0]
            rows.append({"key": key, "type": what, "required": default is dataclasses.MISSING,
                         "default": None if default is dataclasses.MISSING else _encode(default),
                         "doc": doc, "kinds": kinds})
            if optional is not None:
                walk(optional, f"{key}.")

    if cls is not None:
        walk(cls, "")
    return rows


def _kind_section(hint, default) -> str | None:
    """Return the registry section of a field typed by an abstract base (its default's section), else None."""
    if not (isinstance(hint, type) and not dataclasses.is_dataclass(hint) and hint not in (bool, int, float, str)):
        return None
    if default is dataclasses.MISSING or default is None:
        return None
    kind = kind_of(type(default))
    for section, table in registered().items():
        if kind in table and table[kind].config is type(default):
            return section
    return None


def _optional_dataclass(hint) -> type | None:
    """Return ``X`` of a hint ``X | None`` where X is a dataclass, else None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and len(typing.get_args(hint)) == 2 and isinstance(args[0], type) and \
            dataclasses.is_dataclass(args[0]):
        return args[0]
    return None

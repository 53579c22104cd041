"""Encoding config dataclasses back into TOML text."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

import numpy as np

from neurocontrol.exceptions import ScenarioError
from neurocontrol.registry import kind_of

__all__ = ["to_toml_text"]


# =========================================================================== encoding and TOML writing


class _Table(dict):
    """A dict that came from a dataclass: written as a ``[section]`` table where TOML allows it."""


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _encode(value):
    """Encode a config value as plain TOML data (dataclasses -> _Table with their kind; None -> omitted).

    A config may name, in an instance attribute ``__derived_fields__``, init
    fields whose value it resolved from other fields because they were not
    given (e.g. ``PredictiveLaw.blocks`` from ``horizon``); those are not
    written, so after ``Scenario.set`` changes the fields they depend on,
    they resolve again instead of keeping a stale value.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        out = _Table()
        kind = kind_of(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        if kind is not None and "kind" not in names:
            out["kind"] = kind
        derived = getattr(value, "__derived_fields__", ())   # keys resolved from others: follow them on re-decode
        for f in dataclasses.fields(cls):
            if not f.init or f.name in derived:
                continue
            v = getattr(value, f.name)
            if f.metadata.get("inline"):
                for k, item in (v or {}).items():
                    enc = _encode(item)
                    if enc is not None:
                        out[str(k)] = enc
                continue
            enc = _encode(v)
            implied = f.metadata.get("default_kind")
            if isinstance(enc, _Table) and implied and enc.get("kind") == implied:
                del enc["kind"]   # a kind_field's default kind is implied (see decode.kind_field)
            if enc is not None:
                out[f.name] = enc
        return out
    if isinstance(value, Mapping):
        return {str(k): e for k, e in ((k, _encode(v)) for k, v in value.items()) if e is not None}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_encode(v) for v in value]
    raise ScenarioError(f"cannot write a {type(value).__name__} to TOML ({value!r}); use numbers, strings, arrays, "
                        "tables or registered dataclasses.")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ScenarioError(f"cannot write {v!r} to TOML.")  # pragma: no cover - _encode filters


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, _Table) for x in v)


def _write_table(lines: list[str], path: str, table: Mapping, header: str | None) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, _Table) and not _is_table_array(v)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, _Table)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if header is not None:
        if lines:
            lines.append("")
        lines.append(header)
    for k, v in scalars:
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        sub = f"{path}.{_toml_key(k)}" if path else _toml_key(k)
        _write_table(lines, sub, v, f"[{sub}]")
    for k, v in arrays:
        sub = f"{path}.{_toml_key(k)}" if path else _toml_key(k)
        for item in v:
            _write_table(lines, sub, item, f"[[{sub}]]")


def to_toml_text(data: Mapping) -> str:
    """Write nested plain data (as from :func:`_encode`) as a TOML document.

    Parameters
    ----------
    data : Mapping
        Tables (dicts) of plain values; nested dicts become sub-tables, lists of dicts arrays of tables.
    """
    lines: list[str] = []
    root = _Table({k: (v if not isinstance(v, dict) or isinstance(v, _Table) else _Table(v)) for k, v in data.items()})
    _write_table(lines, "", root, None)
    return "\n".join(lines) + "\n"



"""User settings: ``config.toml`` in the config dir, overridden by env vars and flags."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from tokscope import paths
from tokscope.sync.location import S3Location, parse_shared
from tokscope.timezone import valid_tz


class Config(NamedTuple):
    """Settings read from config.toml (every one also has an env var or flag).

    A NamedTuple, not a dataclass: the statusline reads it on every call, and ``dataclasses``
    imports ``inspect`` (about 8 ms)."""

    shared_folder: Path | S3Location | None = None
    """Folder synced between devices, or an ``s3://bucket/prefix`` (``TOKSCOPE_SHARED``, ``--shared``)."""
    timezone: str | None = None
    """IANA zone for day buckets (``TOKSCOPE_TZ``, ``--tz``); local when unset."""
    readers: tuple[str, ...] = ()
    """Clients to scan; empty means all (``TOKSCOPE_READERS``, comma list)."""
    export_debounce: float = 30.0
    """Seconds after a change before the TUI exports this device's snapshot."""
    extra: Mapping[str, Any] = MappingProxyType({})
    """Every other table of config.toml, for the features that own them."""
    errors: tuple[str, ...] = ()
    """Problems found while reading the file."""


#: The environment variables tokscope itself reads (the readers' are ``tokscope.readers.reader_env()``).
ENV: tuple[str, ...] = ("TOKSCOPE_SHARED", "TOKSCOPE_TZ", "TOKSCOPE_READERS")


def config_path() -> Path:
    """Where config.toml lives."""
    return paths.config_dir() / "config.toml"


def load(path: Path | None = None) -> Config:
    """Read config.toml (missing is fine, broken is reported) and apply env overrides."""
    path = path or config_path()
    data: dict = {}
    errors: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: {exc}")
        text = ""
    if text:
        try:
            data = _parse(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError
            errors.append(f"{path}: {exc}")
    shared = _shared(_setting("TOKSCOPE_SHARED", data, "shared_folder", str, path, errors), path, errors)
    tz = _setting("TOKSCOPE_TZ", data, "timezone", str, path, errors)
    if tz and not valid_tz(tz):
        where = "TOKSCOPE_TZ" if os.environ.get("TOKSCOPE_TZ") else f"{path}: timezone"
        errors.append(f"{where}: unknown IANA timezone {tz!r} (e.g. Europe/Berlin, UTC); using the local one")
        tz = None
    readers = _readers(_setting("TOKSCOPE_READERS", data, "readers", str | list, path, errors), path, errors)
    debounce = _setting(None, data, "export_debounce", int | float, path, errors)
    debounce = 30.0 if debounce is None or isinstance(debounce, bool) or debounce < 0 else debounce
    known = {"shared_folder", "timezone", "readers", "export_debounce"}
    return Config(
        shared_folder=shared,
        timezone=tz if isinstance(tz, str) and tz else None,
        readers=readers,
        export_debounce=float(debounce),
        extra={k: v for k, v in data.items() if k not in known},
        errors=tuple(errors),
    )


def _parsed_path() -> Path:
    # a subfolder: the statusline's fingerprint covers the cache dir's own files, not this one
    return paths.cache_dir() / "config" / "parsed.marshal"


def _parse(text: str) -> dict[str, Any]:
    """config.toml's tables: remembered with the text they came from, so a hook or statusline that
    reads an unchanged file skips tomllib (its import and parse, ~6 ms); ValueError if it does not parse."""
    from tokscope import marshal_file

    cached = marshal_file.load(_parsed_path())
    if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == text and isinstance(cached[1], dict):
        return cached[1]
    import tomllib

    data = tomllib.loads(text)
    with contextlib.suppress(ValueError):  # a value marshal cannot hold (a TOML date): not remembered
        marshal_file.dump(_parsed_path(), (text, data))
    return data


def tables_of(value: object, key: str, errors: list[str], where: str = "config.toml") -> Iterator[tuple[int, dict]]:
    """The tables of an array of tables of config.toml (``[[key]]``; one ``[key]`` table counts as
    one), each with its 1-based number; what is not a table, or not an array, is named in ``errors``
    (in order, as the entries are reached) and left out. Fields are checked by the caller."""
    if value is None:
        return
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        errors.append(f"{where}: {key} must be an array of tables ([[{key}]]); ignored")
        return
    for i, table in enumerate(value, 1):
        if isinstance(table, dict):
            yield i, table
        else:
            errors.append(f"{where}: {key} {i}: not a table; ignored")


def names_of(value: object, allow_empty: bool = False) -> tuple[str, ...] | None:
    """A name or a list of non-empty names as a tuple; None when it is neither."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not (values or allow_empty):
        return None
    if not all(isinstance(v, str) and v for v in values):
        return None
    return tuple(values)


def _setting(env: str | None, data: dict, key: str, kind: type | Any, path: Path, errors: list[str]) -> Any:
    """A setting from the environment variable ``env`` (text) or config.toml's ``key``; a value of the
    wrong type is reported with the file, the key and the cause, and left unset."""
    if env and os.environ.get(env):
        return os.environ[env]
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = getattr(kind, "__name__", None) or str(kind).replace(" | ", " or ")
        errors.append(f"{path}: {key} = {value!r}: expected {wanted}, got {type(value).__name__}; ignored")
        return None
    return value


def _shared(value: str | None, path: Path, errors: list[str]) -> Path | S3Location | None:
    """The ``shared_folder`` setting: a folder, or ``s3://bucket/prefix``; a malformed one is reported and unset."""
    if not value:
        return None
    try:
        return parse_shared(value)
    except ValueError as exc:
        where = "TOKSCOPE_SHARED" if os.environ.get("TOKSCOPE_SHARED") else f"{path}: shared_folder"
        errors.append(f"{where}: {exc}; no shared location used")
        return None


def _readers(value: str | list | None, path: Path, errors: list[str]) -> tuple[str, ...]:
    """The ``readers`` setting: a comma list (the env var, or a string in config.toml) or a list of names."""
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else value
    if any(not isinstance(v, str) for v in names):
        errors.append(f"{path}: readers: entries that are not client names were ignored")
    return tuple(v.strip() for v in names if isinstance(v, str) and v.strip())

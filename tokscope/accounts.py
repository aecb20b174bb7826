"""Accounts: which login or config dir a turn was made under, and the ``[[account]]`` rules naming them.

A source's account key is found once per source file (``source_account``) and stored on its rows:

* Claude Code: the config dir the transcript lies in (``<dir>/projects/…``), so ``~/.claude`` and
  ``CLAUDE_CONFIG_DIR=~/.claude-work`` are two accounts.
* Codex / Every Code: the home the rollout lies under (``CODEX_HOME``); where its ``auth.json`` holds a
  ChatGPT login, the login's e-mail (decoded from the ID token's claims; no token is kept).
* Every other client: its default account.

Keys are written with ``~`` for HOME, so one account on two devices has one key. The client's
default home is stored as ``""`` (most rows: nothing to stamp) and shown as its label
(``~/.claude``, ``~/.codex``, else ``default``); a ledger or snapshot written before accounts were
recorded has null there, shown the same way. ``[[account]]`` rules in config.toml rename keys
at query time (``with_accounts``), so a change of rules needs no rescan. Official limit readings
(``tokscope.quota``) go through the same keys and rules.

No Polars at import: ``source_account`` runs in scan workers.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokscope.config import names_of, tables_of

if TYPE_CHECKING:
    import polars as pl

#: The label of a client's default account, by client (others: ``DEFAULT``).
DEFAULT_HOMES: dict[str, str] = {"claude-code": "~/.claude", "codex": "~/.codex", "every-code": "~/.code"}
DEFAULT = "default"
#: Keys that are the client's default account too (stored as ``""``).
_DEFAULT_ALIASES: dict[str, frozenset[str]] = {
    "claude-code": frozenset({"~/.claude", "~/.config/claude"}),
    "codex": frozenset({"~/.codex"}),
    "every-code": frozenset({"~/.code"}),
}
_HOME_CLIENTS = ("codex", "every-code")


def tilde(path: str) -> str:
    """``path`` with HOME written as ``~`` (the form two devices share)."""
    home = os.environ.get("HOME", "").rstrip("/")
    path = path.rstrip("/") or path
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path


def _stored(client: str, key: str) -> str:
    """``key`` as stored on rows: ``""`` for the client's default account."""
    return "" if key in _DEFAULT_ALIASES.get(client, ()) else key


def label(client: str, stored: str | None) -> str:
    """The account a stored key stands for before rules: the key, else the client's default label."""
    return stored or DEFAULT_HOMES.get(client, DEFAULT)


@dataclass(frozen=True, slots=True)
class CodexLogin:
    """What a Codex ``auth.json`` says about its login: no token, only non-secret labels."""

    email: str | None = None
    plan_type: str | None = None
    api_key: bool = False
    """An API key is configured (its value is never read into tokscope)."""


_logins: dict[str, CodexLogin] = {}


def codex_login(home: Path) -> CodexLogin:
    """The login of a Codex home, from its ``auth.json`` (``tokens.id_token`` claims ``email`` and
    ``https://api.openai.com/auth.chatgpt_plan_type``); anything unreadable is no login. Read once
    per process and home."""
    cached = _logins.get(str(home))
    if cached is not None:
        return cached
    login = CodexLogin()
    try:
        with (home / "auth.json").open("rb") as fh:
            data = json.loads(fh.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        tokens = data.get("tokens")
        claims = _jwt_claims(tokens.get("id_token") if isinstance(tokens, dict) else None)
        email = claims.get("email")
        auth = claims.get("https://api.openai.com/auth")
        plan = auth.get("chatgpt_plan_type") if isinstance(auth, dict) else None
        login = CodexLogin(
            email=email.strip().lower() if isinstance(email, str) and "@" in email and len(email) < 256 else None,
            plan_type=plan if isinstance(plan, str) and plan and len(plan) < 64 else None,
            api_key=isinstance(data.get("OPENAI_API_KEY"), str) and bool(data["OPENAI_API_KEY"]),
        )
    _logins[str(home)] = login
    return login


def _jwt_claims(token: object) -> dict[str, Any]:
    """The payload of a JWT (not verified: it only names the login), or {}."""
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    part = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def home_key(client: str, home: str) -> str:
    """The account key of a client home or config dir (as stored on rows: ``""`` for the default)."""
    if client in _HOME_CLIENTS:
        email = codex_login(Path(home).expanduser()).email
        if email:
            return email
    return _stored(client, tilde(home))


def _claude_dir(path: Path) -> str | None:
    parts = path.parts
    if "projects" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("projects")
    return str(Path(*parts[:at])) if at > 0 else None


def source_account(client: str, path: Path) -> str:
    """The account key of one source file (see the module doc); ``""``: the client's default."""
    if client == "claude-code":
        found = _claude_dir(path)
        return home_key(client, found) if found else ""
    if client in _HOME_CLIENTS:
        from tokscope.readers import get_reader

        account_of = getattr(get_reader(client), "account_of", None)
        return home_key(client, account_of(path)) if account_of else ""
    return ""


def quota_key(client: str, account: str) -> str:
    """The account of an official limit reading, whose ``account`` is a home or config dir: the key
    its client's rows carry, as shown before rules (``label``)."""
    return label(client, home_key(client, account))


# --- [[account]] rules ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRule:
    """``[[account]]``: turns matching every given field are shown as account ``name``."""

    name: str
    clients: tuple[str, ...] = ()
    path: str | None = None
    """A glob on the account key as shown before rules (``~/.claude-work``, ``*@example.com``)."""
    devices: tuple[str, ...] = ()
    """Device ids or names."""

    def matches(self, client: str, key: str, device: str, device_names: dict[str, str]) -> bool:
        """Whether a turn of ``client`` under ``key`` on ``device`` (an id) is this rule's."""
        if self.clients and client not in self.clients:
            return False
        if self.path is not None and not fnmatch.fnmatchcase(key, self.path):
            return False
        return not self.devices or device in self.devices or device_names.get(device, "\0") in self.devices


def parse_rules(tables: object, where: str = "config.toml") -> tuple[list[AccountRule], list[str]]:
    """The ``account`` array of config.toml as rules, in order; a bad entry is named and left out."""
    from tokscope.events import CLIENTS


    rules: list[AccountRule] = []
    errors: list[str] = []
    for i, table in tables_of(tables, "account", errors, where):
        at = f"{where}: account {i}"
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{at}: name must be a non-empty string; ignored")
            continue
        at = f"{where}: account {name!r}"
        unknown = sorted(set(table) - {"name", "client", "path", "device"})
        if unknown:
            errors.append(f"{at}: unknown key {', '.join(unknown)} (known: name, client, path, device); ignored")
            continue
        fields: dict[str, Any] = {}
        bad = False
        for key, field_name in (("client", "clients"), ("device", "devices")):
            if key in table:
                names = names_of(table[key])
                if names is None:
                    errors.append(f"{at}: {key} must be a name or a list of names; ignored")
                    bad = True
                    break
                fields[field_name] = names
        if bad:
            continue
        strange = [c for c in fields.get("clients", ()) if c not in CLIENTS]
        if strange:
            errors.append(f"{at}: client {', '.join(strange)} is not a client tokscope reads; ignored")
            continue
        if "path" in table:
            path = table["path"]
            if not isinstance(path, str) or not path:
                errors.append(f"{at}: path must be a glob string (e.g. \"~/.claude-work\"); ignored")
                continue
            fields["path"] = tilde(str(Path(path).expanduser())) if path.startswith(("~", "/")) else path
        if not fields:
            errors.append(f"{at}: give at least one of client, path or device to match; ignored")
            continue
        rules.append(AccountRule(name=name.strip(), **fields))
    return rules, errors


def resolve(
    client: str, key: str | None, device: str, rules: list[AccountRule], device_names: dict[str, str] | None = None
) -> str:
    """The account a turn (or a reading) is shown under: the first matching rule's name, else its label."""
    shown = label(client, key)
    names = device_names or {}
    for rule in rules:
        if rule.matches(client, shown, device, names):
            return rule.name
    return shown


def with_accounts(
    events: pl.LazyFrame, rules: list[AccountRule], device_names: dict[str, str] | None = None
) -> pl.LazyFrame:
    """``events`` with ``account`` as shown (``resolve``): each distinct (client, stored key[, device])
    is resolved once in Python, then a short when-chain of categorical comparisons names the rows
    (no per-row string work)."""
    import polars as pl

    by_device = any(r.devices for r in rules)
    keys = ["client", "account", *(["device_id"] if by_device else [])]
    combos = events.select(keys).unique().collect()
    names = device_names or {}
    shown: dict[str, list[tuple[Any, ...]]] = {}
    for combo in combos.iter_rows():
        client, stored = str(combo[0]), combo[1]
        device = str(combo[2] or "") if by_device else ""
        shown.setdefault(resolve(client, stored, device, rules, names), []).append(combo)
    if not shown:
        return events.with_columns(pl.lit(None, pl.Categorical()).alias("account"))

    def matches(combo: tuple[Any, ...]) -> pl.Expr:
        stored = pl.col("account")
        cond = pl.col("client") == combo[0]
        cond = cond & (stored.is_null() if combo[1] is None else stored == combo[1])
        if by_device:
            device = pl.col("device_id")
            cond = cond & (device.is_null() if combo[2] is None else device == combo[2])
        return cond

    items = sorted(shown.items(), key=lambda item: -len(item[1]))
    cat = pl.Categorical()
    expr: Any = pl.lit(items[0][0], cat)  # the name with the most combinations needs no test
    for name, members in items[1:]:
        expr = pl.when(pl.any_horizontal([matches(m) for m in members])).then(pl.lit(name, cat)).otherwise(expr)
    return events.with_columns(expr.alias("account"))

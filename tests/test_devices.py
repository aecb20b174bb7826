"""Identity (UUID, Ed25519 key, fingerprint, rename) and trust, through the CLI."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest

from tests.devices_helpers import TURN_TOTAL, make_devices
from tokscope.sync import identity, trust
from tokscope.sync.identity import IdentityError, load_identity, normalize_fingerprint

FP = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$")


def test_identity_created_once_with_private_key_0600(home: Path) -> None:
    first = load_identity()
    second = load_identity()
    assert first.device == second.device
    assert first.public_key == second.public_key and len(first.public_key) == 32
    assert stat.S_IMODE(identity.key_path().stat().st_mode) == 0o600
    assert FP.match(first.fingerprint)
    assert identity.verify(first.public_key, first.sign(b"x"), b"x")
    assert not identity.verify(first.public_key, first.sign(b"x"), b"y")


def test_loosened_key_mode_is_tightened_and_said(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "a")
    dev.ok("devices", "show")
    with dev.active():
        identity.key_path().chmod(0o644)
    code, out, err = dev.cli("devices")
    assert code == 0 and "device.key was readable by others (mode 0644)" in out + err, out + err
    with dev.active():
        assert stat.S_IMODE(identity.key_path().stat().st_mode) == 0o600
    # said until `devices show` has shown it
    assert "readable by others" in "".join(dev.cli("devices")[1:])
    assert "readable by others" in dev.cli("devices", "show")[2]
    assert "readable by others" not in "".join(dev.cli("devices")[1:])


def test_a_lost_key_or_device_file_is_a_new_identity_and_said(tmp_path: Path) -> None:
    _a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 1)
    b.ok("export")
    old_fp = b.json("devices", "show")["fingerprint"]
    (b.root / "config" / "tokscope" / "device.key").unlink()
    code, out, err = b.cli("export")
    new_fp = b.json("devices", "show")["fingerprint"]
    assert code == 0 and new_fp != old_fp
    assert f"device.key was lost: this device has a new key ({new_fp})" in out + err, out + err
    old_id = b.id
    (b.root / "config" / "tokscope" / "device.toml").unlink()
    code, out, err = b.cli("devices")
    assert b.id != old_id
    assert "device.toml was lost: this device has a new id" in out + err, out + err
    assert "other devices must trust it again" in out + err


def test_a_first_run_has_no_identity_warning(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "a")
    dev.turns("sa", 1)
    code, out, err = dev.cli("export")
    assert code == 0 and "lost" not in out + err and "readable" not in out + err
    assert "lost" not in "".join(dev.cli("devices")[1:])


def test_tokscope_dirs_are_private_under_umask_000(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "a")  # creates the config dir under the test's umask
    for path in (dev.root / "config", dev.root / "data", dev.root / "cache"):
        if path.exists():
            import shutil

            shutil.rmtree(path)
    old = os.umask(0)
    try:
        dev.turns("sa", 1)
        dev.ok("export")
        dev.ok("report", "--period", "all")
    finally:
        os.umask(old)
    made = [p for p in (dev.root / "config", dev.root / "data", dev.root / "cache") if p.exists()]
    assert made[:2] == [dev.root / "config", dev.root / "data"]
    for top in made:
        for path in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert not mode & 0o077 or (path.is_file() and not mode & 0o022), (path, oct(mode))
    folder = dev.folder
    assert not stat.S_IMODE(folder.stat().st_mode) & 0o022, oct(folder.stat().st_mode)


def test_month_file_names_reject_a_trailing_newline() -> None:
    from tokscope.sync.snapshot import FILE_RE, is_month_file

    name = "events-2026-01-0123456789ab.parquet"
    assert is_month_file(name) and FILE_RE.fullmatch(name)
    assert not is_month_file(name + "\n") and not is_month_file("x" + name)


def test_markup_in_a_device_name_is_shown_not_parsed(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.ok("devices", "rename", "[/]")
    b.turns("sb", 2)
    b.ok("export")
    code, out, err = a.cli("devices")
    assert code == 0 and "[/]" in out, err
    a.ok("devices", "trust", b.id)
    code, out, err = a.cli("report", "--by", "device", "--period", "all")
    assert code == 0 and "[/] (" in out, err
    b.ok("devices", "rename", "[bold]x")
    b.ok("export")
    assert "[bold]x" in a.ok("report", "--by", "device", "--period", "all")


def test_broken_key_is_reported_not_replaced(home: Path) -> None:
    load_identity()
    identity.key_path().write_bytes(b"not a key")
    with pytest.raises(IdentityError, match="not a usable private key"):
        load_identity()
    assert identity.key_path().read_bytes() == b"not a key"


def test_fingerprint_normalization() -> None:
    fp = identity.fingerprint(bytes(32))
    assert FP.match(fp)
    assert normalize_fingerprint(fp.lower().replace("-", " ")) == fp
    assert identity.fingerprint(bytes(31) + b"\x01") != fp


def test_devices_show_and_rename(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    shown = dev.json("devices", "show")
    assert set(shown) == {"id", "name", "fingerprint", "public_key"}
    assert shown["name"] == "laptop"
    with dev.active():
        assert base64.b64decode(shown["public_key"]) == load_identity().public_key
    assert shown["fingerprint"] == identity.fingerprint(base64.b64decode(shown["public_key"]))
    dev.ok("devices", "rename", "work box")
    again = dev.json("devices", "show")
    assert again["name"] == "work box" and again["id"] == shown["id"]
    assert dev.cli("devices", "rename", "  ")[0] == 1


def test_devices_json_has_exactly_the_documented_fields(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("s1", 2)
    a.ok("export")
    b.ok("export")
    listing = a.json("devices")
    assert [d["name"] for d in listing] == ["a", "b"]
    for entry in listing:
        assert list(entry) == ["id", "name", "fingerprint", "trusted", "last_export", "rows", "status", "reason"]
    mine, other = listing
    assert mine["status"] == "this device" and mine["trusted"] is True and mine["reason"] is None
    assert other["status"] == "untrusted" and other["trusted"] is False and other["rows"] == 2
    assert other["fingerprint"] == b.json("devices", "show")["fingerprint"]
    assert "devices trust" in other["reason"]
    # the table names the same things
    table = a.ok("devices")
    assert "untrusted" in table and "this device" in table


def test_trust_by_name_checks_the_fingerprint(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("s1", 3)
    b.ok("export")
    fp = b.json("devices", "show")["fingerprint"]
    code, _, err = a.cli("devices", "trust", "b", "--fingerprint", "AAAA-BBBB-CCCC-DDDD-EEEE")
    assert code == 1 and "fingerprint mismatch" in err
    assert a.status()["b"]["trusted"] is False
    # typed in lower case without dashes still matches
    a.ok("devices", "trust", "B", "--fingerprint", fp.lower().replace("-", ""))
    status = a.status()["b"]
    assert status["trusted"] is True and status["status"] == "merged"
    rows = a.by_device("--no-scan")
    assert rows["b"]["turns"] == 3 and rows["b"]["total_tokens"] == 3 * TURN_TOTAL  # 3 × 115 = 345


def test_trust_errors(tmp_path: Path) -> None:
    a, b, c = make_devices(tmp_path, "a", "b", "c")
    b.ok("export")
    c.ok("devices", "rename", "b")  # two devices named "b"
    c.ok("export")
    code, _, err = a.cli("devices", "trust", "b")
    assert code == 1 and "ambiguous" in err
    code, _, err = a.cli("devices", "trust", "nobody")
    assert code == 1 and "no device 'nobody'" in err
    code, _, err = a.cli("devices", "trust", a.id)
    assert code == 1 and "always trusted" in err
    a.ok("devices", "trust", b.id[:8])  # an id prefix
    assert {d["id"]: d["trusted"] for d in a.json("devices")}[b.id] is True
    code, _, err = a.cli("devices", "untrust", "nobody")
    assert code == 1 and "no trusted device" in err


def test_untrust_stops_the_merge_and_says_so(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    a.turns("sa", 1)
    b.turns("sb", 2)
    a.ok("export")
    b.ok("export")
    a.ok("devices", "trust", "b")
    assert a.by_device()["b"]["turns"] == 2
    a.ok("devices", "untrust", "b")
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0
    assert "device b (" in err and "not trusted" in err
    assert "b" not in {r.get("device_name") for r in __import__("json").loads(out)["rows"]}


def test_trust_store_files(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.ok("export")
    a.ok("devices", "trust", "b")
    with a.active():
        pinned = trust.trusted_devices()
        assert list(pinned) == [b.id]
        assert pinned[b.id].fingerprint == b.json("devices", "show")["fingerprint"]
        assert trust.trust_path().parent == identity.device_path().parent  # in the config dir
        accepted = trust.accepted_sequences()
    assert accepted == {}  # listing and trusting accept nothing; a merge does
    a.by_device()
    with a.active():
        assert trust.accepted_sequences()[b.id][1] > 0


def test_report_device_filter_and_csv_names(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    a.turns("sa", 4)
    b.turns("sb", 2)
    a.ok("export")
    b.ok("export")
    a.ok("devices", "trust", "b")
    only_b = a.json("report", "--by", "client", "--period", "all", "--device", "b")
    assert only_b["totals"]["turns"] == 2 and only_b["by"] == ["client"]
    assert "device_name" not in only_b["rows"][0]
    by_id = a.json("report", "--by", "device", "--period", "all", "--device", f"{a.id},b")
    assert by_id["totals"]["turns"] == 6  # 4 + 2
    assert [list(r)[:2] for r in by_id["rows"]] == [["device", "device_name"]] * 2
    csv_out = a.ok("report", "--by", "device", "--period", "all", "--format", "csv", "--device", "b")
    header, row = csv_out.strip().splitlines()
    assert header.startswith("device,device_name,turns,")
    assert row.startswith(f"{b.id},b,2,")
    code, _, err = a.cli("report", "--device", "nobody")
    assert code == 2 and "no device 'nobody'" in err


def test_shared_folder_from_flag_env_and_config(tmp_path: Path) -> None:
    """--shared beats TOKSCOPE_SHARED, which beats shared_folder in config.toml."""
    a, b = make_devices(tmp_path, "a", "b")
    other = tmp_path / "other-shared"
    other.mkdir()
    b.turns("sb", 2)
    b.ok("export", "--shared", str(other))
    assert not any(p.name == b.id for p in b.shared.iterdir())
    # the flag works before and after the devices sub-command
    a.ok("devices", "--shared", str(other), "trust", "b")
    a.ok("devices", "untrust", "b", "--shared", str(other))
    a.ok("devices", "trust", "b", "--shared", str(other))
    assert [d["name"] for d in a.json("devices", "--shared", str(other))] == ["a", "b"]
    # TOKSCOPE_SHARED: a folder without b's snapshot
    assert [(d["name"], d["status"]) for d in a.json("devices")] == [("a", "this device"), ("b", "missing")]
    assert a.by_device("--shared", str(other))["b"]["turns"] == 2
    assert "b" not in a.by_device()
    # config.toml names the folder; the environment variable still wins over it
    config = a.root / "config" / "tokscope" / "config.toml"
    config.write_text(f'shared_folder = "{other}"\n')
    assert "b" not in a.by_device()
    with a.active():
        import os

        del os.environ["TOKSCOPE_SHARED"]
        from tests.devices_helpers import main_quiet

        assert main_quiet(["report", "--by", "device", "--period", "all", "--format", "json"])["b"]["turns"] == 2


async def test_markup_in_a_device_name_is_shown_in_the_tui(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from tests.tui_helpers import NOW, settle
    from tokscope.config import Config
    from tokscope.tui.app import make_app

    a, b = make_devices(tmp_path, "a", "b")
    b.ok("devices", "rename", "[/]")
    b.turns("sb", 2)
    b.ok("export")
    a.ok("devices", "trust", b.id)
    with a.active():
        app = make_app(Config(shared_folder=a.shared), clock=lambda: NOW, tz="UTC", live=False)
        app.animation_level = "none"
        async with app.run_test(size=(160, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("5")  # the Devices tab
            await settle(app, pilot)
            table = app.main.query_one(DataTable)
            cells = [str(table.get_cell_at((r, 0))) for r in range(table.row_count)]
    assert "[/]" in cells, cells


def test_markup_in_the_shared_folder_path_is_shown_not_parsed(tmp_path: Path) -> None:
    (a,) = make_devices(tmp_path, "a")
    odd = tmp_path / "[bold]x"
    odd.mkdir()
    code, out, err = a.cli("devices", "--shared", str(odd))
    assert code == 0 and "[bold]x" in "".join(out.split()), out + err  # the title may wrap


def test_doctor_says_a_changed_identity_and_a_damaged_trust_store(tmp_path: Path) -> None:
    import json as json_mod

    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 1)
    b.ok("export")
    a.ok("export")
    a.ok("devices", "trust", "b")
    (a.root / "config" / "tokscope" / "device.key").unlink()
    (a.root / "config" / "tokscope" / "trusted.json").write_text("{broken")
    _code, out, _err = a.cli("doctor", "--format", "json")
    found = json_mod.loads(out)
    ident = found["identity"] if "identity" in found else found["sections"]["identity"]
    shared = found["shared"] if "shared" in found else found["sections"]["shared"]
    assert ident["status"] == "warning" and "device.key was lost" in ident["notice"], ident
    assert shared["status"] == "warning" and any("trusted.json is unreadable" in n for n in shared["notes"]), shared


def test_a_fresh_identity_has_no_notice(home: Path) -> None:
    assert load_identity().device.notice is None
    assert identity.load_device().notice is None


def test_trust_asks_on_a_terminal_and_refuses_without_one(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.ok("export")
    fp = b.json("devices", "show")["fingerprint"]
    code, out, err = a.cli("devices", "trust", "b", answer=None)  # a script: nobody to ask
    assert code == 1 and "not trusted" in err and f"--fingerprint {fp}" in err
    assert {d["id"]: d["trusted"] for d in a.json("devices")}[b.id] is False
    code, out, err = a.cli("devices", "trust", "b", answer="n")  # asked, and said no
    assert code == 1 and fp in out and "was not confirmed" in err
    assert {d["id"]: d["trusted"] for d in a.json("devices")}[b.id] is False
    code, out, _ = a.cli("devices", "trust", "b", answer="y")
    assert code == 0 and fp in out and "Trust this device? [y/N]" in out
    a.ok("devices", "untrust", "b")
    code, _, _ = a.cli("devices", "trust", "b", "--fingerprint", fp, answer=None)  # a script that knows the key
    assert code == 0

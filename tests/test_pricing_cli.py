"""``tokscope prices …`` and the priced report, end to end from a Claude Code log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tokscope.cli import main
from tokscope.pricing import load_table, user_overrides_path, user_table_path

NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def claude_turn(msg_id: str, model: str, **usage: int | str) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": NOW,
            "sessionId": "sess-1",
            "cwd": "/home/u/proj",
            "requestId": f"req-{msg_id}",
            "uuid": f"uuid-{msg_id}",
            "message": {"id": msg_id, "model": model, "role": "assistant", "usage": usage},
        }
    )


@pytest.fixture
def claude_log(home: Path) -> Path:
    """Two priced Claude turns and two of an unknown model."""
    d = home / ".claude" / "projects" / "-home-u-proj"
    d.mkdir(parents=True)
    lines = [
        # Ex 1 of pricing.md: $0.2436
        claude_turn(
            "m1",
            "claude-sonnet-4-5-20250929",
            input_tokens=1_200,
            cache_read_input_tokens=150_000,
            cache_creation_input_tokens=30_000,
            cache_creation={"ephemeral_5m_input_tokens": 10_000, "ephemeral_1h_input_tokens": 20_000},
            output_tokens=2_500,
        ),
        # Opus 4.8 fast mode: (10,000 x $5 + 1,000 x $25) x 2 = $0.15
        claude_turn("m2", "claude-opus-4-8", input_tokens=10_000, output_tokens=1_000, speed="fast"),
        claude_turn("m3", "totally-new-model-9", input_tokens=100, output_tokens=10),
        claude_turn("m4", "totally-new-model-9", input_tokens=100, output_tokens=10),
    ]
    path = d / "sess-1.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_json_has_cost_and_unpriced_turns(claude_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--period", "all", "--format", "json", "--by", "model"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    # $0.2436 + $0.15 = $0.3936; two turns of the unknown model stay unpriced
    assert data["totals"]["cost"] == pytest.approx(0.3936)
    assert data["totals"]["unpriced_turns"] == 2
    rows = {r["model"]: r for r in data["rows"]}
    assert rows["totally-new-model-9"]["cost"] is None
    assert rows["claude-opus-4-8"]["cost"] == pytest.approx(0.15)
    assert "totally-new-model-9" in err and "prices missing" in err


def test_report_table_total_reads_as_lower_bound(
    claude_log: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["report", "--period", "all"]) == 0
    out = capsys.readouterr().out
    assert "≥ $0.39 · 2 turns unpriced" in out


def test_report_prices_file_prices_the_unknown_model(
    claude_log: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = home / "extra.toml"
    extra.write_text('[[price]]\nmodel = "totally-new-*"\ninput = 1000\noutput = 1000\n')
    assert main(["report", "--period", "all", "--format", "json", "--prices", str(extra)]) == 0
    data = json.loads(capsys.readouterr().out)
    # two turns of (100 + 10) x $1000/M = $0.11 each: $0.3936 + $0.22 = $0.6136, nothing unpriced
    assert data["totals"]["cost"] == pytest.approx(0.6136)
    assert data["totals"]["unpriced_turns"] == 0


def test_user_prices_toml_applies_and_cli_file_wins(
    claude_log: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user_overrides_path().parent.mkdir(parents=True, exist_ok=True)
    user_overrides_path().write_text('[[price]]\nmodel = "totally-new-model-9"\ninput = 0\noutput = 0\n')
    assert main(["report", "--period", "all", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["cost"] == pytest.approx(0.3936) and data["totals"]["unpriced_turns"] == 0  # $0 is a price
    extra = home / "extra.toml"
    extra.write_text('[[price]]\nmodel = "totally-new-model-9"\ninput = 1000\noutput = 1000\n')
    assert main(["report", "--period", "all", "--format", "json", "--no-scan", "--prices", str(extra)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["cost"] == pytest.approx(0.6136)


def test_prices_missing_lists_turns_and_tokens(claude_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "missing", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["turns"], r["tokens"]) for r in rows] == [("totally-new-model-9", 2, 220)]
    assert main(["prices", "missing", "--no-scan"]) == 0
    out = capsys.readouterr().out
    assert "totally-new-model-9" in out and "claude-opus-4-8" not in out
    assert "[[price]]" in out  # the hint survives rich markup


def test_prices_missing_when_all_priced(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "missing", "--no-scan"]) == 0
    assert "Every model in the ledger has a price" in capsys.readouterr().out


def test_prices_show_explains_the_match(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "anthropic/claude-sonnet-4.5"]) == 0
    out = capsys.readouterr().out
    assert "normalised → claude-sonnet-4-5" in out
    assert "input $3, output $15, cache read $0.3, write 5m $3.75, write 1h $6" in out
    assert "prompt > 200,000" in out
    assert main(["prices", "show", "claude-sonnet-4-7"]) == 0
    assert "Unpriced" in capsys.readouterr().out
    assert main(["prices", "show", "gpt-5.5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["match"] == "exact" and data["per_million"][0]["base"] == pytest.approx([5, 30, 0.5, 5, 5])


def litellm_json(models: int = 60) -> str:
    """A LiteLLM price JSON with ``models`` chat models, lab-model-i at $(i+1)/M input."""
    rows = {
        f"lab-model-{i}": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 1e-06 * (i + 1),
            "output_cost_per_token": 2e-06,
        }
        for i in range(models)
    }
    return json.dumps({"sample_spec": {"mode": "chat"}, **rows})


def test_prices_update_from_file_writes_the_users_table(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = home / "litellm.json"
    src.write_text(litellm_json())
    assert main(["prices", "update", "--from", str(src)]) == 0
    assert user_table_path().exists()
    assert "models from" in capsys.readouterr().out
    table = load_table([])
    assert table.path == user_table_path()
    # lab-model-4 at $5/M: 200,000 x 5 = $1.00; legacy rows ride along with the update
    assert table.resolve("lab-model-4").entry.current.std.base[0] == pytest.approx(5e-06)
    assert table.resolve("claude-opus-4-1").entry is not None
    assert main(["prices", "info"]) == 0
    assert str(src) in capsys.readouterr().out


def test_prices_update_refuses_a_file_without_prices(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = home / "empty.json"
    src.write_text("{}")
    assert main(["prices", "update", "--from", str(src)]) == 1
    assert not user_table_path().exists()
    bad = home / "bad.json"
    bad.write_text("{not json")
    assert main(["prices", "update", "--from", str(bad)]) == 1


def test_broken_user_table_falls_back_to_the_bundle(home: Path) -> None:
    user_table_path().parent.mkdir(parents=True, exist_ok=True)
    user_table_path().write_text('{"_meta": {"built_at": "9999"}, "models": ')
    table = load_table([])
    assert table.path is not None and table.path != user_table_path()
    assert table.warnings and "bundled" in table.warnings[0]


def test_prices_update_from_a_url(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = litellm_json().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/prices.json"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(body if found else b"not here")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert main(["prices", "update", "--from", f"{base}/gone.json"]) == 1
        assert "404" in capsys.readouterr().err
        assert not user_table_path().exists()
        assert main(["prices", "update", "--from", f"{base}/prices.json"]) == 0
        assert f"models from {base}/prices.json" in capsys.readouterr().out
    finally:
        server.shutdown()
        server.server_close()
    assert load_table([]).resolve("lab-model-2").entry.current.std.base[0] == pytest.approx(3e-06)
    assert main(["prices", "update", "--from", f"{base}/prices.json"]) == 1  # the server is gone
    assert "cannot build the price table" in capsys.readouterr().err
    assert load_table([]).resolve("lab-model-2").entry is not None  # the table from before stays

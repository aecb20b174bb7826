"""Alerts (``tokscope.alerts``) against a real local HTTP server that fails, times out and then takes
the alert: it arrives exactly once across restarts, a failing delivery stays visible until it
succeeds, and only one device of several sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cli_helpers import cli
from tests.test_reader_claude_code import PROJECT, assistant, write
from tokscope import alerts, paths
from tokscope.ledger import Ledger
from tokscope.sync.merge import MERGED, UNTRUSTED


class Receiver:
    """A webhook receiver answering each POST by the next word of ``script`` (then ``ok``):
    ``500`` an error, ``slow`` a reply after the client gave up, ``ok`` 204."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, dict, str]] = []  # (answer, body, Idempotency-Key)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = receiver.script.pop(0) if receiver.script else "ok"
                receiver.requests.append((answer, body, self.headers.get("Idempotency-Key", "")))
                if answer == "slow":
                    time.sleep(alerts.TIMEOUT * 3)
                    answer = "ok"  # too late: the client has given up
                self.send_response(500 if answer == "500" else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def taken(self) -> list[str]:
        """Idempotency keys of the POSTs answered in time with a 2xx."""
        return [key for answer, _body, key in self.requests if answer == "ok"]


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    r = Receiver(getattr(request, "param", []))
    yield r
    r.server.shutdown()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "TIMEOUT", 0.3)
    monkeypatch.setattr(alerts, "RETRY", (0.05, 0.05, 0.05))


def setup(home: Path, url: str, tokens: int = 1000) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(home, f"{PROJECT}/s.jsonl", assistant("msg_1", "req_1", inp=2000, out=500, ts=now))
    config = paths.config_dir() / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[[budget]]\nname = "tok"\ntokens = {tokens}\nthresholds = [80, 100]\n\n'
        f'[alerts]\nwebhooks = ["{url}"]\nanomalies = false\n'
    )


def doc(*args: str) -> tuple[int, dict]:
    code, out, err = cli("alerts", "--format", "json", *args)
    assert "Traceback" not in err
    return code, json.loads(out)


@pytest.mark.parametrize("receiver", [["500", "slow", "500", "500"]], indirect=True)
def test_an_alert_arrives_once_across_failures_and_restarts(home: Path, receiver: Receiver) -> None:
    setup(home, receiver.url)
    code, first = doc()
    # the 80 % alert: 500, a timeout, 500 (three attempts this run), still failing and shown so;
    # the 100 % alert: 500, then taken
    assert code == 1
    by_threshold = {a["key"].rsplit(":", 1)[1]: a for a in first["alerts"]}
    assert sorted(by_threshold) == ["100", "80"]
    assert (by_threshold["80"]["state"], by_threshold["100"]["state"]) == ("failed", "sent")
    assert by_threshold["80"]["targets"][receiver.url]["error"] == "HTTP 500"
    assert by_threshold["80"]["targets"][receiver.url]["attempts"] == 3
    failing = {a["key"] for a in first["alerts"]}
    time.sleep(0.1)  # past the backoff
    code, second = doc("--no-scan")  # a restart: the failed one is retried and taken
    assert code == 0 and {a["state"] for a in second["alerts"]} == {"sent"}
    code, third = doc("--no-scan")  # and again: nothing is sent twice
    assert {a["state"] for a in third["alerts"]} == {"sent"}
    assert code == 0
    assert sorted(receiver.taken) == sorted(failing)  # each alert taken exactly once
    assert [answer for answer, _b, _k in receiver.requests] == ["500", "slow", "500", "500", "ok", "ok"]
    body = next(b for answer, b, _k in receiver.requests if answer == "ok")
    assert body["kind"] == "budget" and body["detail"]["name"] == "tok" and body["detail"]["over"] is True
    assert body["source"] == "tokscope" and body["key"] in failing


def test_no_send_records_and_shows_only(home: Path, receiver: Receiver) -> None:
    setup(home, receiver.url, tokens=10**9)  # under every threshold: no alert
    assert doc()[1]["alerts"] == []
    setup(home, receiver.url)
    code, shown = doc("--no-send", "--no-scan")
    assert code == 0 and {a["state"] for a in shown["alerts"]} == {"pending"}
    assert receiver.requests == []
    doc("--no-scan")
    assert len(receiver.taken) == 2


def test_one_sender_among_devices() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    fresh = (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    stale = (now - timedelta(days=3)).isoformat().replace("+00:00", "Z")

    def usage(me: str, *others: tuple[str, object, str | None]) -> SimpleNamespace:
        devices = [SimpleNamespace(id=i, status=s, last_export=e) for i, s, e in others]
        return SimpleNamespace(device=SimpleNamespace(id=me), devices=devices)

    assert alerts.sender(usage("bbb", ("aaa", MERGED, fresh)), now) == "aaa"  # the other device sends
    assert alerts.sender(usage("aaa", ("bbb", MERGED, fresh)), now) == "aaa"
    assert alerts.sender(usage("bbb", ("aaa", MERGED, stale)), now) == "bbb"  # a quiet sender is replaced
    assert alerts.sender(usage("bbb", ("aaa", UNTRUSTED, fresh)), now) == "bbb"  # untrusted never sends for us


def test_bad_settings_and_a_damaged_log_cost_only_themselves(home: Path, receiver: Receiver) -> None:
    settings, errors = alerts.settings_from({"webhooks": ["ftp://x", receiver.url, 3]})
    assert settings.webhooks == (receiver.url,) and len(errors) == 2
    assert alerts.settings_from("x")[1]
    setup(home, receiver.url)
    log = alerts.log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("{not json")
    code, shown = doc()
    assert code == 0 and len(receiver.taken) == 2 and all(a["state"] == "sent" for a in shown["alerts"])
    assert [f for f in Ledger().layout().findings if f.kind == "unknown"] == []  # the log and its lock are known

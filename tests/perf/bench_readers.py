"""Per-reader cold-scan throughput (MB/s), each compared with the Claude Code reader.

For every client with a generator below, writes about ``--mb`` MB of realistic
logs (1-2 KB lines of prose, tool results, usage records in the client's own
shape) under a temporary HOME, then times ``reader.read(source, 0, {})`` over
every discovered source (no ledger, no process pool: the reader alone), in
CPU seconds of this process (wall time swings with other load on a shared
machine). The best of ``--repeat`` runs is reported, with the ratio to Claude Code's MB/s
(target: each reader within 2x, i.e. ratio >= 0.5).

    python tests/perf/bench_readers.py --mb 20
    python tests/perf/bench_readers.py --mb 20 --clients claude-code,kimi

To add a client: write ``gen_<client>(rng, home, target_bytes) -> bytes
written`` and decorate it with ``@generator("<client>")``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FILLER = "The quick brown fox jumps over the lazy dog while the compiler reports nothing unusual. "


def text(rng: random.Random, size: int) -> str:
    """About ``size`` characters of prose with some JSON-hostile characters."""
    start = rng.randrange(len(FILLER))
    body = (FILLER * (size // len(FILLER) + 2))[start : start + size]
    return body.replace("nothing", 'nothing "quoted"\n\t')


def claude_session(rng: random.Random, path: Path, turns: int, day: int) -> int:
    """One Claude Code session (user line, two streaming copies of the reply, a tool result per turn)."""
    sid = f"{rng.getrandbits(64):016x}-sess"
    cwd = "/home/alice/src/app"
    lines = []
    for t in range(turns):
        ts = _ts(day, t)
        user = {"role": "user", "content": text(rng, rng.randint(900, 1700))}
        lines.append(json.dumps({"type": "user", "timestamp": ts, "sessionId": sid, "cwd": cwd, "message": user}))
        msg_id = f"msg_{rng.getrandbits(80):020x}"
        usage = {
            "input_tokens": rng.randint(1, 500),
            "cache_read_input_tokens": rng.randint(10_000, 150_000),
            "cache_creation_input_tokens": 3000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "output_tokens": 1,
            "service_tier": "standard",
        }
        for copy in range(2):
            if copy:
                usage = {**usage, "output_tokens": rng.randint(50, 3000)}
            message = {
                "id": msg_id,
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": text(rng, rng.randint(500, 1200))}],
                "usage": usage,
            }
            line = {"type": "assistant", "timestamp": ts, "sessionId": sid, "cwd": cwd, "requestId": f"req_{t}"}
            lines.append(json.dumps({**line, "uuid": f"a{t}{copy}", "isSidechain": False, "message": message}))
        result = [{"type": "tool_result", "tool_use_id": "toolu_1", "content": text(rng, 1800)}]
        line = {"type": "user", "timestamp": ts, "sessionId": sid, "cwd": cwd, "uuid": f"r{t}"}
        lines.append(json.dumps({**line, "message": {"role": "user", "content": result}}))
    return _write_lines(path, lines)


Generator = Callable[[random.Random, Path, int], int]
GENERATORS: dict[str, Generator] = {}


def generator(client: str) -> Callable[[Generator], Generator]:
    """Register a log generator for ``client``."""

    def register(fn: Generator) -> Generator:
        GENERATORS[client] = fn
        return fn

    return register


def _write_lines(path: Path, lines: list[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return len(data)


def _ts(day: int, t: int) -> str:
    return f"2026-11-{day:02d}T{10 + t // 3600 % 12:02d}:{t // 60 % 60:02d}:{t % 60:02d}.000Z"


@generator("claude-code")
def gen_claude(rng: random.Random, home: Path, target: int) -> int:
    """The reference: bench_scan's Claude Code sessions."""
    written, n = 0, 0
    while written < target:
        n += 1
        project = home / ".claude" / "projects" / f"-home-alice-src-proj{n % 7}"
        project.mkdir(parents=True, exist_ok=True)
        written += claude_session(rng, project / f"session-{n}.jsonl", rng.randint(300, 700), 1 + n % 22)
    return written


# --- Kimi (readers/kimi.py) -----------------------------------------------------


@generator("kimi")
def gen_kimi(rng: random.Random, home: Path, target: int) -> int:
    """Half Kimi Code ``usage.record`` wires, half old Kimi CLI ``StatusUpdate`` wires."""
    written, n = 0, 0
    while written < target:
        n += 1
        turns = rng.randint(300, 700)
        lines: list[str] = []
        if n % 2:
            path = home / ".kimi-code/sessions/wd_app_1/" / f"sess-{n}" / "agents/main/wire.jsonl"
            lines.append(json.dumps({"type": "metadata", "protocolVersion": 1}))
            for t in range(turns):
                ms = 1780319377000 + t * 1000
                lines.append(
                    json.dumps({"type": "turn.prompt", "prompt": text(rng, rng.randint(900, 1700)), "time": ms})
                )
                lines.append(json.dumps({"type": "llm.request", "model": "kimi-code/k2", "time": ms}))
                lines.append(
                    json.dumps({"type": "context.append_message", "role": "assistant", "content": text(rng, 1000)})
                )
                lines.append(
                    json.dumps({"type": "context.append_loop_event", "event": "tool", "data": text(rng, 1800)})
                )
                usage = {
                    "inputOther": rng.randint(1, 900),
                    "output": rng.randint(50, 3000),
                    "inputCacheRead": rng.randint(10_000, 150_000),
                    "inputCacheCreation": 0,
                }
                lines.append(
                    json.dumps(
                        {
                            "type": "usage.record",
                            "model": "kimi-code/k2",
                            "usage": usage,
                            "usageScope": "turn",
                            "time": ms,
                        }
                    )
                )
        else:
            path = home / ".kimi/sessions/0123456789abcdef" / f"sess-{n}" / "wire.jsonl"
            lines.append(json.dumps({"type": "metadata", "protocol_version": "1.3"}))
            for t in range(turns):
                ts = 1770983400.0 + t
                lines.append(
                    json.dumps(
                        {"timestamp": ts, "message": {"type": "TurnBegin", "payload": {"user_input": text(rng, 1300)}}}
                    )
                )
                part = {"type": "ContentPart", "payload": {"type": "text", "text": text(rng, 1000)}}
                lines.append(json.dumps({"timestamp": ts, "message": part}))
                result = {"type": "ToolResult", "payload": {"tool_call_id": "t1", "output": text(rng, 1800)}}
                lines.append(json.dumps({"timestamp": ts, "message": result}))
                usage = {
                    "input_other": rng.randint(1, 900),
                    "output": rng.randint(50, 3000),
                    "input_cache_read": rng.randint(10_000, 150_000),
                    "input_cache_creation": 0,
                }
                status = {"type": "StatusUpdate", "payload": {"token_usage": usage, "message_id": f"chatcmpl-{n}-{t}"}}
                lines.append(json.dumps({"timestamp": ts, "message": status}))
        written += _write_lines(path, lines)
    return written


# --- Pi / OMP / OpenClaw (readers/pi.py, readers/openclaw.py) -------------------


def _pi_session(rng: random.Random, path: Path, turns: int, day: int, sid: str) -> int:
    lines = [json.dumps({"type": "session", "version": 3, "id": sid, "timestamp": _ts(day, 0), "cwd": "/home/a/app"})]
    for t in range(turns):
        ts = _ts(day, t)
        user = {"role": "user", "content": [{"type": "text", "text": text(rng, rng.randint(900, 1700))}]}
        lines.append(
            json.dumps({"type": "message", "id": f"{rng.getrandbits(32):08x}", "timestamp": ts, "message": user})
        )
        usage = {
            "input": rng.randint(1, 500),
            "output": rng.randint(50, 3000),
            "cacheRead": rng.randint(10_000, 150_000),
            "cacheWrite": 3000,
            "totalTokens": 0,
            "cost": {"input": 0.0001, "output": 0.01, "cacheRead": 0.01, "cacheWrite": 0.01, "total": 0.0301},
        }
        assistant = {
            "role": "assistant",
            "content": [{"type": "text", "text": text(rng, rng.randint(500, 1200))}],
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "usage": usage,
            "stopReason": "toolUse",
            "timestamp": 1790000000000 + t,
        }
        lines.append(
            json.dumps({"type": "message", "id": f"{rng.getrandbits(32):08x}", "timestamp": ts, "message": assistant})
        )
        result = {"role": "toolResult", "toolCallId": "c1", "content": [{"type": "text", "text": text(rng, 1800)}]}
        lines.append(
            json.dumps({"type": "message", "id": f"{rng.getrandbits(32):08x}", "timestamp": ts, "message": result})
        )
    return _write_lines(path, lines)


@generator("pi")
def gen_pi(rng: random.Random, home: Path, target: int) -> int:
    """Pi session files (OMP uses the same reader and format)."""
    written, n = 0, 0
    while written < target:
        n += 1
        path = home / ".pi/agent/sessions/--home-a-app--" / f"2026-11-01T00-00-00-000Z_s{n}.jsonl"
        written += _pi_session(rng, path, rng.randint(300, 700), 1 + n % 22, f"s{n}")
    return written


@generator("openclaw")
def gen_openclaw(rng: random.Random, home: Path, target: int) -> int:
    """OpenClaw transcripts (Pi-style records)."""
    written, n = 0, 0
    while written < target:
        n += 1
        path = home / ".openclaw/agents/main/sessions" / f"oc{n}.jsonl"
        written += _pi_session(rng, path, rng.randint(300, 700), 1 + n % 22, f"oc{n}")
    return written


# --- Amp (readers/amp.py) ---------------------------------------------------------


@generator("amp")
def gen_amp(rng: random.Random, home: Path, target: int) -> int:
    """Amp thread JSON files: messages with usage plus a usage ledger."""
    written, n = 0, 0
    while written < target:
        n += 1
        messages: list[dict] = []
        events: list[dict] = []
        for t in range(rng.randint(300, 700)):
            uid, aid = 3 * t, 3 * t + 1
            messages.append({"role": "user", "messageId": uid, "content": [{"type": "text", "text": text(rng, 1300)}]})
            usage = {
                "model": "claude-sonnet-4-5",
                "inputTokens": rng.randint(1, 500),
                "outputTokens": rng.randint(50, 3000),
                "cacheCreationInputTokens": 3000,
                "cacheReadInputTokens": rng.randint(10_000, 150_000),
            }
            content = [{"type": "text", "text": text(rng, rng.randint(500, 1200))}]
            messages.append({"role": "assistant", "messageId": aid, "content": content, "usage": usage})
            tool = [{"type": "tool_result", "toolUseID": "t", "run": {"result": text(rng, 1800)}}]
            messages.append({"role": "user", "messageId": aid + 1, "content": tool})
            events.append(
                {
                    "id": f"e{t}",
                    "timestamp": _ts(1 + n % 22, t),
                    "model": "claude-sonnet-4-5",
                    "credits": 0.03,
                    "tokens": {"input": usage["inputTokens"], "output": usage["outputTokens"]},
                    "operationType": "inference",
                    "fromMessageId": uid,
                    "toMessageId": aid,
                }
            )
        value = {
            "v": 1,
            "id": f"T-{n}",
            "created": 1790000000000,
            "messages": messages,
            "usageLedger": {"events": events},
        }
        path = home / ".local/share/amp/threads" / f"T-{n:08d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(value).encode()
        path.write_bytes(data)
        written += len(data)
    return written


# --- GitHub Copilot CLI (OTEL JSONL) ----------------------------------------------

_COPILOT_RESOURCE = {
    "attributes": {
        "service.name": "github-copilot",
        "service.version": "0.0.354",
        "telemetry.sdk.language": "nodejs",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "2.1.0",
        "host.name": "alice-laptop",
    }
}


def _copilot_turn(rng: random.Random, t0: int, conv: str, capture: bool) -> list[dict]:
    """One user turn: chat spans + their inference logs + tool spans, then the invoke_agent span."""
    trace = f"{rng.getrandbits(128):032x}"
    agent_span = f"{rng.getrandbits(64):016x}"
    records: list[dict] = []
    total_in = total_out = total_cached = 0
    t = t0
    for _call in range(rng.randint(2, 5)):
        span = f"{rng.getrandbits(64):016x}"
        cached = rng.randint(5_000, 60_000)
        inp, out = cached + rng.randint(10, 3000), rng.randint(20, 2000)
        total_in, total_out, total_cached = total_in + inp, total_out + out, total_cached + cached
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "github",
            "gen_ai.request.model": "claude-sonnet-4.5",
            "gen_ai.response.model": "claude-sonnet-4.5",
            "gen_ai.response.id": f"msg_{rng.getrandbits(80):020x}",
            "gen_ai.conversation.id": conv,
            "gen_ai.response.finish_reasons": ["tool_calls"],
            "gen_ai.usage.input_tokens": inp,
            "gen_ai.usage.cache_read.input_tokens": cached,
            "gen_ai.usage.output_tokens": out,
            "server.address": "api.githubcopilot.com",
        }
        content = {"gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [text(rng, 900)]}])}
        records.append(
            {
                "resource": _COPILOT_RESOURCE,
                "instrumentationScope": {"name": "github-copilot", "version": "0.0.354"},
                "traceId": trace,
                "parentId": agent_span,
                "spanId": span,
                "name": "chat claude-sonnet-4.5",
                "kind": 2,
                "startTime": [t, 0],
                "endTime": [t + 3, rng.randrange(10**9)],
                "status": {"code": 0},
                "attributes": {**attrs, **content} if capture else attrs,
                "events": [],
            }
        )
        records.append(
            {
                "resource": _COPILOT_RESOURCE,
                "hrTime": [t + 3, 0],
                "spanContext": {"traceId": trace, "spanId": span, "traceFlags": 1},
                "attributes": {"event.name": "gen_ai.client.inference.operation.details", **attrs},
                "body": "GenAI inference: claude-sonnet-4.5",
            }
        )
        for _tool in range(rng.randint(1, 3)):
            tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "bash"}
            if capture:
                tool["gen_ai.tool.call.result"] = text(rng, 700)
            records.append(
                {
                    "resource": _COPILOT_RESOURCE,
                    "traceId": trace,
                    "parentId": agent_span,
                    "spanId": f"{rng.getrandbits(64):016x}",
                    "name": "execute_tool bash",
                    "startTime": [t + 4, 0],
                    "endTime": [t + 5, 0],
                    "attributes": tool,
                }
            )
        t += 6
    records.append(
        {
            "resource": _COPILOT_RESOURCE,
            "traceId": trace,
            "spanId": agent_span,
            "name": "invoke_agent copilot",
            "startTime": [t0, 0],
            "endTime": [t, 0],
            "attributes": {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.conversation.id": conv,
                "gen_ai.response.model": "claude-sonnet-4.5",
                "gen_ai.usage.input_tokens": total_in,
                "gen_ai.usage.cache_read.input_tokens": total_cached,
                "gen_ai.usage.output_tokens": total_out,
            },
        }
    )
    return records


@generator("copilot")
def gen_copilot(rng: random.Random, home: Path, target: int) -> int:
    """Copilot CLI OTEL exports; content capture on for a third of the sessions."""
    written, n = 0, 0
    while written < target:
        n += 1
        conv, t0 = f"{rng.getrandbits(128):032x}", 1_775_000_000 + n * 10_000
        turns = [_copilot_turn(rng, t0 + i * 60, conv, n % 3 == 0) for i in range(rng.randint(20, 60))]
        lines = [json.dumps(r) for turn in turns for r in turn]
        written += _write_lines(home / ".copilot" / "otel" / f"copilot-otel-{n}.jsonl", lines)
    return written


# --- Cline / Roo Code / Kilo Code ---------------------------------------------------


def _cline_ui_messages(rng: random.Random, requests: int, ts: int) -> list[dict]:
    """A task's ui_messages.json: api_req_started rows among text, reasoning and tool rows."""
    out: list[dict] = [{"ts": ts, "type": "say", "say": "text", "text": text(rng, 400)}]
    for _ in range(requests):
        ts += rng.randint(2000, 30000)
        cached = rng.randint(5000, 80000)
        req = {
            "request": "<task>\n" + text(rng, rng.randint(600, 2500)) + "\n</task>",
            "apiProtocol": "anthropic",
            "tokensIn": cached + rng.randint(1, 400),
            "tokensOut": rng.randint(20, 2000),
            "cacheWrites": rng.randint(0, 3000),
            "cacheReads": cached,
            "cost": round(rng.random() / 20, 6),
        }
        tool = json.dumps({"tool": "readFile", "path": "src/app.ts", "content": text(rng, 600)})
        out += [
            {"ts": ts, "type": "say", "say": "api_req_started", "text": json.dumps(req)},
            {"ts": ts + 1, "type": "say", "say": "reasoning", "text": text(rng, 300), "partial": False},
            {"ts": ts + 2, "type": "say", "say": "text", "text": text(rng, rng.randint(200, 900))},
            {"ts": ts + 3, "type": "ask", "ask": "tool", "text": tool},
        ]
    return out


def _vscode_tasks(rng: random.Random, home: Path, target: int, extension: str, every: int = 1) -> int:
    """VS Code task directories of ``extension``; only ``ui_messages.json`` counts as source bytes."""
    written, n = 0, 0
    while written < target:
        n += 1
        ts = 1_772_000_000_000 + n * 3_600_000
        task = home / ".config" / "Code" / "User" / "globalStorage" / extension / "tasks" / f"{ts}"
        task.mkdir(parents=True, exist_ok=True)
        env = "<environment_details>\n<slug>code</slug>\n<model>claude-sonnet-4-5</model>\n</environment_details>"
        history = [{"role": "user", "content": [{"type": "text", "text": env}]}]
        (task / "api_conversation_history.json").write_text(json.dumps(history))
        data = json.dumps(_cline_ui_messages(rng, rng.randint(30, 120), ts)).encode()
        (task / "ui_messages.json").write_bytes(data)
        written += len(data)
    return written


def _cline_sessions(rng: random.Random, home: Path, target: int) -> int:
    """``~/.cline/data/sessions/<id>/<id>.messages.json`` files."""
    written, n = 0, 0
    while written < target:
        n += 1
        ts = 1_785_000_000_000 + n * 3_600_000
        messages = []
        for i in range(rng.randint(30, 120)):
            cached = rng.randint(5000, 80000)
            metrics = {
                "inputTokens": cached + rng.randint(1, 400),
                "outputTokens": rng.randint(20, 2000),
                "cacheReadTokens": cached,
                "cacheWriteTokens": rng.randint(0, 3000),
                "cost": 0.01,
            }
            messages += [
                {"id": f"u{n}-{i}", "role": "user", "ts": ts + i * 1000, "content": text(rng, 800)},
                {
                    "id": f"msg_{rng.getrandbits(80):020x}",
                    "role": "assistant",
                    "ts": ts + i * 1000 + 500,
                    "content": [{"type": "text", "text": text(rng, 1200)}],
                    "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"},
                    "metrics": metrics,
                },
            ]
        path = home / ".cline" / "data" / "sessions" / f"s{n}" / f"s{n}.messages.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"version": 1, "sessionId": f"s{n}", "messages": messages}).encode()
        path.write_bytes(data)
        written += len(data)
    return written


@generator("cline")
def gen_cline(rng: random.Random, home: Path, target: int) -> int:
    """Half VS Code task files, half the ``~/.cline`` session store."""
    return _vscode_tasks(rng, home, target // 2, "saoudrizwan.claude-dev") + _cline_sessions(rng, home, target // 2)


@generator("roo-code")
def gen_roo_code(rng: random.Random, home: Path, target: int) -> int:
    """Roo Code task files (Kilo Code's are the same format)."""
    return _vscode_tasks(rng, home, target, "rooveterinaryinc.roo-cline")


# --- runner -----------------------------------------------------------------------

_CLEAR = (
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "CLAUDE_CONFIG_DIR",
    "KIMI_CODE_HOME",
    "KIMI_SHARE_DIR",
    "COPILOT_HOME",
    "COPILOT_OTEL_FILE_EXPORTER_PATH",
    "CLINE_DIR",
    "CLINE_DATA_DIR",
)


def bench(client: str, megabytes: float, repeat: int) -> dict:
    """Generate ``client`` logs in a fresh HOME and time a cold read of them."""
    from tokscope.readers import get_reader

    with tempfile.TemporaryDirectory(prefix=f"bench-{client}-") as tmp:
        home = Path(tmp)
        old = {k: os.environ.get(k) for k in ("HOME", *_CLEAR)}
        os.environ["HOME"] = str(home)
        for name in _CLEAR:
            os.environ.pop(name, None)
        try:
            written = GENERATORS[client](random.Random(7), home, int(megabytes * 1_000_000))
            reader = get_reader(client)
            best = float("inf")
            rows = 0
            for _ in range(repeat):
                start = time.process_time()  # CPU time: robust to other processes on a shared machine
                sources = reader.discover([])
                rows = sum(len(reader.read(s, 0, {}).rows) for s in sources)
                best = min(best, time.process_time() - start)
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return {"client": client, "mb": written / 1e6, "seconds": best, "mb_s": written / 1e6 / best, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20, help="MB of logs per client (default 20)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per client; the best counts (default 2)")
    parser.add_argument("--clients", default="", help="comma list (default: all with a generator)")
    args = parser.parse_args()
    clients = [c for c in args.clients.split(",") if c] or list(GENERATORS)
    if "claude-code" not in clients:
        clients.insert(0, "claude-code")
    results = [bench(c, args.mb, args.repeat) for c in clients]
    reference = next(r for r in results if r["client"] == "claude-code")["mb_s"]
    print(f"{'client':<14}{'MB':>8}{'s':>8}{'MB/s':>9}{'rows':>9}{'vs claude':>11}")
    for r in results:
        ratio = r["mb_s"] / reference
        flag = "" if ratio >= 0.5 else "  < 0.5x"
        print(
            f"{r['client']:<14}{r['mb']:>8.1f}{r['seconds']:>8.2f}{r['mb_s']:>9.1f}{r['rows']:>9}{ratio:>10.2f}x{flag}"
        )


if __name__ == "__main__":
    main()

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


# --- Codex (readers/codex.py) ---------------------------------------------------


@generator("codex")
def gen_codex(rng: random.Random, home: Path, target: int) -> int:
    """Codex rollouts: session_meta, then per turn a turn_context, transcript items and a token_count."""
    written, n = 0, 0
    while written < target:
        n += 1
        day, sid = 1 + n % 22, f"0199{rng.getrandbits(96):024x}"
        lines = [json.dumps({"timestamp": _ts(day, 0), "type": "session_meta", "payload": {"id": sid, "cwd": "/w"}})]
        total = [0, 0, 0, 0]
        for t in range(rng.randint(300, 700)):
            ts = _ts(day, t)
            lines.append(json.dumps({"timestamp": ts, "type": "turn_context", "payload": {"model": "gpt-5.3-codex"}}))
            for kind in ("message", "function_call_output"):
                item = {"type": kind, "content": [{"type": "output_text", "text": text(rng, rng.randint(600, 1500))}]}
                lines.append(json.dumps({"timestamp": ts, "type": "response_item", "payload": item}))
            last = [rng.randint(5_000, 90_000), 0, rng.randint(50, 3000), 0]
            last[1], last[3] = last[0] // 2, last[2] // 3
            total = [a + b for a, b in zip(total, last, strict=True)]
            names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
            info = {
                "total_token_usage": dict(zip(names, total, strict=True)),
                "last_token_usage": dict(zip(names, last, strict=True)),
            }
            limits = {  # every real token_count carries the account's windows; they move every few turns
                "limit_id": "codex",
                "primary": {"used_percent": float(t // 10), "window_minutes": 300, "resets_at": 1790000000},
                "secondary": {"used_percent": 40.0, "window_minutes": 10080, "resets_at": 1790500000},
                "plan_type": "plus",
            }
            payload = {"type": "token_count", "info": info, "rate_limits": limits}
            lines.append(json.dumps({"timestamp": ts, "type": "event_msg", "payload": payload}))
        folder = home / ".codex" / "sessions" / "2026" / "11" / f"{day:02d}"
        written += _write_lines(folder / f"rollout-{sid}.jsonl", lines)
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


# --- Goose / Droid / Hermes / Crush / Zed (session running totals) ------------------
# Each writes what the client really keeps: one totals record per session beside the
# session's messages (which these readers do not need, but a cold scan has to skip).

_VOCAB: list[str] = []


def _prose(rng: random.Random, size: int) -> str:
    """About ``size`` characters of word salad that compresses like real text (zstd ~3x)."""
    if not _VOCAB:
        vocab_rng = random.Random(3)
        letters = "etaoinshrdlucmfwypvbgkjqxz"
        _VOCAB.extend("".join(vocab_rng.choices(letters, k=vocab_rng.randint(2, 9))) for _ in range(4000))
    out, n = [], 0
    while n < size:
        word = rng.choice(_VOCAB)
        out.append(word)
        n += len(word) + 1
    return " ".join(out)


def _sqlite(path: Path, schema: str, batches: list[tuple[str, list[tuple]]]) -> int:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    for sql, rows in batches:
        conn.executemany(sql, rows)
    conn.commit()
    conn.close()
    return path.stat().st_size


def _session_batches(rng: random.Random, target: int, per_session: Callable[[int, int], tuple[tuple, list[tuple]]]):
    """Sessions of 300-700 messages (1-2 KB each) until ``target`` bytes of content."""
    sessions, messages, size, n = [], [], 0, 0
    while size < target:
        n += 1
        turns = rng.randint(300, 700)
        session, rows = per_session(n, turns)
        sessions.append(session)
        messages.extend(rows)
        size += sum(len(str(r)) for r in rows)
    return sessions, messages


@generator("goose")
def gen_goose(rng: random.Random, home: Path, target: int) -> int:
    """Goose ``sessions.db``: accumulated totals per session plus its messages."""
    schema = """
    CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
        session_type TEXT NOT NULL DEFAULT 'user', working_dir TEXT NOT NULL,
        created_at TIMESTAMP, updated_at TIMESTAMP,
        extension_data TEXT DEFAULT '{}', total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER,
        accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
        accumulated_cost REAL, provider_name TEXT, model_config_json TEXT);
    CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT, session_id TEXT NOT NULL,
        role TEXT NOT NULL, content_json TEXT NOT NULL, created_timestamp INTEGER NOT NULL, tokens INTEGER,
        metadata_json TEXT);
    CREATE INDEX idx_messages_session ON messages(session_id);
    """

    def per_session(n: int, turns: int) -> tuple[tuple, list[tuple]]:
        sid = f"20261120_{n}"
        acc_in, acc_out = rng.randint(10**5, 10**7), rng.randint(10**4, 10**6)
        session = (
            sid,
            "/home/alice/src/app",
            "2026-11-20 10:00:00",
            "2026-11-20 12:00:00",
            acc_in + acc_out,
            acc_in,
            acc_out,
            "anthropic",
            json.dumps({"model_name": "claude-sonnet-4-5", "context_limit": 200000}),
        )
        content = [
            (
                f"m{n}-{t}",
                sid,
                "user" if t % 2 else "assistant",
                json.dumps([{"type": "text", "text": _prose(rng, rng.randint(900, 1700))}]),
                1790000000 + t,
                None,
                "{}",
            )
            for t in range(turns)
        ]
        return session, content

    sessions, messages = _session_batches(rng, target, per_session)
    return _sqlite(
        home / ".local/share/goose/sessions/sessions.db",
        schema,
        [
            (
                "INSERT INTO sessions (id, working_dir, created_at, updated_at, accumulated_total_tokens,"
                " accumulated_input_tokens, accumulated_output_tokens, provider_name, model_config_json)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                sessions,
            ),
            (
                "INSERT INTO messages (message_id, session_id, role, content_json, created_timestamp, tokens,"
                " metadata_json) VALUES (?,?,?,?,?,?,?)",
                messages,
            ),
        ],
    )


@generator("hermes")
def gen_hermes(rng: random.Random, home: Path, target: int) -> int:
    """Hermes ``state.db``: session totals (half still open) plus messages."""
    schema = """
    CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT NOT NULL, model TEXT, parent_session_id TEXT,
        started_at REAL NOT NULL, ended_at REAL, message_count INTEGER DEFAULT 0, input_tokens INTEGER DEFAULT 0,
        output_tokens INTEGER DEFAULT 0, cache_read_tokens INTEGER DEFAULT 0, cache_write_tokens INTEGER DEFAULT 0,
        reasoning_tokens INTEGER DEFAULT 0, cwd TEXT, billing_provider TEXT, estimated_cost_usd REAL,
        actual_cost_usd REAL, title TEXT);
    CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, role TEXT NOT NULL,
        content TEXT, tool_calls TEXT, timestamp REAL NOT NULL, token_count INTEGER);
    CREATE INDEX idx_messages_session ON messages(session_id, timestamp);
    """

    def per_session(n: int, turns: int) -> tuple[tuple, list[tuple]]:
        sid = f"2026112{n % 10}_{n:06d}"
        start = 1790000000.0 + n * 3600
        session = (
            sid,
            "cli",
            "claude-sonnet-4-6",
            start,
            None if n % 2 else start + 3000,
            turns,
            rng.randint(10**4, 10**6),
            rng.randint(10**3, 10**5),
            rng.randint(10**5, 10**7),
            3000,
            100,
            "/home/alice/src/app",
            "anthropic",
            1.25,
            0.0,
        )
        content = [
            (sid, "user" if t % 2 else "assistant", _prose(rng, rng.randint(900, 1700)), None, start + t, None)
            for t in range(turns)
        ]
        return session, content

    sessions, messages = _session_batches(rng, target, per_session)
    return _sqlite(
        home / ".hermes/state.db",
        schema,
        [
            (
                "INSERT INTO sessions (id, source, model, started_at, ended_at, message_count, input_tokens,"
                " output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cwd, billing_provider,"
                " estimated_cost_usd, actual_cost_usd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                sessions,
            ),
            (
                "INSERT INTO messages (session_id, role, content, tool_calls, timestamp, token_count)"
                " VALUES (?,?,?,?,?,?)",
                messages,
            ),
        ],
    )


@generator("crush")
def gen_crush(rng: random.Random, home: Path, target: int) -> int:
    """Crush: four projects' ``crush.db`` (root sessions, task sub-sessions, messages) and the index."""
    schema = """
    CREATE TABLE sessions (id TEXT PRIMARY KEY, parent_session_id TEXT, title TEXT NOT NULL DEFAULT '',
        message_count INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0, summary_message_id TEXT, cost REAL NOT NULL DEFAULT 0.0,
        updated_at INTEGER NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE messages (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
        parts TEXT NOT NULL DEFAULT '[]', model TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        finished_at INTEGER, provider TEXT);
    CREATE INDEX idx_messages_session_id ON messages (session_id);
    """
    written, projects = 0, []
    for p in range(4):
        project = home / "src" / f"proj{p}"
        projects.append(
            {"path": str(project), "data_dir": str(project / ".crush"), "last_accessed": "2026-11-20T10:00:00Z"}
        )

        def per_session(n: int, turns: int, p: int = p) -> tuple[tuple, list[tuple]]:
            sid = f"p{p}-s{n}"
            session = (
                sid,
                None if n % 3 else f"p{p}-s{n - 1}",
                turns,
                120000,
                3000,
                rng.random() * 3,
                1790003600 + n,
                1790000000 + n,
            )
            content = [
                (
                    f"{sid}-m{t}",
                    sid,
                    "user" if t % 2 else "assistant",
                    json.dumps([{"type": "text", "data": {"text": _prose(rng, rng.randint(900, 1700))}}]),
                    "claude-sonnet-4-5",
                    1790000000 + t,
                    1790000000 + t,
                    "anthropic",
                )
                for t in range(turns)
            ]
            return session, content

        sessions, messages = _session_batches(rng, target // 4, per_session)
        written += _sqlite(
            project / ".crush/crush.db",
            schema,
            [
                (
                    "INSERT INTO sessions (id, parent_session_id, message_count, prompt_tokens, completion_tokens,"
                    " cost, updated_at, created_at) VALUES (?,?,?,?,?,?,?,?)",
                    sessions,
                ),
                (
                    "INSERT INTO messages (id, session_id, role, parts, model, created_at, updated_at, provider)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    messages,
                ),
            ],
        )
    index = home / ".local/share/crush/projects.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps({"projects": projects}))
    return written


@generator("zed")
def gen_zed(rng: random.Random, home: Path, target: int) -> int:
    """Zed ``threads.db``: zstd thread JSON blobs (messages + token usage), a quarter not zed.dev."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=3, write_content_size=False)  # as Zed's streaming encoder
    rows, size, n = [], 0, 0
    while size < target:
        n += 1
        turns = rng.randint(300, 700)
        requests, messages = {}, []
        for t in range(turns // 2):
            messages.append({"User": {"id": f"u{t}", "content": [{"Text": _prose(rng, rng.randint(900, 1700))}]}})
            messages.append({"Agent": {"content": [{"Text": _prose(rng, rng.randint(900, 1700))}], "tool_results": {}}})
            requests[f"u{t}"] = {
                "input_tokens": rng.randint(1, 900),
                "output_tokens": rng.randint(50, 3000),
                "cache_creation_input_tokens": 3000,
                "cache_read_input_tokens": 50_000,
            }
        cumulative = {k: sum(r[k] for r in requests.values()) for k in next(iter(requests.values()))}
        provider = "anthropic" if n % 4 == 0 else "zed.dev"
        body = {  # DbThread field order (crates/agent/src/db.rs)
            "title": f"thread {n}",
            "messages": messages,
            "updated_at": "2026-11-20T12:00:00Z",
            "cumulative_token_usage": cumulative,
            "request_token_usage": requests,
            "model": {"provider": provider, "model": "claude-sonnet-4-5"},
            "imported": False,
            "version": "0.3.0",
        }
        blob = compressor.compress(json.dumps(body, separators=(",", ":")).encode())  # serde_json: compact
        size += len(blob)
        rows.append(
            (
                f"thread-{n}",
                f"thread {n}",
                "2026-11-20T12:00:00Z",
                "zstd",
                blob,
                "/home/alice/src/app",
                "0",
                "2026-11-20T10:00:00Z",
            )
        )
    schema = """
    CREATE TABLE threads (id TEXT PRIMARY KEY, summary TEXT NOT NULL, updated_at TEXT NOT NULL, data_type TEXT NOT NULL,
        data BLOB NOT NULL, parent_id TEXT, folder_paths TEXT, folder_paths_order TEXT, created_at TEXT);
    """
    insert = (
        "INSERT INTO threads (id, summary, updated_at, data_type, data, folder_paths, folder_paths_order,"
        " created_at) VALUES (?,?,?,?,?,?,?,?)"
    )
    return _sqlite(home / ".local/share/zed/threads/threads.db", schema, [(insert, rows)])


@generator("droid")
def gen_droid(rng: random.Random, home: Path, target: int) -> int:
    """Factory Droid: per session a ``.settings.json`` (totals) beside its ``.jsonl`` transcript."""
    written, n = 0, 0
    while written < target:
        n += 1
        folder = home / ".factory/sessions" / f"-home-alice-src-proj{n % 5}"
        sid = f"{rng.getrandbits(64):016x}-{n}"
        lines = [json.dumps({"type": "session_start", "id": sid, "title": "t", "cwd": f"/home/alice/src/proj{n % 5}"})]
        for t in range(rng.randint(300, 700)):
            role = "user" if t % 2 else "assistant"
            lines.append(
                json.dumps(
                    {
                        "type": "message",
                        "id": f"m{t}",
                        "timestamp": _ts(1 + n % 22, t),
                        "message": {"role": role, "content": [{"type": "text", "text": text(rng, 1300)}]},
                    }
                )
            )
        written += _write_lines(folder / f"{sid}.jsonl", lines)
        settings = {
            "model": "custom:Claude-Sonnet-4.5-[Anthropic]-0",
            "reasoningEffort": "none",
            "autonomyLevel": "auto-low",
            "providerLock": "anthropic",
            "providerLockTimestamp": "2026-11-20T10:00:00.000Z",
            "tokenUsage": {
                "inputTokens": rng.randint(10**4, 10**6),
                "outputTokens": rng.randint(10**3, 10**5),
                "cacheCreationTokens": 3000,
                "cacheReadTokens": rng.randint(10**5, 10**7),
                "thinkingTokens": 0,
            },
        }
        path = folder / f"{sid}.settings.json"
        data = json.dumps(settings, indent=2).encode()
        path.write_bytes(data)
        written += len(data)
    return written


# --- OpenCode / Kilo, Gemini CLI, Qwen Code (readers/opencode.py, gemini_cli.py, qwen_code.py) -----

_OC_SCHEMA = """
CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL, time_created INTEGER, time_updated INTEGER);
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parent_id TEXT, slug TEXT NOT NULL,
    directory TEXT NOT NULL, title TEXT NOT NULL, version TEXT NOT NULL, time_created INTEGER, time_updated INTEGER);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER NOT NULL,
    time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_idx ON message (session_id);
CREATE INDEX part_message_idx ON part (message_id);
"""


def _oc_turn(rng: random.Random, sid: str, t: int, ms: int) -> tuple[list[tuple], list[tuple]]:
    """One OpenCode turn: user + assistant message metadata, text/tool parts with the content."""
    uid, aid = f"msg_{ms:012x}{t:04d}u{rng.getrandbits(40):010x}", f"msg_{ms:012x}{t:04d}a{rng.getrandbits(40):010x}"
    user = {
        "role": "user",
        "time": {"created": ms},
        "agent": "build",
        "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"},
    }
    reasoning = rng.randint(0, 400)
    assistant = {
        "role": "assistant",
        "parentID": uid,
        "mode": "build",
        "agent": "build",
        "modelID": "claude-sonnet-4-5",
        "providerID": "anthropic",
        "path": {"cwd": "/home/alice/src/app", "root": "/home/alice/src/app"},
        "time": {"created": ms + 100, "completed": ms + 9000},
        "cost": 0.0213,
        "finish": "tool-calls",
        "tokens": {
            "input": rng.randint(1, 500),
            "output": rng.randint(50, 3000),
            "reasoning": reasoning,
            "cache": {"read": rng.randint(10_000, 150_000), "write": 1830},
        },
    }
    messages = [(uid, sid, ms, ms, json.dumps(user)), (aid, sid, ms + 100, ms + 9000, json.dumps(assistant))]
    parts = [
        (f"prt_{uid[4:]}0", uid, sid, ms, ms, json.dumps({"type": "text", "text": text(rng, rng.randint(900, 1700))})),
        (f"prt_{aid[4:]}0", aid, sid, ms, ms, json.dumps({"type": "text", "text": text(rng, rng.randint(500, 1200))})),
        (
            f"prt_{aid[4:]}1",
            aid,
            sid,
            ms,
            ms,
            json.dumps(
                {
                    "type": "tool",
                    "tool": "read",
                    "callID": "c1",
                    "state": {"status": "completed", "input": {"filePath": "/x"}, "output": text(rng, 1800)},
                }
            ),
        ),
    ]
    return messages, parts


def _opencode_tree(rng: random.Random, home: Path, target: int, name: str) -> int:
    """``<name>.db`` (WAL, closed cleanly) with ~85% of the bytes, a legacy JSON tree with the rest (>= 10%)."""
    import sqlite3

    data_dir = home / ".local/share" / name
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / f"{name}.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(_OC_SCHEMA)
    size, n = 0, 0
    while size < target * 0.8:
        n += 1
        sid = f"ses_{rng.getrandbits(80):020x}"
        parent = None if n % 4 else f"ses_parent{n - 1}"
        conn.execute(
            "INSERT INTO session VALUES (?,?,?,?,?,?,?,?,?)",
            (sid, "p1", parent, f"s{n}", "/home/alice/src/app", "t", "1.2.3", 1790000000000, 1790000000000),
        )
        messages, parts = [], []
        for t in range(rng.randint(150, 350)):
            m, p = _oc_turn(rng, sid, t, 1790000000000 + n * 10**7 + t * 10_000)
            messages += m
            parts += p
        conn.executemany("INSERT INTO message VALUES (?,?,?,?,?)", messages)
        conn.executemany("INSERT INTO part VALUES (?,?,?,?,?,?)", parts)
        size += sum(len(r[4]) for r in messages) + sum(len(r[5]) for r in parts)
    conn.commit()
    conn.close()  # the last connection checkpoints and removes the -wal
    written = db.stat().st_size
    storage, n, legacy_target = data_dir / "storage", 0, max(target - written, target // 10)
    while written < db.stat().st_size + legacy_target:
        n += 1
        sid = f"ses_legacy{n:06d}"
        for t in range(rng.randint(150, 350)):
            messages, parts = _oc_turn(rng, sid, t, 1780000000000 + n * 10**7 + t * 10_000)
            for mid, _, _, _, data in messages:
                path = storage / "message" / sid / f"{mid}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                body = json.dumps({"id": mid, "sessionID": sid, **json.loads(data)}, indent=2).encode()
                path.write_bytes(body)
                written += len(body)
            for pid, mid, _, _, _, data in parts:
                path = storage / "part" / mid / f"{pid}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data)
                written += len(data)
    return written


@generator("opencode")
def gen_opencode(rng: random.Random, home: Path, target: int) -> int:
    """OpenCode: ``opencode.db`` (message metadata + parts with the content) and a legacy JSON tree."""
    return _opencode_tree(rng, home, target, "opencode")


@generator("kilo")
def gen_kilo(rng: random.Random, home: Path, target: int) -> int:
    """Kilo CLI: the same layout as OpenCode under ``kilo/``."""
    return _opencode_tree(rng, home, target, "kilo")


def _gemini_turn(rng: random.Random, t: int, day: int) -> list[dict]:
    """A user message, the reply pushed before and after its tokens, and a tool-call reply."""
    ts = _ts(day, t)
    user = {
        "id": f"u{t}-{rng.getrandbits(32):08x}",
        "timestamp": ts,
        "type": "user",
        "content": [{"text": text(rng, rng.randint(900, 1700))}],
    }
    thoughts = [{"subject": "Planning", "description": text(rng, 300), "timestamp": ts}]
    reply = {
        "id": f"g{t}-{rng.getrandbits(32):08x}",
        "timestamp": ts,
        "type": "gemini",
        "content": [{"text": text(rng, rng.randint(500, 1200))}],
        "thoughts": thoughts,
        "model": "gemini-2.5-pro",
    }
    prompt, cached = rng.randint(20_000, 150_000), rng.randint(0, 15_000)
    out, think = rng.randint(50, 3000), rng.randint(0, 900)
    tokens = {
        "input": prompt,
        "output": out,
        "cached": cached,
        "thoughts": think,
        "tool": 0,
        "total": prompt + out + think,
    }
    tool = {
        "id": "call_1",
        "name": "read_file",
        "args": {"path": "/x"},
        "status": "success",
        "timestamp": ts,
        "result": [
            {"functionResponse": {"id": "call_1", "name": "read_file", "response": {"output": text(rng, 1800)}}}
        ],
    }
    return [user, reply, {**reply, "tokens": tokens}, {**reply, "tokens": tokens, "toolCalls": [tool]}]


@generator("gemini-cli")
def gen_gemini(rng: random.Random, home: Path, target: int) -> int:
    """Gemini CLI: half JSONL recordings (each update appended), half whole-session ``.json`` files."""
    written, n = 0, 0
    chats = home / ".gemini/tmp/app/chats"
    while written < target:
        n += 1
        day, turns = 1 + n % 22, rng.randint(150, 350)
        header = {"sessionId": f"{rng.getrandbits(64):016x}-{n}", "projectHash": "ab" * 32, "startTime": _ts(day, 0)}
        records = [r for t in range(turns) for r in _gemini_turn(rng, t, day)]
        if n % 2:
            written += _write_lines(
                chats / f"session-2026-11-{day:02d}T10-00-{n:08d}.jsonl",
                [json.dumps(header)] + [json.dumps(r) for r in records],
            )
        else:
            latest = {r["id"]: r for r in records}  # the .json file holds each message once, updated
            path = chats / f"session-2026-11-{day:02d}T10-00-{n:08d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps(
                {**header, "lastUpdated": _ts(day, turns), "messages": list(latest.values())}, indent=2
            ).encode()
            path.write_bytes(data)
            written += len(data)
    return written


@generator("qwen-code")
def gen_qwen(rng: random.Random, home: Path, target: int) -> int:
    """Qwen Code chat recordings: user, assistant (with usageMetadata) and tool_result records."""
    written, n = 0, 0
    while written < target:
        n += 1
        sid, day = f"{rng.getrandbits(64):016x}-{n}", 1 + n % 22
        base = {"sessionId": sid, "cwd": "/home/bob/src/api", "version": "0.9.0", "gitBranch": "main"}
        lines, parent = [], None
        for t in range(rng.randint(300, 700)):
            ts = _ts(day, t)
            uid, aid, rid = (f"{rng.getrandbits(128):032x}" for _ in range(3))
            prompt, cached, out = rng.randint(20_000, 150_000), rng.randint(0, 15_000), rng.randint(50, 3000)
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out,
                "thoughtsTokenCount": out // 4,
                "cachedContentTokenCount": cached,
                "totalTokenCount": prompt + out,
            }
            user = {"role": "user", "parts": [{"text": text(rng, rng.randint(900, 1700))}]}
            model = {"role": "model", "parts": [{"text": text(rng, rng.randint(500, 1200))}]}
            result = {
                "role": "user",
                "parts": [{"functionResponse": {"name": "read_file", "response": {"output": text(rng, 1800)}}}],
            }
            lines.append(
                json.dumps(
                    {"uuid": uid, "parentUuid": parent, **base, "timestamp": ts, "type": "user", "message": user}
                )
            )
            lines.append(
                json.dumps(
                    {
                        "uuid": aid,
                        "parentUuid": uid,
                        **base,
                        "timestamp": ts,
                        "type": "assistant",
                        "model": "qwen3-coder-plus",
                        "message": model,
                        "usageMetadata": usage,
                    }
                )
            )
            lines.append(
                json.dumps(
                    {"uuid": rid, "parentUuid": aid, **base, "timestamp": ts, "type": "tool_result", "message": result}
                )
            )
            parent = rid
        written += _write_lines(home / ".qwen/projects/-home-bob-src-api/chats" / f"{sid}.jsonl", lines)
    return written


# --- runner -----------------------------------------------------------------------

# --- issue #18 readers: Cowork, Grok, the Pi family, dsh, Reasonix, Codebuff, Harnessbridge -----------------


@generator("cowork")
def gen_cowork(rng: random.Random, home: Path, target: int) -> int:
    """Claude Code sessions under the desktop app's local-agent-mode-sessions (Linux layout)."""
    written, n = 0, 0
    while written < target:
        n += 1
        base = home / ".config/Claude/local-agent-mode-sessions/org/acct" / f"local_{n}/.claude/projects/-sessions-x"
        base.mkdir(parents=True, exist_ok=True)
        written += claude_session(rng, base / f"cli-{n}.jsonl", rng.randint(300, 700), 1 + n % 22)
    return written


@generator("grok")
def gen_grok(rng: random.Random, home: Path, target: int) -> int:
    """Grok's unified log: model events, tool chatter and one inference_done row per model call."""
    lines: list[str] = []
    size, t = 0, 0
    while size < target:
        t += 1
        pid, sid = 100 + t // 500, f"sess-{t // 200}"
        if t % 200 == 1:
            row = {
                "ts": _ts(1 + t % 22, t),
                "pid": pid,
                "sid": sid,
                "msg": "model changed",
                "ctx": {"model": "grok-4.6"},
            }
            lines.append(json.dumps(row, separators=(",", ":")))
        chatter = {
            "ts": _ts(1 + t % 22, t),
            "pid": pid,
            "sid": sid,
            "msg": "tool.exec",
            "ctx": {"out": text(rng, 1500)},
        }
        lines.append(json.dumps(chatter, separators=(",", ":")))
        ctx = {
            "loop_index": t % 30,
            "prompt_tokens": rng.randint(20_000, 150_000),
            "cached_prompt_tokens": rng.randint(0, 19_000),
            "completion_tokens": rng.randint(50, 3000),
            "reasoning_tokens": rng.randint(0, 500),
        }
        call = {"ts": _ts(1 + t % 22, t), "pid": pid, "sid": sid, "msg": "shell.turn.inference_done", "ctx": ctx}
        lines.append(json.dumps(call, separators=(",", ":")))
        size += len(lines[-1]) + len(lines[-2]) + 2
    return _write_lines(home / ".grok/logs/unified.jsonl", lines)


@generator("gjc")
def gen_gjc(rng: random.Random, home: Path, target: int) -> int:
    """Gajae-Code sessions (Pi format, the same reader class)."""
    written, n = 0, 0
    while written < target:
        n += 1
        path = home / ".gjc/agent/sessions/--home-a-app--" / f"2026-11-01T00-00-00-000Z_g{n}.jsonl"
        written += _pi_session(rng, path, rng.randint(300, 700), 1 + n % 22, f"g{n}")
    return written


@generator("dsh")
def gen_dsh(rng: random.Random, home: Path, target: int) -> int:
    """DeepSeek Harness sessions: one zstd frame per flush of a few events."""
    import zstandard

    compressor = zstandard.ZstdCompressor()
    written, n = 0, 0
    while written < target:
        n += 1
        events = [json.dumps({"type": "session", "id": f"d{n}", "createdAt": 1790000000000, "cwd": "/home/a/app"})]
        for t in range(rng.randint(300, 700)):
            events.append(
                json.dumps(
                    {"type": "user/message", "seq": 3 * t, "time": 1790000000000 + t, "data": {"text": text(rng, 1500)}}
                )
            )
            usage = {
                "inputTokens": rng.randint(1, 500),
                "outputTokens": rng.randint(50, 3000),
                "cacheReadTokens": 50_000,
            }
            source = {"kind": "model", "provider": "deepseek", "model": "deepseek-v4-flash"}
            data = {"turn": t, "step": 1, "message": {"content": text(rng, 900), "source": source}, "usage": usage}
            events.append(
                json.dumps({"type": "assistant/message", "seq": 3 * t + 1, "time": 1790000000000 + t, "data": data})
            )
        frames = [compressor.compress(("\n".join(events[i : i + 4]) + "\n").encode()) for i in range(0, len(events), 4)]
        path = home / ".dsh/sessions/-home-a-app" / f"d{n}" / "session.jsonl.zstd"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(frames))
        written += sum(len(e) + 1 for e in events)  # decoded bytes: what the reader parses
    return written


@generator("reasonix")
def gen_reasonix(rng: random.Random, home: Path, target: int) -> int:
    """Reasonix stats: small request rows and a turn aggregate per few requests."""
    written, day = 0, 0
    while written < target:
        day += 1
        lines = []
        for t in range(20_000):
            hit = rng.randint(0, 90_000)
            row = {
                "ts": f"2026-11-{1 + day % 28:02d}T10:00:{t % 60:02d}+08:00",
                "model": "deepseek/deepseek-v4",
                "prompt": hit + 500,
                "completion": rng.randint(50, 3000),
                "cache_hit": hit,
                "cache_miss": 500,
                "total": 0,
                "requests": 1,
            }
            lines.append(json.dumps(row | {"turn": True} if t % 4 == 3 else row))
        written += _write_lines(home / f".reasonix/stats/2026-{1 + day // 28:02d}-{1 + day % 28:02d}.jsonl", lines)
    return written


@generator("codebuff")
def gen_codebuff(rng: random.Random, home: Path, target: int) -> int:
    """Codebuff chats: a JSON array of user and assistant messages with metadata.usage."""
    written, n = 0, 0
    while written < target:
        n += 1
        messages = []
        for t in range(rng.randint(100, 300)):
            messages.append({"id": f"u{n}-{t}", "variant": "user", "content": text(rng, 1500), "timestamp": _ts(1, t)})
            usage = {
                "inputTokens": rng.randint(1, 500),
                "outputTokens": rng.randint(50, 3000),
                "cacheReadInputTokens": 40_000,
            }
            meta = {"model": "claude-sonnet-4-5", "usage": usage}
            messages.append(
                {
                    "id": f"a{n}-{t}",
                    "variant": "ai",
                    "content": text(rng, 900),
                    "timestamp": _ts(1, t),
                    "metadata": meta,
                }
            )
        path = home / ".config/manicode/projects/app/chats" / f"2026-11-01T10-00-{n:02d}.000Z" / "chat-messages.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(messages).encode()
        path.write_bytes(data)
        written += len(data)
    return written


@generator("harnessbridge")
def gen_harnessbridge(rng: random.Random, home: Path, target: int) -> int:
    """Harnessbridge ledgers: a header and usage rows (one in five a mirror) with raw native usage."""
    written, n = 0, 0
    while written < target:
        n += 1
        lines = [json.dumps({"type": "session", "id": f"hb{n}", "harness": "codex", "accounting": "primary"})]
        for t in range(2000):
            row = {
                "type": "usage",
                "id": f"e{t}",
                "harness": "pi" if t % 2 else "codex",
                "provider_id": "anthropic",
                "model_id": "claude-sonnet-4-5",
                "created_ms": 1790000000000 + t,
                "tokens": {"input": rng.randint(1, 500), "output": rng.randint(50, 3000), "cache_read": 40_000},
                "raw": {"native_usage": {"note": text(rng, 600)}},
            }
            lines.append(json.dumps(row | {"accounting": "mirror"} if t % 5 == 0 else row))
        written += _write_lines(home / f".harnessbridge/sessions/hb{n}.jsonl", lines)
    return written


_CLEAR = (
    "GROK_HOME",
    "DSH_HOME",
    "REASONIX_STATE_HOME",
    "REASONIX_HOME",
    "CODEBUFF_DATA_DIR",
    "TOKTRAIL_HARNESSBRIDGE_SESSIONS",
    "GJC_CODING_AGENT_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "GEMINI_CLI_HOME",
    "QWEN_HOME",
    "QWEN_RUNTIME_DIR",
    "CLAUDE_CONFIG_DIR",
    "KIMI_CODE_HOME",
    "KIMI_SHARE_DIR",
    "COPILOT_HOME",
    "COPILOT_OTEL_FILE_EXPORTER_PATH",
    "CLINE_DIR",
    "CLINE_DATA_DIR",
    "GOOSE_PATH_ROOT",
    "HERMES_HOME",
    "DROID_SESSIONS_DIR",
    "CRUSH_PROJECTS",
    "ZED_THREADS_DB",
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

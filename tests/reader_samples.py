"""One small valid sample source tree per client, for the reader contract and the reader fuzz.

Each sample writes files at their real paths under a HOME. Where a reader's own test module
already builds a whole tree (``droid_tree``, ``goose_db`` …) the sample is that tree; the
others are composed here from the same modules' line builders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import test_reader_aider as aider
from tests import test_reader_amp as amp
from tests import test_reader_antigravity as antigravity
from tests import test_reader_augment as augment
from tests import test_reader_claude_code as claude
from tests import test_reader_claude_cowork as cowork
from tests import test_reader_cline as cline
from tests import test_reader_codebuff as codebuff
from tests import test_reader_codex as codex
from tests import test_reader_continue as continue_dev
from tests import test_reader_copilot as copilot
from tests import test_reader_crush as crush
from tests import test_reader_cursor as cursor
from tests import test_reader_devin as devin
from tests import test_reader_droid as droid
from tests import test_reader_dsh as dsh
from tests import test_reader_gemini_cli as gemini
from tests import test_reader_goose as goose
from tests import test_reader_grok as grok
from tests import test_reader_harnessbridge as harnessbridge
from tests import test_reader_hermes as hermes
from tests import test_reader_junie as junie
from tests import test_reader_kimi as kimi
from tests import test_reader_lmstudio as lmstudio
from tests import test_reader_mimo_code as mimo
from tests import test_reader_mux as mux
from tests import test_reader_openclaw as openclaw
from tests import test_reader_opencode as opencode
from tests import test_reader_pi as pi
from tests import test_reader_qoder as qoder
from tests import test_reader_qwen_code as qwen
from tests import test_reader_reasonix as reasonix
from tests import test_reader_vibe as vibe
from tests import test_reader_workbuddy as workbuddy
from tests import test_reader_zcode as zcode
from tests import test_reader_zed as zed

Sample = Callable[[Path], object]


def _claude(home: Path) -> None:
    claude.write(
        home,
        f"{claude.PROJECT}/s-main.jsonl",
        claude.user(),
        claude.assistant("msg_1", "req_1", inp=12, out=1, read=1000, write=300, w5m=100, w1h=200),
        claude.assistant("msg_1", "req_1", inp=12, out=420, read=1000, write=300, w5m=100, w1h=200),
        claude.assistant("msg_2", "req_2", inp=5, out=50, read=1500, ts="2026-11-20T10:01:00.000Z"),
    )
    claude.write(
        home,
        f"{claude.PROJECT}/s-main/subagents/agent-a1.jsonl",
        claude.assistant("msg_3", "req_3", inp=7, out=70, ts="2026-11-20T10:02:00.000Z", isSidechain=True),
    )


def _codex_lines() -> tuple[str, ...]:
    return (
        codex.meta(),
        codex.turn(),
        codex.count("2026-11-20T09:00:02.000Z", (1000, 200, 50, 10), (1000, 200, 50, 10)),
        codex.transcript(),
        codex.count("2026-11-20T09:00:03.000Z", (1000, 200, 50, 10), (1000, 200, 50, 10)),  # repeat: not a turn
        codex.count("2026-11-20T09:00:09.000Z", (3000, 900, 80, 30), (2000, 700, 30, 20)),
    )


def _codex(home: Path) -> None:
    codex.write(home, "sessions/2026/11/20/rollout-2026-11-20T09-00-00-thread-1.jsonl", *_codex_lines())


def _every_code(home: Path) -> None:
    codex.write(home, "sessions/2026/11/20/rollout-2026-11-20T09-00-00-thread-1.jsonl", *_codex_lines(), root=".code")


def _opencode(home: Path, name: str) -> None:
    opencode.make_db(opencode.data_dir(home, name) / f"{name}.db")


def _pi_format(home: Path, root: str) -> None:
    usage = {"input": 10, "output": 100, "cacheRead": 1000, "reasoning": 40}
    pi.write_jsonl(
        home / root / "--home-alice-app--" / "2026-03-02T12-00-00-000Z_S1.jsonl",
        [
            pi.header("S1", "/home/alice/app"),
            {"type": "model_change", "id": "mc000001", "provider": "anthropic", "modelId": "claude-sonnet-4-5"},
            pi.A1,
            pi.assistant("a2000002", "2026-03-02T12:01:00.000Z", usage),
        ],
    )


def _amp(home: Path) -> None:
    amp.write(amp.threads_dir(home) / "T-aaa.json", amp.thread())


def _copilot(home: Path) -> None:
    c = copilot
    c._otel_file(home).write_text(c._lines(c.METRIC, c.SESSION_START, c.LOG_1, c.CHAT_1, c.CHAT_2, c.AGENT_1))


def _qwen(home: Path) -> None:
    qwen.setup_tree(home / ".qwen")


def _kimi(home: Path) -> None:
    kimi.cli_fixture(home)
    kimi.code_fixture(home)


#: client -> the function that writes its sample under a HOME.
SAMPLES: dict[str, Sample] = {
    "claude-code": _claude,
    "codex": _codex,
    "every-code": _every_code,
    "opencode": lambda home: _opencode(home, "opencode"),
    "kilo": lambda home: _opencode(home, "kilo"),
    "gemini-cli": gemini.setup_tree,
    "qwen-code": _qwen,
    "kimi": _kimi,
    "pi": lambda home: _pi_format(home, ".pi/agent/sessions"),
    "omp": lambda home: _pi_format(home, ".omp/agent/sessions"),
    "openclaw": openclaw.fixture,
    "amp": _amp,
    "copilot": _copilot,
    "cline": cline._fixtures,
    "roo-code": cline._fixtures,
    "kilo-code": cline._fixtures,
    "goose": goose.goose_db,
    "droid": droid.droid_tree,
    "hermes": hermes.hermes_db,
    "crush": crush.crush_tree,
    "zed": zed.zed_db,
    "vibe": vibe.vibe_tree,
    "mux": mux.mux_tree,
    "continue": continue_dev.continue_db,
    "lmstudio": lmstudio.lmstudio_tree,
    "aider": aider.aider_log,
    "cursor": cursor.cursor_db,
    "mimo-code": lambda home: mimo.make_db(mimo.data_dir(home) / "mimocode.db"),
    "zcode": zcode.sample,
    "workbuddy": workbuddy.transcript,
    "antigravity": antigravity.sample,
    "qoder": qoder.sample_ide,
    "qoder-cli": qoder.cli_tree,
    "augment": augment.sample,
    "junie": junie.sample,
    "devin": devin.sample,
    "cowork": cowork.sample,
    "grok": grok.sample,
    "gjc": lambda home: _pi_format(home, ".gjc/agent/sessions"),
    "senpi": lambda home: _pi_format(home, ".senpi/agent/sessions"),
    "kimchi": lambda home: _pi_format(home, ".config/kimchi/harness/sessions"),
    "prime-agent": lambda home: _pi_format(home, ".prime/agent/sessions"),
    "dsh": dsh.sample,
    "reasonix": reasonix.sample,
    "codebuff": codebuff.sample,
    "harnessbridge": harnessbridge.sample,
}


def write_sample(client: str, home: Path) -> None:
    """Write ``client``'s sample under ``home``."""
    SAMPLES[client](home)

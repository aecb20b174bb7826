"""Codebuff reader: chat-messages.json, three usage shapes, the OpenAI-shape cache split (clients.md §3.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokscope.readers import get_reader

from tokscope.scan import frame_of

CHAT = "2025-12-14T10-00-00.000Z"


def chat_file(home: Path, messages: list, channel: str = ".config/manicode", chat: str = CHAT) -> Path:
    path = home / channel / "projects" / "sandbox" / "chats" / chat / "chat-messages.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(messages))
    return path


USER = {"id": "u1", "variant": "user", "content": "refactor the parser", "timestamp": "2025-12-14T10:00:01.000Z"}
META_USAGE = {  # older CLIs: Anthropic-shape usage on metadata.usage
    "id": "m1",
    "variant": "ai",
    "content": "done",
    "timestamp": "2025-12-14T10:00:09.000Z",
    "credits": 1.5,
    "metadata": {
        "model": "claude-sonnet-4-20250514",
        "usage": {
            "inputTokens": 1000,
            "outputTokens": 400,
            "cacheReadInputTokens": 200,
            "cacheCreationInputTokens": 50,
        },
    },
}
SNAKE = {  # metadata.codebuff.usage in snake case, OpenAI shape: the prompt includes the cached tokens
    "id": "m2",
    "role": "assistant",
    "createdAt": "2025-12-14T10:01:00.000Z",
    "metadata": {
        "codebuff": {
            "usage": {
                "prompt_tokens": 750,
                "completion_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 500},
                "model": "openai/gpt-5",
            }
        }
    },
}
RUN_STATE = {  # OpenRouter-routed: usage only in the persisted run state's last assistant entry
    "id": "m3",
    "variant": "agent",
    "metadata": {
        "timestamp": 1765706520000,
        "runState": {
            "sessionState": {
                "mainAgentState": {
                    "agentType": "base2",
                    "messageHistory": [
                        {"role": "assistant", "providerOptions": {"usage": {"promptTokens": 9, "completionTokens": 9}}},
                        {"role": "user", "content": "next"},
                        {
                            "role": "assistant",
                            "providerOptions": {
                                "codebuff": {
                                    "model": "x-ai/grok-4-fast",
                                    "usage": {
                                        "promptTokens": 3000,
                                        "completionTokens": 90,
                                        "promptTokensDetails": {"cachedTokens": 2500},
                                    },
                                }
                            },
                        },
                    ],
                }
            }
        },
    },
}
NO_USAGE = {"id": "m4", "variant": "ai", "content": "interrupted", "timestamp": "2025-12-14T10:03:00.000Z"}


def sample(home: Path) -> None:
    """The contract sample: one chat with the three usage shapes."""
    chat_file(home, [USER, META_USAGE, SNAKE, RUN_STATE, NO_USAGE])


def read_all():
    return frame_of([get_reader("codebuff")]).sort("ts")


def test_three_usage_shapes(home: Path) -> None:
    sample(home)
    frame = read_all()
    assert frame.select("event_key", "model", "provider", "input", "output", "cache_read", "cache_write_5m").rows() == [
        ("m1", "claude-sonnet-4-20250514", "anthropic", 1000, 400, 200, 50),
        ("m2", "openai/gpt-5", "openai", 250, 120, 500, 0),  # 750 prompt - 500 cached
        ("m3", "x-ai/grok-4-fast", "xai", 500, 90, 2500, 0),  # the last assistant entry, not the first
    ]
    assert frame["ts"].dt.epoch("ms").to_list() == [1765706409000, 1765706460000, 1765706520000]
    assert set(frame["session_id"]) == {CHAT} and set(frame["workspace"]) == {"sandbox"}
    assert frame["source_cost"].null_count() == 3  # credits are not dollars (unverified unit)


def test_a_chat_in_two_channels_counts_once(home: Path) -> None:
    chat_file(home, [META_USAGE])
    chat_file(home, [META_USAGE], channel=".config/manicode-dev")
    assert [s.path.parts[-6] for s in get_reader("codebuff").discover([])] == ["manicode", "manicode-dev"]
    assert read_all().height == 1


def test_without_ids_or_times_the_chat_id_and_a_content_hash_stand_in(home: Path) -> None:
    bare = {"variant": "ai", "metadata": {"usage": {"input_tokens": 10, "output_tokens": 5, "cachedTokensCreated": 7}}}
    chat_file(home, [bare, dict(bare, metadata={"usage": {"input_tokens": 11, "output_tokens": 5}})])
    frame = read_all()
    assert frame["ts"].dt.epoch("ms").to_list() == [1765706400000, 1765706400000]  # the chat id's time
    assert frame.select("input", "cache_write_5m").sort("input").rows() == [(10, 7), (11, 0)]
    first = get_reader("codebuff").read(get_reader("codebuff").discover([])[0], 0, {})
    again = get_reader("codebuff").read(get_reader("codebuff").discover([])[0], 0, {})
    assert [r.event_key for r in first.rows] == [r.event_key for r in again.rows]
    assert all(r.event_key.startswith(f"{CHAT}:") for r in first.rows)


def test_a_chat_caught_mid_rewrite_counts_nothing_and_says_so(home: Path) -> None:
    path = chat_file(home, [META_USAGE])
    path.write_text(path.read_text()[:40])
    result = get_reader("codebuff").read(get_reader("codebuff").discover([])[0], 0, {})
    assert result.rows == [] and result.skipped == 1


def test_data_dir_variable_replaces_the_channels(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_reader("codebuff").roots() == [
        home / ".config/manicode/projects",
        home / ".config/manicode-dev/projects",
        home / ".config/manicode-staging/projects",
    ]
    monkeypatch.setenv("CODEBUFF_DATA_DIR", str(home / "cb"))
    assert get_reader("codebuff").roots() == [home / "cb/projects"]

"""Provider exports in their documented shapes, written by hand for the invoice tests.

Anthropic: Admin API usage report (``/v1/organizations/usage_report/messages``) and cost report
(``/v1/organizations/cost_report``: ``amount`` in cents as a decimal string), Console CSV exports.
OpenAI: usage API (``/v1/organization/usage/completions``), costs API (``/v1/organization/costs``),
dashboard CSV exports. Field names as documented (see README "Invoices").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

DAY20 = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())  # 1795132800
DAY21 = DAY20 + 86_400
HOUR = 3600


def anthropic_page(buckets: list[dict], next_page: str | None = None) -> dict:
    return {"data": buckets, "has_more": next_page is not None, "next_page": next_page}


def a_bucket(day: str, results: list[dict], start: str = "00:00:00", hours: int = 24) -> dict:
    begin = datetime.fromisoformat(f"{day}T{start}+00:00")
    end = datetime.fromtimestamp(begin.timestamp() + hours * HOUR, UTC)
    return {"starting_at": iso(begin), "ending_at": iso(end), "results": results}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def a_usage(model: str | None, inp: int, out: int, read: int = 0, w5m: int = 0, w1h: int = 0) -> dict:
    return {
        "uncached_input_tokens": inp,
        "cache_creation": {"ephemeral_1h_input_tokens": w1h, "ephemeral_5m_input_tokens": w5m},
        "cache_read_input_tokens": read,
        "output_tokens": out,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": None,
        "workspace_id": None,
        "model": model,
        "service_tier": "standard" if model else None,
        "context_window": "0-200k" if model else None,
    }


def a_cost(model: str | None, cents: str, token_type: str | None = None, cost_type: str | None = "tokens") -> dict:
    return {
        "currency": "USD",
        "amount": cents,
        "workspace_id": None,
        "description": f"{model} {token_type}" if model else None,
        "cost_type": cost_type,
        "context_window": "0-200k" if model else None,
        "model": model,
        "service_tier": "standard" if model else None,
        "token_type": token_type,
        "inference_geo": None,
    }


SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


def anthropic_cost_report() -> str:
    """Two pages (a JSON list), grouped by description: Sonnet on the 20th as in pricing.md Ex 1
    ($0.2436 in five token types), Haiku $0.15 and a web search on the 20th; Sonnet billed $0.60 on
    the 21st (in two token types)."""
    page1 = anthropic_page(
        [
            a_bucket(
                "2026-11-20",
                [
                    a_cost(SONNET, "0.36", "uncached_input_tokens"),
                    a_cost(SONNET, "4.5", "cache_read_input_tokens"),
                    a_cost(SONNET, "3.75", "cache_creation.ephemeral_5m_input_tokens"),
                    a_cost(SONNET, "12", "cache_creation.ephemeral_1h_input_tokens"),
                    a_cost(SONNET, "3.75", "output_tokens"),
                    a_cost(HAIKU, "10", "uncached_input_tokens"),
                    a_cost(HAIKU, "5", "output_tokens"),
                    a_cost(None, "100", cost_type="web_search"),
                ],
            )
        ],
        next_page="page_2",
    )
    page2 = anthropic_page(
        [
            a_bucket(
                "2026-11-21",
                [a_cost(SONNET, "15", "uncached_input_tokens"), a_cost(SONNET, "45", "output_tokens")],
            )
        ]
    )
    return json.dumps([page1, page2])


def anthropic_usage_report() -> str:
    """Hourly buckets: Sonnet's Ex 1 tokens on the 20th split over two hours (a part of the day)."""
    return json.dumps(
        anthropic_page(
            [
                a_bucket("2026-11-20", [a_usage(SONNET, 1_000, 2_000, 100_000, 10_000, 0)], "09:00:00", hours=1),
                a_bucket("2026-11-20", [a_usage(SONNET, 200, 500, 50_000, 0, 20_000)], "10:00:00", hours=1),
            ]
        )
    )


def o_bucket(start: int, results: list[dict], width: int = 86_400) -> dict:
    return {"object": "bucket", "start_time": start, "end_time": start + width, "results": results}


def o_usage(model: str | None, inp: int, cached: int, out: int, requests: int = 1) -> dict:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": inp,
        "output_tokens": out,
        "input_cached_tokens": cached,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": requests,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": model,
        "batch": None,
        "service_tier": None,
    }


def o_cost(value: float | str, line_item: str | None) -> dict:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": line_item,
        "project_id": None,
    }


def o_page(buckets: list[dict], next_page: str | None = None) -> dict:
    return {"object": "page", "data": buckets, "has_more": next_page is not None, "next_page": next_page}


def openai_usage_report() -> str:
    """Pricing.md Ex 2's tokens for gpt-5 on the 20th, over two hourly buckets."""
    return json.dumps(
        o_page(
            [
                o_bucket(DAY20 + 9 * HOUR, [o_usage("gpt-5-2025-08-07", 30_000, 25_000, 1_000)], HOUR),
                o_bucket(DAY20 + 10 * HOUR, [o_usage("gpt-5-2025-08-07", 18_000, 15_960, 800)], HOUR),
            ]
        )
    )


def openai_costs_report() -> str:
    return json.dumps(
        o_page(
            [
                o_bucket(
                    DAY20,
                    [
                        o_cost(0.02, "gpt-5-2025-08-07, input"),
                        o_cost("0.01192", "gpt-5-2025-08-07, output"),
                        o_cost(2.25, "Web search tool calls"),
                    ],
                )
            ]
        )
    )


ANTHROPIC_USAGE_CSV = (
    "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
    "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
    "usage_output_tokens,web_search_count,inference_geo,speed\n"
    f"2026-11-20,{SONNET},laptop,Default,standard,≤ 200k,1000,10000,0,100000,2000,0,global,\n"
    f"2026-11-20,{SONNET},devbox,Default,standard,≤ 200k,200,0,20000,50000,500,0,global,\n"
    f"2026-11-21,{HAIKU},laptop,Default,standard,≤ 200k,100000,0,0,0,10000,0,global,\n"
)

ANTHROPIC_COST_CSV = (
    "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,list_price_usd,"
    "cost_type,inference_geo,speed\n"
    "2026-11-20,Claude Sonnet 4.5,Default,laptop,message,≤ 200k,input_no_cache,0.0036,0.0036,token,global,\n"
    "2026-11-20,Claude Sonnet 4.5,Default,laptop,message,≤ 200k,output,0.0375,0.0375,token,global,\n"
    '2026-11-20,Claude Haiku 4.5,"Team, Inc",laptop,message,≤ 200k,output,0.05,0.05,token,global,\n'
    "2026-11-20,Claude Sonnet 4.5,Default,laptop,web_search,,web_search,0.01,0.01,web_search,global,\n"
)

OPENAI_USAGE_CSV = (
    "start_time,end_time,start_time_iso,end_time_iso,project_id,num_model_requests,user_id,api_key_id,model,batch,"
    "service_tier,input_tokens,output_tokens,input_cached_tokens,input_uncached_tokens\n"
    f"{DAY20},{DAY21},2026-11-20T00:00:00+00:00,2026-11-21T00:00:00+00:00,proj_1,8.0,user-1,key_1,"
    "gpt-5-2025-08-07,FALSE,default,48000.0,1800.0,40960.0,7040.0\n"
    f"{DAY21},{DAY21 + 86_400},2026-11-21T00:00:00+00:00,2026-11-22T00:00:00+00:00,,,,,,,,,,,\n"
)

OPENAI_COSTS_TSV = (
    "start_time\tend_time\tstart_time_iso\tend_time_iso\tamount_value\tamount_currency\tline_item\tproject_id\t"
    "organization_id\torganization_name\n"
    f"{DAY20}\t{DAY21}\t2026-11-20T00:00:00+00:00\t2026-11-21T00:00:00+00:00\t0.8958740000000000\tusd\t\t\t"
    "org-1\tPersonal\n"
    f"{DAY21}\t{DAY21 + 86_400}\t2026-11-21T00:00:00+00:00\t2026-11-22T00:00:00+00:00\t\t\t\t\t\t\n"
)


def anthropic_hourly_pages() -> tuple[str, str]:
    """A whole day of hourly buckets over two pages, split at 12:00 (``limit`` buckets per page):
    each hour has 100 uncached input and 10 output tokens; 04:00 is an empty bucket."""

    def hour(h: int) -> dict:
        results = [] if h == 4 else [a_usage(SONNET, 100, 10)]
        return a_bucket("2026-11-22", results, f"{h:02d}:00:00", hours=1)

    first = anthropic_page([hour(h) for h in range(12)], next_page="page_2")
    second = anthropic_page([hour(h) for h in range(12, 24)])
    return json.dumps(first), json.dumps(second)

"""Shared fixtures: every test runs with a private, empty HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tokscope.readers import reader_env

from tests.s3_server import BucketSide, FolderSide, S3Server, Side, run_server
from tokscope.config import ENV as TOKSCOPE_ENV

#: The XDG base dirs (tokscope's own files and several readers' roots): unset, so they follow HOME.
XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


#: The AWS variables an s3:// shared location reads: a developer's own never reach a test.
AWS = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)  # fmt: skip


def isolated_env() -> tuple[str, ...]:
    """What every test unsets: each variable a reader declares, tokscope's own settings, XDG_* and AWS_*."""
    return (*reader_env(), *TOKSCOPE_ENV, *XDG, *AWS)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME for the test; agent logs and tokscope's own files go under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in isolated_env():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    return home


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on loopback for the whole session (one per xdist worker); skipped only if it cannot start."""
    server = run_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        running = server.__enter__()
    except RuntimeError as exc:
        pytest.skip(f"SeaweedFS (the S3 server of these tests) cannot start: {exc}")
    try:
        yield running
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(params=["folder", "s3"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Side:
    """The shared location of a test, once a folder and once a prefix of the SeaweedFS bucket."""
    if request.param == "folder":
        return FolderSide(tmp_path / "shared")
    return BucketSide(request.getfixturevalue("s3_server"))

"""tokscope's folders on Linux follow platformdirs' answers exactly, without importing it."""

from __future__ import annotations

import os
import sys

import platformdirs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokscope import paths

VARIABLES = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
#: Values that matter to the rules: unset, empty, relative, absolute, with ``~``, with a trailing slash, root.
VALUES = st.sampled_from([None, "", "rel/dir", "~", "~/x", "/abs", "/abs/dir/", "/", "//two", " /space"])


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is Linux's")
@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: VALUES for name in VARIABLES}))
def test_same_folders_as_platformdirs(env: dict[str, str | None]) -> None:
    saved = {name: os.environ.get(name) for name in VARIABLES}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for ours, theirs in (
            (paths.data_dir, platformdirs.user_data_dir),
            (paths.config_dir, platformdirs.user_config_dir),
            (paths.cache_dir, platformdirs.user_cache_dir),
        ):
            try:
                expected: object = str(theirs("tokscope"))
            except RuntimeError:
                expected = RuntimeError
            try:
                got: object = str(ours())
            except RuntimeError:
                got = RuntimeError
            assert got == expected, env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is Linux's")
def test_the_folders_do_not_import_platformdirs() -> None:
    import subprocess

    code = (
        "import sys, tokscope.paths as p; p.data_dir(); p.cache_dir();"
        "sys.exit(3 if 'platformdirs' in sys.modules else 0)"
    )
    env = {**os.environ, "HOME": "/home/someone"}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0

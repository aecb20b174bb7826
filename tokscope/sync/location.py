"""The shared location's name: a folder path or ``s3://bucket/prefix`` (no I/O, cheap to import:
config.toml's ``shared_folder`` is parsed on every statusline call)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

#: S3's bucket names: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class S3Location(NamedTuple):
    """``s3://bucket/prefix``: the shared location in an S3-compatible bucket."""

    bucket: str
    prefix: str = ""
    """Without leading or trailing slash; ``""`` for the bucket's root."""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


#: A shared location: a folder (synced by Syncthing, Dropbox, NFS …) or a bucket prefix.
Shared = Path | S3Location


def parse_shared(text: str) -> Path | S3Location:
    """``s3://bucket/prefix`` as an ``S3Location``, anything else as a folder path; raises ValueError."""
    if not text.startswith(("s3://", "S3://")):
        return Path(text).expanduser()
    bucket, _, prefix = text[5:].partition("/")
    if not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(f"{text!r}: {bucket!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)")
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"{text!r}: the prefix has an empty, '.' or '..' part")
    return S3Location(bucket, prefix)


def s3_cache_dir(location: S3Location) -> Path:
    """Where the objects fetched from ``location`` are kept (``index.json``: the last listing, the ETags)."""
    from tokscope import paths

    name = str(location).replace("%", "%25").replace("/", "%2F")
    return paths.cache_dir() / "s3" / name


def is_device_id(text: str) -> bool:
    """Whether ``text`` is a device id: a UUID in its canonical lower-case form."""
    return _UUID_RE.fullmatch(text) is not None

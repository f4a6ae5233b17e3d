"""Run a real nginx (Debian's ``/usr/sbin/nginx``) on a free loopback port, in the foreground.

``start_nginx`` writes a complete ``nginx.conf`` under the test's tmp dir (its own prefix, pid file, error and
access logs and temp directories; nothing of ``/etc/nginx`` is read) around the ``server`` block body the
test gives, with ``{port}`` replaced by the chosen port, and waits until nginx answers on ``ready_path``. The
access log uses nginx's ``combined`` format, one line per request, so tests can count what reached a
location. Stopping sends SIGTERM to exactly the master process it started.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ServiceProcess, child_env, start_service

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
user root root;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {base}/access.log combined;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
{body}
    }}
}}
"""


@dataclass
class Nginx:
    """A running nginx and where its logs are."""

    service: ServiceProcess
    base: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.service.port}"

    def access_log(self) -> list[str]:
        """The request lines (``METHOD PATH``) nginx has logged so far."""
        try:
            lines = (self.base / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [line.split('"')[1].rsplit(" ", 1)[0] for line in lines if line.count('"') >= 2]

    def stop(self) -> int:
        """Stop nginx (its master process, which stops its worker)."""
        return self.service.stop()


def start_nginx(workdir: Path, server_body: str, *, name: str = "nginx", ready_path: str = "/") -> Nginx:
    """Start nginx with ``server_body`` (``{port}`` is replaced) inside its one ``server`` block."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    base = workdir / name
    (base / "tmp").mkdir(parents=True, exist_ok=True)
    config = base / "nginx.conf"

    def argv(port: int) -> list[str]:
        body = server_body.replace("{port}", str(port))
        config.write_text(_CONFIG.format(base=base, port=port, body=body))
        return [binary, "-p", str(base), "-c", str(config), "-e", str(base / "error.log")]

    service = start_service(
        name, argv, lambda port: f"http://127.0.0.1:{port}{ready_path}", lambda probe: probe.status != 0,
        log_dir=base, env=child_env(),
    )  # fmt: skip
    return Nginx(service, base)

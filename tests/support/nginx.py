"""A real nginx in front of cargohold, as docs/operations.md recommends, for the reverse-proxy tests.

``start_nginx`` writes its own configuration under a prefix directory of the test (pid file, logs and
temporary paths there too), runs ``nginx -g 'daemon off;'`` in the foreground on a free loopback port, so the
process the test started is nginx's master and stopping it (SIGTERM) stops exactly that nginx and its
worker, and waits until a request through it reaches cargohold's ``/v2/``. With ``tls`` nginx terminates
HTTPS with that certificate and speaks plain HTTP/1.1 to cargohold on loopback.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ServiceProcess, start_service
from tests.support.server import registry_ready
from tests.support.tls import TlsFiles

# The http{} part is the recipe of docs/operations.md, with the test's paths and ports filled in.
CONFIG = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
{user}
events {{ worker_connections 256; }}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream cargohold {{
        server {upstream};
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port}{ssl};
        {certificates}
        ssl_protocols TLSv1.2 TLSv1.3;

        client_max_body_size 0;            # layers are as large as they are
        chunked_transfer_encoding on;

        location / {{
            proxy_pass http://cargohold;
            proxy_http_version 1.1;        # keep-alive and streaming to cargohold
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_buffering off;           # stream blobs to the client as they come
            proxy_request_buffering off;   # stream pushes to cargohold, no temporary file
            proxy_read_timeout 900s;       # a cold pull of a large layer can take a while
            proxy_send_timeout 900s;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """A running nginx: its port, scheme and process."""

    service: ServiceProcess
    scheme: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ref(self, repository: str, image: str, tag: str = "latest") -> str:
        return f"{self.host}/{repository}/{image}:{tag}"

    def stop(self) -> int:
        return self.service.stop()


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise FileNotFoundError("nginx is not installed: run ./scripts/test (it apt-installs it)")
    return found


def start_nginx(prefix: Path, upstream: str, tls: TlsFiles | None = None) -> Nginx:
    """nginx on a free loopback port proxying to ``upstream`` (``host:port``), HTTPS when ``tls``."""
    prefix.mkdir(parents=True, exist_ok=True)
    # as root, the worker runs as this same user so it can use the test's private directories
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    certificates = f"ssl_certificate {tls.cert};\n        ssl_certificate_key {tls.key};" if tls else ""

    def argv(port: int) -> list[str]:
        config = prefix / f"nginx-{port}.conf"
        config.write_text(
            CONFIG.format(
                prefix=prefix, user=user, upstream=upstream, port=port, ssl=" ssl" if tls else "",
                certificates=certificates,
            )
        )  # fmt: skip
        return [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config),
                "-g", "daemon off;"]  # fmt: skip

    scheme = "https" if tls else "http"
    service = start_service(
        "nginx", argv, lambda port: f"{scheme}://127.0.0.1:{port}/v2/", registry_ready, log_dir=prefix,
        ssl_context=tls.client_context() if tls else None,
    )  # fmt: skip
    return Nginx(service, scheme)

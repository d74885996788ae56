"""Behind a real reverse proxy on loopback (a proxy process in front of `research-repo serve`),
the per-client sign-in limit sees each client's own address: one client that keeps guessing
is refused, another behind the same proxy still signs in, and the audit trail names each."""
from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse

import pytest
from sqlalchemy import select

from research_repo.models import AuditEvent, Role

from .helpers import PASSWORD, TEST_SECRET
from .http_client import free_port

# A minimal forwarding proxy, as nginx's proxy_pass with proxy_add_x_forwarded_for does it.
PROXY = textwrap.dedent("""
    import http.client, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    UPSTREAM = int(sys.argv[2])

    class Forward(BaseHTTPRequestHandler):
        def _go(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("x-forwarded-for", "connection")}
            prior = self.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = (prior + ", " if prior else "") + self.client_address[0]
            headers["X-Forwarded-Proto"] = "http"
            up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
            up.request(self.command, self.path, body=body or None, headers=headers)
            r = up.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        do_GET = do_POST = _go
        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Forward).serve_forever()
""")


def _wait(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


class Browser:
    """Cookies and CSRF by hand, connecting from one loopback source address."""

    def __init__(self, port: int, source: str):
        self.port, self.source, self.cookie = port, source, None

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, source_address=(self.source, 0), timeout=30)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        set_cookie = r.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        return r.status, text

    def login(self, username, password):
        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        return self.request("POST", "/login", {"username": username, "password": password, "csrf_token": token})[0]


@pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2 and 127.0.0.3 as source addresses")
def test_per_client_limit_sees_real_clients_behind_a_proxy(data_dir, database_url, make_user, db):
    make_user("alex", Role.RESEARCHER)
    app_port, proxy_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_REPO_")}
    env.update(RESEARCH_REPO_ENVIRONMENT="test", RESEARCH_REPO_SECRET_KEY=TEST_SECRET,
               RESEARCH_REPO_DATA_DIR=str(data_dir), RESEARCH_REPO_TRUSTED_PROXIES="1",
               RESEARCH_REPO_LOGIN_MAX_FAILURES_PER_CLIENT="4", RESEARCH_REPO_EMBEDDED_WORKER="false",
               RESEARCH_REPO_PASSWORD_HASH_ITERATIONS="1000")
    if database_url:
        env["RESEARCH_REPO_DATABASE_URL"] = database_url
    server = subprocess.Popen([sys.executable, "-c", "from research_repo.cli import main; main()", "serve",
                               "--host", "127.0.0.1", "--port", str(app_port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen([sys.executable, "-c", PROXY, str(proxy_port), str(app_port)])
    try:
        _wait(app_port)
        _wait(proxy_port)
        guesser, colleague = Browser(proxy_port, "127.0.0.2"), Browser(proxy_port, "127.0.0.3")
        for n in range(4):
            assert guesser.login(f"user{n}", "guess guess guess") == 401
        assert guesser.login("alex", PASSWORD) == 429  # this client is over its limit
        assert colleague.login("alex", PASSWORD) == 302  # the next person behind the proxy is not
        with db.read_session() as s:
            clients = {e.client for e in s.scalars(select(AuditEvent).where(AuditEvent.action.like("auth.%")))}
        assert {"127.0.0.2", "127.0.0.3"} <= clients and "127.0.0.1" not in clients
        # A forged X-Forwarded-For sent straight to the app from another address is not believed:
        # waitress takes the header only from the proxy's address.
        forger = Browser(app_port, "127.0.0.4")
        _, page = forger.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        conn = http.client.HTTPConnection("127.0.0.1", app_port, source_address=("127.0.0.4", 0), timeout=10)
        conn.request("POST", "/login", body=urllib.parse.urlencode(
            {"username": "nobody", "password": "guess guess guess", "csrf_token": token}),
            headers={"Cookie": forger.cookie, "X-Forwarded-For": "10.9.8.7",
                     "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 401
        with db.read_session() as s:
            last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "auth.login_failed" and last.client == "127.0.0.4"
    finally:
        for process in (proxy, server):
            process.terminate()
            process.wait(10)

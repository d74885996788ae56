"""A browser's part over real HTTP, for tests and benchmarks that drive a running server:
cookies, CSRF tokens read from pages, sign-in and multipart uploads; and the server itself,
``research-repo serve`` on a free loopback port (standard library only)."""
from __future__ import annotations

import http.cookiejar
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

CLI = str(Path(sys.executable).with_name("research-repo"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``research-repo serve`` on a free loopback port with ``env``, its stderr appended to
    ``log`` (for the thread stacks it prints on SIGUSR1); returns once /login answers."""

    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as err:
            self.process = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
                                            env=env, stdout=subprocess.DEVNULL, stderr=err)
        for _ in range(150):
            try:
                urllib.request.urlopen(self.base + "/login", timeout=2).read()
                return
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise AssertionError("the server did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def stacks(self) -> str:
        """Every thread's stack, as the server prints them on SIGUSR1."""
        if self.process.poll() is not None:
            return "(the server had exited)"
        size = self.log.stat().st_size
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        return self.log.read_bytes()[size:].decode(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, as an operator stops it; killed if it has not gone in 20 s."""
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


class Client:
    def __init__(self, base: str, *, timeout: float = 60) -> None:
        self.base, self.timeout = base, timeout
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=self.timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        return self._open(self.base + path)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path, data=body, headers={"Content-Type": content_type}))

    def post_form(self, path: str, fields: dict) -> tuple[int, str]:
        return self.post(path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")

    @staticmethod
    def csrf(html: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

    def login(self, username: str, password: str) -> None:
        _, page = self.get("/login")
        status, _ = self.post_form("/login", {"username": username, "password": password, "csrf_token": self.csrf(page)})
        assert status == 200, status

    def upload(self, study_id: int, name: str, data: bytes) -> int:
        """Upload one file on the study's upload page; the status after the redirect (200 when stored)."""
        _, page = self.get(f"/studies/{study_id}/upload")
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{self.csrf(page)}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, _ = self.post(f"/studies/{study_id}/upload", body, f"multipart/form-data; boundary={boundary}")
        return status

"""A browser's part over real HTTP, for tests and benchmarks that drive a running server:
cookies, CSRF tokens read from pages, sign-in and multipart uploads (standard library only)."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid


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

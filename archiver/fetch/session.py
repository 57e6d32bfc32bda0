"""The one `requests` session shared by every fetch thread, and the User-Agent it announces."""

from __future__ import annotations

from http import cookiejar

import requests
from requests.adapters import HTTPAdapter

from archiver import __version__
from archiver.config import Settings

# Only what the body reader can undo incrementally with a bounded output (see body.py).
ACCEPT_ENCODING = "gzip, deflate"


def user_agent(settings: Settings) -> str:
    return f"archiver/{__version__} (+{settings.contact})"


class _NoCookies(cookiejar.DefaultCookiePolicy):
    """Cookies would carry one request's state into the next and leak between threads and hosts:
    every capture is made as a first visit."""

    def set_ok(self, cookie: cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: cookiejar.Cookie, request: object) -> bool:
        return False


def make_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc credentials from the environment: what is sent is exactly what is recorded.
    session.trust_env = False
    session.cookies.set_policy(_NoCookies())
    # Retries and redirects are the fetcher's own (they are recorded hop by hop), so urllib3 does none.
    adapter = HTTPAdapter(pool_connections=max(10, settings.workers), pool_maxsize=max(1, settings.workers),
                          max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.clear()
    session.headers.update({"User-Agent": user_agent(settings), "Accept": "*/*",
                            "Accept-Encoding": ACCEPT_ENCODING})
    return session

"""Who may act: read-only unless credentials are configured; no cross-site writes.

Without ``PGQUEUER_WEB_USER``/``PGQUEUER_WEB_PASSWORD`` or ``PGQUEUER_WEB_TOKEN`` the pages are
open and read-only: actions are hidden and refused with 403. With them, every page asks for
HTTP Basic (or ``Authorization: Bearer <token>``), compared in constant time, and actions are
allowed. Writes from another site are refused whatever the credentials (browsers send Basic
credentials cross-site on their own): a ``Sec-Fetch-Site`` other than ``same-origin``/``none``,
or an ``Origin`` that is not this host, gets 403.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pgqueuer_dashboard.envvars import WEB_PASSWORD as PASSWORD_ENV
from pgqueuer_dashboard.envvars import WEB_TOKEN as TOKEN_ENV
from pgqueuer_dashboard.envvars import WEB_USER as USER_ENV


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class WebAuth:
    """The configured credentials (all None: read-only, no login)."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebAuth:
        env = os.environ if environ is None else environ
        user, password = env.get(USER_ENV) or None, env.get(PASSWORD_ENV) or None
        if (user is None) != (password is None):
            raise ValueError(f"set both {USER_ENV} and {PASSWORD_ENV}, or neither")
        return cls(user, password, env.get(TOKEN_ENV) or None)

    @property
    def configured(self) -> bool:
        return self.token is not None or self.user is not None

    def accepts(self, authorization: str | None) -> bool:
        """True when the Authorization header carries the configured credentials."""
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return _same(value, self.token)
        if scheme.lower() == "basic" and self.user is not None and self.password is not None:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, sep, password = decoded.partition(":")
            # Both compared, always: the time taken does not say which one was wrong.
            ok_user = _same(user, self.user)
            ok_password = _same(password, self.password)
            return bool(sep) and ok_user and ok_password
        return False


def cross_site(headers: Mapping[str, str], host: str | None) -> bool:
    """True when a browser says this request comes from another site."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    if origin is not None:
        if origin == "null":
            return True
        return urlsplit(origin).netloc.lower() != (host or "").lower()
    return False

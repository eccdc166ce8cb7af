"""CSRF tokens for every dashboard form.

Signed-in forms carry the session's own random token (the synchronizer
pattern: stored with the session, compared on every POST). The sign-in form has
no session yet, so it carries an HMAC of a random pre-session cookie: a page on
another site can neither read that cookie nor compute the token.
"""

import hashlib
import hmac
import secrets

from aggregator.core.settings import Settings
from aggregator.web.sessions import is_secure

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SIGN_IN_PATH = "/sign-in"


def presession_cookie_name(settings: Settings) -> str:
    return "__Secure-ca_signin" if is_secure(settings) else "ca_signin"


def new_presession_nonce() -> str:
    return secrets.token_urlsafe(32)


def sign_in_token(settings: Settings, nonce: str) -> str:
    """Bound to the nonce in this browser's cookie, and keyed so it cannot be forged."""
    key = settings.session_key.get_secret_value().encode()
    return hmac.new(key, b"sign-in:" + nonce.encode(), hashlib.sha256).hexdigest()


def matches(sent: str | None, expected: list[str]) -> bool:
    """Constant-time comparison against each token this browser may legitimately hold."""
    if not sent or len(sent) > 128:
        return False
    return any(hmac.compare_digest(sent.encode(), e.encode()) for e in expected if e)

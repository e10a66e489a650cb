"""Chat webhooks: one JSON POST with a Slack-compatible ``text``, within a short total deadline.

``post(url, text, *, deadline=DEADLINE) -> str``: sends ``{"text": text}`` and returns ""
when the endpoint answered 2xx, else one line saying what went wrong. It never raises and
never names the URL (a webhook URL is a secret: the path is the credential). The deadline
is the total for the call (:mod:`batchops.adapters.deadline`: every socket operation meets
it), a server that accepts and then hangs or drips its answer included. Only the status line
and headers of the reply are read, never its body.
"""

from __future__ import annotations

from batchops import __version__
from batchops.adapters import deadline as deadlines
from batchops.adapters.deadline import Deadline

DEADLINE = 10.0  # seconds for the whole call
CONNECT_TIMEOUT = 5.0
USER_AGENT = f"batchops/{__version__} (alert)"


def post(url: str, text: str, *, deadline: float = DEADLINE) -> str:
    """POST ``{"text": text}`` to ``url``; "" when delivered, else why not (one line, no URL)."""
    import requests

    if not url.lower().startswith(("https://", "http://")):
        return "the webhook-url is not an http(s) URL; give one such as https://hooks.slack.com/services/…"
    bound = Deadline(deadline)
    session = deadlines.session()
    try:
        with bound.applied():
            response = session.post(
                url,
                json={"text": text},
                timeout=bound.timeouts(connect=CONNECT_TIMEOUT),
                headers={"User-Agent": USER_AGENT},
                allow_redirects=False,
                stream=True,  # only the status is used: the body of the reply is never read
            )
            status = response.status_code
            response.close()  # closes the connection: the body is never read, never drained
    except (requests.RequestException, TimeoutError) as exc:
        if bound.expired():
            return f"the webhook did not answer within {deadline:g} s"
        return f"the webhook could not be reached ({exc.__class__.__name__})"
    except Exception as exc:  # noqa: BLE001 - an unusable URL; never raise, never name it
        return f"the webhook could not be called ({exc.__class__.__name__})"
    finally:
        session.close()
    return "" if 200 <= status < 300 else f"the webhook answered HTTP {status}"

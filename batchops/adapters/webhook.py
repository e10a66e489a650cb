"""Chat webhooks: one JSON POST with a Slack-compatible ``text``, within a short total deadline.

``post(url, text, *, deadline=DEADLINE) -> str``: sends ``{"text": text}`` and returns ""
when the endpoint answered 2xx, else one line saying what went wrong. It never raises and
never names the URL (a webhook URL is a secret: the path is the credential). The deadline
is the total for the call, a server that accepts and then hangs or drips its answer
included: the request runs on a daemon thread that is abandoned when the deadline passes.
Only the status line and headers of the reply are read, never its body.
"""

from __future__ import annotations

import threading
from typing import Any

from batchops import __version__

DEADLINE = 10.0  # seconds for the whole call
USER_AGENT = f"batchops/{__version__} (alert)"


def _send(url: str, payload: dict[str, Any], timeout: float, out: list[str]) -> None:
    import requests

    try:
        response = requests.post(
            url,
            json=payload,
            timeout=(min(5.0, timeout), timeout),
            headers={"User-Agent": USER_AGENT},
            allow_redirects=False,
            stream=True,  # only the status is used: the body of the reply is never read
        )
    except requests.RequestException as exc:
        out.append(f"the webhook could not be reached ({exc.__class__.__name__})")
        return
    except Exception as exc:  # an unusable URL
        out.append(f"the webhook could not be called ({exc.__class__.__name__})")
        return
    status = response.status_code
    response.close()
    if 200 <= status < 300:
        out.append("")
    else:
        out.append(f"the webhook answered HTTP {status}")


def post(url: str, text: str, *, deadline: float = DEADLINE) -> str:
    """POST ``{"text": text}`` to ``url``; "" when delivered, else why not (one line, no URL)."""
    if not url.lower().startswith(("https://", "http://")):
        return "the webhook-url is not an http(s) URL; give one such as https://hooks.slack.com/services/…"
    out: list[str] = []
    worker = threading.Thread(target=_send, args=(url, {"text": text}, deadline, out), daemon=True, name="batchops-webhook")
    worker.start()
    worker.join(deadline)
    if worker.is_alive() or not out:
        return f"the webhook did not answer within {deadline:g} s"
    return out[0]

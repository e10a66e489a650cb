"""``feed.xml``: an Atom feed of the open incidents and the breaker transitions (newest first).

Untrusted text is XML-escaped and stripped of the characters XML 1.0 cannot hold; links are
only http(s) (:func:`batchops.render.html.safe_url`).
"""

from __future__ import annotations

import hashlib
import html
import re

from batchops.core import timeutil
from batchops.core.status_page import Event, Page
from batchops.render.html import safe_url

MAX_ENTRIES = 500
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def xml_text(value: object) -> str:
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def _id(*parts: str) -> str:
    return "urn:batchops:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _entry(entry_id: str, title: str, updated: str, summary: str, url: str = "") -> str:
    href = safe_url(url)
    alternate = f'<link rel="alternate" href="{xml_text(href)}"/>' if href else ""
    return (
        f"<entry><id>{entry_id}</id><title>{xml_text(title)}</title><updated>{updated}</updated>{alternate}"
        f'<summary type="text">{xml_text(summary)}</summary></entry>'
    )


def _event_entry(page: Page, event: Event) -> str:
    when = timeutil.iso(event.at)
    who = " (operator)" if event.operator else ""
    title = f"{event.subject}: {event.kind}{who}"
    summary = f"{event.before} → {event.after} at {when}; commit {event.sha[:12]} {event.commit} by {event.author}"
    if event.reason:
        summary += f"; reason: {event.reason}"
    url = f"https://github.com/{page.repository}/commit/{event.sha}" if page.repository else ""
    return _entry(_id("event", event.sha, event.subject, event.kind), title, when, summary, url)


def feed_xml(page: Page, page_url: str = "") -> str:
    """The Atom document; ``page_url`` (http(s)) is the page's address when it is known."""
    now = timeutil.iso(page.now)
    entries = []
    for incident in page.incidents:
        facts = "; ".join(f"{k}: {v}" for k, v in incident.facts)
        url = page.state.incident_url if incident.key == "pipeline/stopped" else ""
        entries.append(_entry(_id("incident", incident.key), f"Incident: {page.title_of(incident)}", now, facts, url))
    for event in list(reversed(page.events))[:MAX_ENTRIES]:
        entries.append(_event_entry(page, event))
    home = safe_url(page_url)
    self_link = f'<link rel="alternate" href="{xml_text(home)}"/>' if home else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{_id('feed', page.repository or 'batch-pipeline')}</id><title>Batch pipeline: incidents and transitions"
        f"</title><updated>{now}</updated><author><name>batchops</name></author>{self_link}"
        + "".join(entries)
        + "</feed>\n"
    )

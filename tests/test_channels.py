"""The delivery wrapper picks the body a service renders, also for multi-format plugins.

Apprise 2.2+ declares several formats on some plugins (``notify_format`` is a tuple, e.g.
``(TEXT, HTML, MARKDOWN)`` for ``json://``); the wrapper asks the plugin which one it
resolves to (its default, or the URL's ``?format=``) instead of comparing the attribute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifier.delivery import channels
from tests.support.receivers import WebhookReceiver

MESSAGE = channels.Message(
    subject="Trade confirmation T-1 · Buy 1 ACME",
    text="the text body\n",
    html="<p>the HTML body</p>\n",
    markdown="**the Markdown body**\n",
    payload={},
)


@pytest.fixture
def json_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(None)  # Apprise's json:// posts unsigned
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", MESSAGE.text), ("?format=markdown", MESSAGE.markdown), ("?format=html", MESSAGE.html)],
)
def test_a_multi_format_service_gets_the_body_it_resolves_to(
    json_receiver: WebhookReceiver, query: str, expected: str
) -> None:
    url = json_receiver.url.replace("http://", "json://") + query
    assert channels.send(url, MESSAGE, message_id="msg_x").ok
    (request,) = json_receiver.wait_for(1)
    assert request.payload["message"] == expected.strip()  # Apprise trims the body
    assert request.payload["title"] == MESSAGE.subject

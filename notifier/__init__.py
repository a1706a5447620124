"""notifier: tell clients, without ambiguity, where and when each trade became final.

The package reads as the path of an event: ``api`` (HTTP) -> ``intake`` (accept, apply the
event rules) -> ``notices`` (plans, the outbox) <- ``worker`` (render, send, retry, relay)
-> ``delivery`` (Apprise, signed webhooks). ``tools`` holds the command line and replay.
"""

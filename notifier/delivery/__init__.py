"""Delivery: the one place that talks to Apprise."""

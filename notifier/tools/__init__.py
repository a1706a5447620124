"""Command-line tools: the `notifier` command and the event-log replay."""

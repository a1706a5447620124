"""Rendering: Jinja2 templates with Babel catalogs and formats."""

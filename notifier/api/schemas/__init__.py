"""Marshmallow schemas of the API: what is loaded and what is answered."""

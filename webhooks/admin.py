"""Webhooks admin pages."""

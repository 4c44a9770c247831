"""Channels admin pages."""

"""Message archive admin pages."""

"""The webhooks' rules: endpoints and their secrets (`endpoints`), delivery (`delivery`)."""

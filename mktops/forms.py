"""Form pieces every feature's admin shares: fields that take keys or secrets never echo them."""

from __future__ import annotations

from django import forms


class WriteOnlyTextarea(forms.Textarea):
    """A textarea for a secret (a private key): the page never carries its value, stored or just
    posted, so neither the browser's cache nor a re-rendered form with errors shows it."""

    def format_value(self, value):
        return None


def forget_posted(form: forms.BaseForm, *names: str) -> None:
    """Re-render the named fields empty: what was posted in them is not sent back to the browser
    (a key refused as private, say). Only the form's copy of the data changes."""
    if not form.is_bound:
        return
    data = form.data.copy()
    for name in names:
        data[form.add_prefix(name)] = ""
    form.data = data

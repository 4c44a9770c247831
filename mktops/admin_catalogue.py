"""Pickers over a tenant's catalogues (event names, user attribute names).

A tenant can grow its catalogue to tens of thousands of names by sending them,
so a picker never lists the catalogue: it is a select2 autocomplete (the
admin's own) whose options come page by page from a JSON endpoint that the
admin page scopes to one tenant. Only the selected names are in the page.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import get_select2_language
from django.http import JsonResponse

PAGE_SIZE = 20
# deeper than this is not picking; it also keeps the OFFSET small
MAX_PAGE = 50


def catalogue_page(request, queryset) -> JsonResponse:
    """One page of `queryset`'s names containing `?term=`, in select2's format."""
    term = request.GET.get("term", "").strip()
    try:
        page = min(MAX_PAGE, max(1, int(request.GET.get("page", "1"))))
    except ValueError:
        page = 1
    if term:
        queryset = queryset.filter(name__icontains=term)
    start = (page - 1) * PAGE_SIZE
    names = list(queryset.order_by("name").values_list("name", flat=True)[start:start + PAGE_SIZE + 1])
    return JsonResponse({
        "results": [{"id": name, "text": name} for name in names[:PAGE_SIZE]],
        "pagination": {"more": len(names) > PAGE_SIZE and page < MAX_PAGE},
    })


class CatalogueAutocomplete(forms.SelectMultiple):
    """A select2 box whose options are fetched from `url`; renders only the selected names.

    `tenant` is sent with every request: the fixed tenant of the object, or, on
    an add form, the value of the form's tenant select (read by the script).
    """

    allow_multiple_selected = True

    def __init__(self, *, url: str = "", tenant: int | None = None, placeholder: str = "", multiple=True,
                 attrs=None):
        super().__init__(attrs)
        self.url, self.tenant, self.placeholder = url, tenant, placeholder
        self.allow_multiple_selected = multiple

    def build_attrs(self, base_attrs, extra_attrs=None):
        attrs = super().build_attrs(base_attrs, extra_attrs)
        attrs.update({
            "class": "catalogue-autocomplete",
            "data-ajax--url": self.url,
            "data-ajax--cache": "true",
            "data-ajax--delay": 250,
            "data-ajax--type": "GET",
            "data-theme": "admin-autocomplete",
            "data-allow-clear": "true",
            "data-placeholder": self.placeholder,
            # an empty select has no width of its own for select2 to copy
            "data-width": "32em" if self.allow_multiple_selected else "16em",
            "data-tenant": "" if self.tenant is None else str(self.tenant),
            "lang": get_select2_language() or "",
        })
        if self.allow_multiple_selected:
            attrs["multiple"] = True
        return attrs

    def optgroups(self, name, value, attrs=None):
        # the selected names only: the rest come from the endpoint as the user types
        selected = [v for v in value if v not in (None, "")]
        self.choices = [("", "")] + [(v, v) for v in selected] if not self.allow_multiple_selected else \
            [(v, v) for v in selected]
        return super().optgroups(name, value, attrs)

    def value_from_datadict(self, data, files, name):
        if self.allow_multiple_selected:
            return super().value_from_datadict(data, files, name)
        return data.get(name)

    def format_value(self, value):
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]

    @property
    def media(self):
        extra = "" if settings.DEBUG else ".min"
        i18n = get_select2_language()
        return forms.Media(
            js=(f"admin/js/vendor/jquery/jquery{extra}.js", f"admin/js/vendor/select2/select2.full{extra}.js",
                *((f"admin/js/vendor/select2/i18n/{i18n}.js",) if i18n else ()),
                "admin/js/jquery.init.js", "mktops/catalogue-autocomplete.js"),
            css={"screen": (f"admin/css/vendor/select2/select2{extra}.css", "admin/css/autocomplete.css")},
        )


class CatalogueNamesField(forms.MultipleChoiceField):
    """Names picked from a catalogue. Whether each exists in the tenant's catalogue is the
    service's rule (it names the unknown ones), so any submitted name passes the form."""

    def valid_value(self, value):
        return True

"""Issue 14 item 10: a path template's errors show the syntax the operator must type, and
templates with line breaks or quotes are refused beside the field."""

import pytest
from django.urls import reverse

from archive.models import ArchiveSettings, Destination
from archive.services.paths import ERR_TEMPLATE_BAD_CHARS, TemplateError, path_template_validate
from tests.archive.conftest import settings_of
from tests.archive.test_admin_settings import form_data, tenant_s3

pytestmark = pytest.mark.django_db


def test_unknown_attribute_error_shows_the_double_brace_syntax():
    with pytest.raises(TemplateError) as err:
        path_template_validate(template="{{db_name}}/{{nope}}_{{id}}.eml", field="email file path")
    text = str(err.value)
    assert "{{cid}}" in text and "{{id}}" in text and "{{alert_id}}" in text
    assert "{cid}," not in text.replace("{{cid}},", "")


@pytest.mark.parametrize("template", [
    "{{db_name}}/{{date}}\r\n/{{id}}.eml",
    "{{db_name}}/{{date}}\n{{id}}.eml",
    '{{db_name}}/"{{id}}".eml',
    "{{db_name}}/'{{id}}'.eml",
])
def test_templates_with_line_breaks_or_quotes_are_refused_beside_the_field(archive_on, as_operator_a, template):
    cfg = settings_of(archive_on)
    url = reverse("admin:archive_archivesettings_change", args=[cfg.pk])
    response = as_operator_a.post(url, form_data(cfg, **tenant_s3(path_template_email=template)))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["path_template_email"] == [
        ERR_TEMPLATE_BAD_CHARS.format(field="email file path")]
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM


def test_the_page_shows_the_error_with_the_valid_syntax(archive_on, as_operator_a):
    cfg = settings_of(archive_on)
    url = reverse("admin:archive_archivesettings_change", args=[cfg.pk])
    page = as_operator_a.post(url, form_data(cfg, **tenant_s3(path_template_email="{{nope}}/{{id}}.eml")))
    assert "{{cid}}" in page.content.decode()

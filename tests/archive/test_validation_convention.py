"""Archive services signal bad input as exports do: Django's ValidationError, with a dict
{field: message} for settings, whose messages are constants the tests import."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from archive.models import Destination, Outcome
from archive.services import config, repair
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of

pytestmark = pytest.mark.django_db


def test_settings_errors_are_a_validation_error_dict_of_field_messages(archive_on):
    cfg = settings_of(archive_on)
    cfg.destination, cfg.sftp_port = Destination.SFTP, 0
    with pytest.raises(ValidationError) as err:
        config.archive_settings_validate(cfg=cfg)
    assert err.value.message_dict["sftp_port"] == [config.ERR_PORT]
    assert err.value.message_dict["sftp_password"] == [config.ERR_SFTP_SECRET]


def test_redelivering_a_stored_message_is_a_validation_error_shown_in_words(archive_on, ingest, s3, as_csm):
    ingest(email_sent_event(1))
    run_all()
    message = message_for("uuid-1")
    assert message.outcome == Outcome.STORED
    with pytest.raises(ValidationError) as err:
        repair.archived_message_redeliver(message=message)
    sentence = repair.ERR_NOT_HELD.format(outcome=message.get_outcome_display().lower())
    assert err.value.messages == [sentence]
    url = reverse("admin:archive_archivedmessage_redeliver", args=[message.pk])
    assert escape(sentence) in as_csm.post(url, follow=True).content.decode()

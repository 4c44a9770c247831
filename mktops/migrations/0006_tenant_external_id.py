"""Every tenant gets its own external id: added nullable, filled one by one (a callable default
would give every existing row the same value), then made unique and required."""

from django.db import migrations, models

import mktops.models


def fill(apps, schema_editor):
    Tenant = apps.get_model("mktops", "Tenant")
    for tenant in Tenant.objects.filter(external_id__isnull=True).only("pk"):
        Tenant.objects.filter(pk=tenant.pk).update(external_id=mktops.models.new_external_id())


class Migration(migrations.Migration):

    dependencies = [
        ("mktops", "0005_event_contact_unchecked"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="external_id",
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="tenant",
            name="external_id",
            field=models.CharField(default=mktops.models.new_external_id, editable=False, max_length=40,
                                   unique=True),
        ),
    ]

from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery


def from_runs(apps, schema_editor):
    """The last file of each connection is the last finished run that wrote an object."""
    ExportConnection = apps.get_model("exports", "ExportConnection")
    ExportRun = apps.get_model("exports", "ExportRun")
    last = (ExportRun.objects.filter(connection=OuterRef("pk"), object_size__gt=0).values("connection")
            .annotate(at=Max("finished_at")).values("at"))
    ExportConnection.objects.update(last_file_at=Subquery(last))


class Migration(migrations.Migration):

    dependencies = [
        ("exports", "0003_worker_lease_owner"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportconnection",
            name="last_file_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last file written"),
        ),
        migrations.RunPython(from_runs, migrations.RunPython.noop),
    ]

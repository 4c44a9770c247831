import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("mktops", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tenant",
            name="archive_file_retention_days",
            field=models.PositiveIntegerField(default=365, validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.AlterField(
            model_name="tenant",
            name="event_retention_days",
            field=models.PositiveIntegerField(default=30, validators=[django.core.validators.MinValueValidator(1)]),
        ),
    ]

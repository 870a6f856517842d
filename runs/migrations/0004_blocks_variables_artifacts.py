# Placeholder in the migration chain; the models of this step are added here by their work.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("runs", "0003_concurrency_limits")]
    operations = []

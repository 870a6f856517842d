# Blocks, variables and artifacts (issue 7).
import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("runs", "0003_concurrency_limits")]
    operations = [
        migrations.CreateModel(
            name='BlockType',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=255, unique=True)),
                ('slug', models.CharField(max_length=255, unique=True)),
                ('logo_url', models.TextField(blank=True, null=True)),
                ('documentation_url', models.TextField(blank=True, null=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('code_example', models.TextField(blank=True, null=True)),
                ('is_protected', models.BooleanField(default=False)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Variable',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=255, unique=True)),
                ('value', models.JSONField(blank=True, null=True)),
                ('tags', models.JSONField(blank=True, default=list)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Artifact',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('key', models.CharField(blank=True, max_length=255, null=True)),
                ('type', models.CharField(blank=True, max_length=64, null=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('data', models.JSONField(blank=True, null=True)),
                ('metadata', models.JSONField(blank=True, null=True)),
                ('flow_run_id', models.UUIDField(blank=True, db_index=True, null=True)),
                ('task_run_id', models.UUIDField(blank=True, db_index=True, null=True)),
            ],
            options={
                'ordering': ['-created'],
                'indexes': [models.Index(fields=['key', '-created'], name='artifact_key_created_idx')],
            },
        ),
        migrations.CreateModel(
            name='ArtifactCollection',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('key', models.CharField(max_length=255, unique=True)),
                ('type', models.CharField(blank=True, max_length=64, null=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('data', models.JSONField(blank=True, null=True)),
                ('metadata', models.JSONField(blank=True, null=True)),
                ('flow_run_id', models.UUIDField(blank=True, null=True)),
                ('task_run_id', models.UUIDField(blank=True, null=True)),
                ('latest', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='runs.artifact')),
            ],
            options={
                'ordering': ['key'],
            },
        ),
        migrations.CreateModel(
            name='BlockSchema',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('checksum', models.CharField(max_length=255)),
                ('fields', models.JSONField(blank=True, default=dict)),
                ('capabilities', models.JSONField(blank=True, default=list)),
                ('version', models.CharField(default='non-versioned', max_length=255)),
                ('block_type', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='schemas', to='runs.blocktype')),
            ],
            options={
                'ordering': ['-created'],
            },
        ),
        migrations.CreateModel(
            name='BlockDocument',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=255)),
                ('encrypted_data', models.TextField()),
                ('is_anonymous', models.BooleanField(default=False)),
                ('block_schema', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='documents', to='runs.blockschema')),
                ('block_type', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='documents', to='runs.blocktype')),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='BlockDocumentReference',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=255)),
                ('parent_block_document', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='references', to='runs.blockdocument')),
                ('reference_block_document', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='referenced_by', to='runs.blockdocument')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('parent_block_document', 'name'), name='block_reference_unique_name')],
            },
        ),
        migrations.AddConstraint(
            model_name='blockschema',
            constraint=models.UniqueConstraint(fields=('checksum', 'version'), name='block_schema_unique_checksum_version'),
        ),
        migrations.AddConstraint(
            model_name='blockdocument',
            constraint=models.UniqueConstraint(fields=('block_type', 'name'), name='block_document_unique_type_name'),
        ),
    ]

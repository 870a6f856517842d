from django.db import models

from .base import TimestampedModel


class BlockType(TimestampedModel):
    """A kind of block (Secret, S3 bucket...): what the client registers before saving one."""

    name = models.CharField(max_length=255, unique=True)
    slug = models.CharField(max_length=255, unique=True)
    logo_url = models.TextField(null=True, blank=True)
    documentation_url = models.TextField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    code_example = models.TextField(null=True, blank=True)
    # Protected types belong to the server: their metadata cannot be changed and they cannot be deleted.
    is_protected = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class BlockSchema(TimestampedModel):
    """One version of a block type's fields (a JSON schema), identified by its checksum."""

    checksum = models.CharField(max_length=255)
    fields = models.JSONField(default=dict, blank=True)
    block_type = models.ForeignKey(BlockType, on_delete=models.CASCADE, related_name="schemas")
    capabilities = models.JSONField(default=list, blank=True)
    version = models.CharField(max_length=255, default="non-versioned")

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["checksum", "version"], name="block_schema_unique_checksum_version"),
        ]

    def __str__(self):
        return f"{self.block_type_id} {self.checksum[:19]} ({self.version})"


class BlockDocument(TimestampedModel):
    """Saved block values. `encrypted_data` holds the whole JSON document encrypted at rest."""

    name = models.CharField(max_length=255)
    encrypted_data = models.TextField()
    block_schema = models.ForeignKey(BlockSchema, on_delete=models.CASCADE, related_name="documents")
    block_type = models.ForeignKey(BlockType, on_delete=models.CASCADE, related_name="documents")
    is_anonymous = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["block_type", "name"], name="block_document_unique_type_name"),
        ]

    def __str__(self):
        return self.name


class BlockDocumentReference(TimestampedModel):
    """A field of one block document that points at another (nested blocks)."""

    name = models.CharField(max_length=255)
    parent_block_document = models.ForeignKey(BlockDocument, on_delete=models.CASCADE, related_name="references")
    reference_block_document = models.ForeignKey(
        BlockDocument, on_delete=models.CASCADE, related_name="referenced_by"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent_block_document", "name"], name="block_reference_unique_name"),
        ]

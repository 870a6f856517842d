"""Admin for blocks, variables and artifacts. Block document data stays encrypted here: the admin
shows names and types only, never the data column, so secrets cannot leak through it."""

from django.contrib import admin

from .models import Artifact, ArtifactCollection, BlockDocument, BlockSchema, BlockType, Variable


@admin.register(BlockType)
class BlockTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_protected", "updated")
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created", "updated")


@admin.register(BlockSchema)
class BlockSchemaAdmin(admin.ModelAdmin):
    list_display = ("block_type", "checksum", "version", "created")
    list_select_related = ("block_type",)
    search_fields = ("checksum", "block_type__name")
    readonly_fields = ("id", "created", "updated", "checksum", "fields", "block_type", "capabilities", "version")


@admin.register(BlockDocument)
class BlockDocumentAdmin(admin.ModelAdmin):
    list_display = ("name", "block_type", "is_anonymous", "updated")
    list_select_related = ("block_type",)
    list_filter = ("is_anonymous", "block_type")
    search_fields = ("name",)
    exclude = ("encrypted_data",)  # edit values on the dashboard, where secrets stay masked
    readonly_fields = ("id", "created", "updated", "block_schema", "block_type")


@admin.register(Variable)
class VariableAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "updated")
    search_fields = ("name",)
    readonly_fields = ("id", "created", "updated")


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_display = ("key", "type", "flow_run_id", "created")
    list_filter = ("type",)
    search_fields = ("key", "id", "flow_run_id")
    readonly_fields = ("id", "created", "updated")


@admin.register(ArtifactCollection)
class ArtifactCollectionAdmin(admin.ModelAdmin):
    list_display = ("key", "type", "latest", "updated")
    search_fields = ("key",)
    raw_id_fields = ("latest",)
    readonly_fields = ("id", "created", "updated")

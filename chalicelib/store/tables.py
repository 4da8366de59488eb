"""Tables derived from the PynamoDB models: created locally, emitted as CloudFormation."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.store.models import ALL_MODELS


def create_tables() -> list[str]:
    """Create every missing table (the local stack and tests). Returns the names created."""
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            ttl = _ttl_attribute(model)
            if ttl:
                spec = {"Enabled": True, "AttributeName": ttl}
                model._get_connection().connection.client.update_time_to_live(
                    TableName=model.Meta.table_name, TimeToLiveSpecification=spec
                )
            created.append(model.Meta.table_name)
    return created


def _ttl_attribute(model: type[Model]) -> str | None:
    return next((attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)), None)


def cloudformation_resources(prefix: str) -> dict[str, Any]:
    """`AWS::DynamoDB::Table` resources; table names follow `TABLE_PREFIX` = `<stack name>-`."""
    return {_logical_id(model): _table_resource(model, prefix) for model in ALL_MODELS}


def _logical_id(model: type[Model]) -> str:
    return model.__name__.removesuffix("Model") + "Table"


def _table_resource(model: type[Model], prefix: str) -> dict[str, Any]:
    schema = model._get_schema()
    short_name = model.Meta.table_name.removeprefix(prefix)
    properties: dict[str, Any] = {
        "TableName": {"Fn::Sub": "${AWS::StackName}-" + short_name},
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": _hash_first(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    indexes = [
        {"IndexName": gsi["index_name"], "KeySchema": _hash_first(gsi["key_schema"]), "Projection": gsi["projection"]}
        for gsi in schema.get("global_secondary_indexes", [])
    ]
    if indexes:
        properties["GlobalSecondaryIndexes"] = indexes
    ttl = _ttl_attribute(model)
    if ttl:
        properties["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": ttl}
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        properties["StreamSpecification"] = {"StreamViewType": stream}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _hash_first(key_schema: list[Any]) -> list[Any]:
    """CloudFormation wants HASH before RANGE; PynamoDB lists them in no fixed order."""
    return sorted(key_schema, key=lambda key: key["KeyType"] != "HASH")

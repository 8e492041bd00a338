"""The parts of a project model: system options, server addresses, groups, users, bindings,
restrictions, objects, pages (pydantic, frozen, ``extra="forbid"``)."""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from domogate.core.fields import (
    BindingKey,
    CloudAddress,
    Description,
    Dpt,
    ExternalAddress,
    Fingerprint,
    GroupName,
    Host,
    Icon,
    KnxAddress,
    Label,
    PasswordHash,
    Slug,
    UserName,
)

# --- models --------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        """An empty section in YAML (``users:`` with nothing after it) means its default."""
        if isinstance(data, dict):
            sections = _section_keys(cls)
            if any(data.get(k, ...) is None for k in sections):
                return {k: v for k, v in data.items() if not (k in sections and v is None)}
        return data


@functools.cache
def _section_keys(model: type[BaseModel]) -> frozenset[str]:
    """Fields holding a mapping, list or model that have a default and do not take null."""
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if field.is_required() or type(None) in get_args(annotation):
            continue
        if get_origin(annotation) in (list, dict) or (
            isinstance(annotation, type) and issubclass(annotation, BaseModel)
        ):
            keys.add(name)
    return frozenset(keys)


class ConnectionPolicy(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"
    LOCAL_AND_CLOUD = "local_and_cloud"


class ObjectType(StrEnum):
    SWITCH = "switch"
    DIMMER = "dimmer"
    SHUTTER = "shutter"
    THERMOSTAT = "thermostat"
    SCENE = "scene"
    SENSOR = "sensor"


class CloudOptions(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, strict=True)
    password: str | None = Field(default=None, repr=False)  # sent to the cloud, never logged
    connection_policy: ConnectionPolicy = ConnectionPolicy.LOCAL
    address: CloudAddress | None = None  # HOST[:PORT] of the cloud, port 7443 by default
    fingerprint: Fingerprint | None = None  # SHA-256 of the cloud's certificate, when pinned


class SystemOptions(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    password: PasswordHash | None = None
    vnc_password: str | None = None
    use_otp_authentication: bool = Field(default=True, strict=True)
    automatic_authentication: bool = Field(default=True, strict=True)
    automatic_connection: bool = Field(default=True, strict=True)
    automatic_server_update: bool = Field(default=False, strict=True)
    cloud: CloudOptions = Field(default_factory=CloudOptions)


class ServerAddresses(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: Host = "127.0.0.1"
    port: int = Field(default=7550, ge=1, le=65535, strict=True)
    external_address: ExternalAddress | None = None


class Group(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: GroupName
    description: Description = ""


class ProjectUser(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: UserName
    group: str
    admin: bool = Field(default=False, strict=True)
    password: PasswordHash | None = None


class Binding(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: KnxAddress
    dpt: Dpt | None = None


class Restrictions(Model):
    """Which groups see and operate an object; ``None`` means every group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    visible_to: list[str] | None = None
    operable_by: list[str] | None = None

    @field_validator("operable_by")
    @classmethod
    def _operable_within_visible(cls, value: list[str] | None, info: ValidationInfo) -> Any:
        visible = info.data.get("visible_to")
        if value is not None and visible is not None:
            hidden = [g for g in value if g not in visible]
            if hidden:
                raise PydanticCustomError(
                    "operable_not_visible",
                    "must be a subset of visible_to: {groups} may not see the object, "
                    "so they cannot operate it",
                    {"groups": ", ".join(repr(g) for g in hidden)},
                )
        return value


class ProjectObject(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: Label
    type: ObjectType
    page: str
    bindings: dict[BindingKey, Binding] = Field(default_factory=dict)
    restrictions: Restrictions = Field(default_factory=Restrictions)


class Page(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: Label
    icon: Icon | None = None

"""Field types of the project model: names, labels, hosts, KNX addresses, datapoint types,
password hashes (pydantic ``Annotated`` types with their checks)."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

# --- field types -------------------------------------------------------------------

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_GROUP_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_BINDING_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DPT_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{3})?")
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST_PORT_RE = re.compile(r"(?P<host>.+):(?P<port>[0-9]{1,5})")
_ARGON2ID_PREFIX = "$argon2id$"

HASH_FORMAT_CHECK = "domogate_hash_format"
"""Validation context key: a ``(hash) -> bool`` that checks an Argon2id hash's format (the
parameters, salt and hash lengths); injected by the adapter that loads projects, since the
Argon2 library lives at the edge. Without it only the ``$argon2id$`` prefix is checked."""


def _check_slug(value: str) -> str:
    if not _SLUG_RE.fullmatch(value):
        raise PydanticCustomError(
            "slug",
            "must be 1-64 characters among lowercase letters a-z, digits, '-' and '_', "
            "starting with a letter or digit (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_group_name(value: str) -> str:
    if not _GROUP_RE.fullmatch(value):
        raise PydanticCustomError(
            "group_name",
            "must be 1-64 characters among letters, digits, '_', '.' and '-' (got {value})",
            {"value": repr(value)},
        )
    return value


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


def _label_checker(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("label_empty", "must not be empty")
        if len(value) > max_length:
            raise PydanticCustomError(
                "label_too_long",
                "must be at most {max} characters (got {length})",
                {"max": max_length, "length": len(value)},
            )
        if _has_control_characters(value):
            raise PydanticCustomError(
                "label_control", "must not contain control characters (tabs, line breaks, ...)"
            )
        return value

    return check


def _text_checker(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_length:
            raise PydanticCustomError(
                "text_too_long",
                "must be at most {max} characters (got {length})",
                {"max": max_length, "length": len(value)},
            )
        if _has_control_characters(value.replace("\n", "")):
            raise PydanticCustomError(
                "text_control", "must not contain control characters other than line breaks"
            )
        return value

    return check


def _check_password_hash(value: str, info: ValidationInfo) -> str:
    # Never echo the value: it may be a password typed in clear by mistake.
    if not value.startswith(_ARGON2ID_PREFIX):
        raise PydanticCustomError(
            "password_not_hashed",
            "must be an Argon2id hash ('$argon2id$...'), never a password in clear; "
            "set it with `domogate project password DIR` (service password) or "
            "`domogate project user password DIR NAME` (user password)",
        )
    well_formed: Callable[[str], bool] | None = (info.context or {}).get(HASH_FORMAT_CHECK)
    if well_formed is not None and not well_formed(value):
        raise PydanticCustomError(
            "password_hash_malformed",
            "is not a well-formed Argon2id hash; set it again with `domogate project password "
            "DIR` or `domogate project user password DIR NAME`",
        )
    return value


def _is_host_name(value: str) -> bool:
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    return all(_HOST_LABEL_RE.fullmatch(label) for label in name.split("."))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_host(value: str) -> str:
    if not (_is_ip(value) or _is_host_name(value)):
        raise PydanticCustomError(
            "host",
            "must be an IP address or a host name such as 'panel.local' (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_external_address(value: str) -> str:
    if _is_ip(value) or _is_host_name(value):
        return value
    match = _HOST_PORT_RE.fullmatch(value)
    if match:
        host, port = match["host"], int(match["port"])
        if host.startswith("[") and host.endswith("]"):
            host_ok = _is_ip(host[1:-1]) and ":" in host
        else:
            host_ok = (_is_ip(host) and ":" not in host) or _is_host_name(host)
        if host_ok and 1 <= port <= 65535:
            return value
    raise PydanticCustomError(
        "external_address",
        "must be a host name or IP address, optionally with ':PORT' "
        "(e.g. 'home.example.org' or 'home.example.org:8443') (got {value})",
        {"value": repr(value)},
    )


def _check_cloud_address(value: str) -> str:
    try:
        return _check_external_address(value)
    except PydanticCustomError:
        raise PydanticCustomError(
            "cloud_address",
            "must be the cloud's HOST or HOST:PORT (port 7443 when not given), "
            "e.g. 'cloud.example.org' or '127.0.0.1:7443' (got {value})",
            {"value": repr(value)},
        ) from None


def _check_fingerprint(value: str) -> str:
    canonical = "".join(c for c in value if c not in ": -").lower()
    if len(canonical) != 64 or any(c not in "0123456789abcdef" for c in canonical):
        raise PydanticCustomError(
            "fingerprint",
            "must be the SHA-256 fingerprint of the cloud's certificate: 64 hexadecimal "
            "digits, colons allowed (see `domogate cloud info`) (got {value})",
            {"value": repr(value)},
        )
    return canonical


def _number_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _dpt_number_to_str(value: Any) -> Any:
    # YAML reads an unquoted 9.001 as a number; DPT sub-numbers always have three digits.
    if isinstance(value, float):
        return f"{value:.3f}"
    return _number_to_str(value)


def _check_knx_address(value: str) -> str:
    parts = value.split("/")
    ok = all(p.isascii() and p.isdigit() for p in parts)
    if ok:
        numbers = [int(p) for p in parts]
        if len(numbers) == 3:
            ok = numbers[0] <= 31 and numbers[1] <= 7 and numbers[2] <= 255
        elif len(numbers) == 2:
            ok = numbers[0] <= 31 and numbers[1] <= 2047
        elif len(numbers) == 1:
            ok = numbers[0] <= 65535
        else:
            ok = False
    if not ok:
        raise PydanticCustomError(
            "knx_address",
            "must be a KNX group address: 'main/middle/sub' (0-31/0-7/0-255), "
            "'main/sub' (0-31/0-2047) or a free number 0-65535 (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_dpt(value: str) -> str:
    if not _DPT_RE.fullmatch(value):
        raise PydanticCustomError(
            "dpt",
            "must be a KNX datapoint type such as '1.001', '5.001', '9.001' or '1' "
            "(quote it in YAML) (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_binding_key(value: str) -> str:
    if not _BINDING_KEY_RE.fullmatch(value):
        raise PydanticCustomError(
            "binding_key",
            "binding names are 1-32 characters among lowercase letters, digits and '_', "
            "starting with a letter, such as 'command', 'state' or 'position' (got {value})",
            {"value": repr(value)},
        )
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]
GroupName = Annotated[str, AfterValidator(_check_group_name)]
UserName = Annotated[str, AfterValidator(_label_checker(64))]
Label = Annotated[str, AfterValidator(_label_checker(100))]
Description = Annotated[str, AfterValidator(_text_checker(500))]
Icon = Annotated[str, AfterValidator(_label_checker(64))]
PasswordHash = Annotated[str, AfterValidator(_check_password_hash)]
Host = Annotated[str, AfterValidator(_check_host)]
ExternalAddress = Annotated[str, AfterValidator(_check_external_address)]
CloudAddress = Annotated[str, AfterValidator(_check_cloud_address)]
Fingerprint = Annotated[str, AfterValidator(_check_fingerprint)]  # stored lower-case hex
KnxAddress = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(_check_knx_address)]
Dpt = Annotated[str, BeforeValidator(_dpt_number_to_str), AfterValidator(_check_dpt)]
BindingKey = Annotated[str, AfterValidator(_check_binding_key)]

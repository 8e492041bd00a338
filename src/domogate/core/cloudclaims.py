"""Who may hold an installation name at a cloud: the claim rule of a control link, pure.

A name is *claimed* once a server key is bound to it. Then only that key links (its
signature is the proof; no password), and any other key is refused whatever the password
(:class:`~domogate.errors.CloudTaken`) until the operator releases the name. An unclaimed
name is claimed with a password: on an open cloud the first server to present one claims
the name (the password becomes the installation's cloud password); on an invite-only cloud
only names the operator added can be claimed, with the operator's password
(``docs/cloud.md``, "Claiming").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domogate.errors import CloudClaimRequired, CloudNotInvited, CloudTaken


@dataclass(frozen=True)
class Installation:
    """One installation name at a cloud (a row of ``installations``)."""

    name: str
    password_hash: str | None  # Argon2id; None only for a row being created
    public_key: str | None  # B64URL raw Ed25519; None until claimed
    invited: bool  # added by the operator (``cloud installations add``)
    created_at: datetime
    claimed_at: datetime | None = None
    last_linked_at: datetime | None = None
    last_source: str | None = None

    @property
    def claimed(self) -> bool:
        return self.public_key is not None


@dataclass(frozen=True)
class CloudAuditEvent:
    """One row of ``cloud_audit``: what happened, to which name, from which address.
    ``detail`` never holds a secret (no password, no key material beyond public keys)."""

    at: datetime
    event: str  # e.g. "link", "claim", "claim_refused", "password_invalid", "release"
    name: str | None
    source: str | None
    detail: dict[str, Any] = field(default_factory=dict)


class LinkStep(enum.Enum):
    """What a valid hello (good signature) leads to."""

    OWNER = "owner"  # the name's own key: link, no password needed
    CLAIM_OPEN = "claim_open"  # an unclaimed, unknown name on an open cloud: claim it
    CLAIM_INVITED = "claim_invited"  # a name the operator added: check its password


def link_step(
    record: Installation | None, public_key: str, *, has_password: bool, invite_only: bool
) -> LinkStep:
    """The next step for a hello whose signature checked out, or the refusal (raised):
    :class:`CloudTaken`, :class:`CloudNotInvited`, :class:`CloudClaimRequired`. Passwords are
    not looked at here: the caller throttles, then verifies them."""
    if record is not None and record.claimed:
        if record.public_key == public_key:
            return LinkStep.OWNER
        raise CloudTaken()
    invited = record is not None and record.invited
    if invite_only and not invited:
        raise CloudNotInvited()
    if not has_password:
        raise CloudClaimRequired()
    return LinkStep.CLAIM_INVITED if invited else LinkStep.CLAIM_OPEN

"""Who may call an endpoint: the one declaration per route that the registry enforces
(server/api/auth.py) and the OpenAPI document lists as the route's security
(server/api/openapi.py). Handlers never check credentials themselves.

A scheme names one kind of credential:

- ``admin`` / ``auditor``: a staff API key of that role, for any consult;
- ``physician`` / ``guardian``: a join link of that role, for the consult in the path
  (``{consult_id}``) — or, where the route says ``any_consult``, for whichever consult it names;
- ``capture``: the one-time capture token of a photo request of the consult in the path;
- ``replay_grant``: an auditor's playback grant for the consult in the path, in ``?grant=``
  (media elements and downloads cannot send an Authorization header).

No scheme at all is a public route.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from server.kernel.tokens import Role

Scheme = Literal["admin", "auditor", "physician", "guardian", "capture", "replay_grant"]
SCHEMES: tuple[Scheme, ...] = get_args(Scheme)
STAFF_SCHEMES: tuple[Scheme, ...] = ("admin", "auditor")
PARTICIPANT_SCHEMES: tuple[Scheme, ...] = ("physician", "guardian")
CONSULT_PARAM = "consult_id"
"""The path parameter that names the consult a link, capture token or grant must be for."""


class IncoherentAccess(ValueError):
    """A route declares access that cannot be enforced: found when the module is imported."""


@dataclass(frozen=True)
class Access:
    schemes: tuple[Scheme, ...] = ()
    # A join link for any consult is enough: only for the route that tells a link's holder
    # who they are (the link itself names the consult).
    any_consult: bool = False

    @property
    def public(self) -> bool:
        return not self.schemes

    @property
    def staff(self) -> tuple[str, ...]:
        return tuple(s for s in self.schemes if s in STAFF_SCHEMES)

    @property
    def participants(self) -> tuple[Role, ...]:
        return tuple(Role(s) for s in self.schemes if s in PARTICIPANT_SCHEMES)

    @property
    def capture(self) -> bool:
        return "capture" in self.schemes

    @property
    def replay_grant(self) -> bool:
        return "replay_grant" in self.schemes

    def check(self, path: str) -> None:
        """Refuse a declaration the registry could not enforce as written."""
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown:
            raise IncoherentAccess(f"{path}: unknown auth scheme(s) {unknown}")
        if self.capture and len(self.schemes) > 1:
            raise IncoherentAccess(f"{path}: a capture token is the only credential of its "
                                   "route (it is read from the same header as the others)")
        if self.any_consult and (self.capture or self.replay_grant):
            raise IncoherentAccess(f"{path}: capture tokens and grants are for one consult")
        bound = self.capture or self.replay_grant or (self.participants
                                                      and not self.any_consult)
        in_path = CONSULT_PARAM in re.findall(r"{(\w+)}", path)
        if bound and not in_path:
            raise IncoherentAccess(f"{path}: {self.schemes} must be checked against the "
                                   f"consult in the path, which has no {{{CONSULT_PARAM}}}")
        if self.any_consult and in_path:
            raise IncoherentAccess(f"{path}: a route of one consult cannot take any "
                                   "consult's link")

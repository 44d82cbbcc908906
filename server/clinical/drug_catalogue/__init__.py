"""The controlled-drug catalogue (data: national.toml) and how prescribed names are
matched against it."""

from server.clinical.drug_catalogue.catalogue import (
    CATALOGUE_CLASSES,
    LOCAL_SOURCE,
    RULES,
    CatalogueEntry,
    DrugCatalogue,
    Source,
    national_catalogue,
)
from server.clinical.drug_catalogue.matching import CatalogueMatch, DrugMatcher, compact

__all__ = ["CATALOGUE_CLASSES", "LOCAL_SOURCE", "RULES", "CatalogueEntry", "CatalogueMatch",
           "DrugCatalogue", "DrugMatcher", "Source", "compact", "national_catalogue"]

"""Campaign terms from a TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from domain.terms import CampaignTerms


class CampaignFileError(ValueError):
    pass


def load_terms(path: Path) -> CampaignTerms:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CampaignFileError(f"campaign file {path} not found") from None
    except (IsADirectoryError, UnicodeDecodeError) as error:
        raise CampaignFileError(f"campaign file {path} is not a TOML text file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise CampaignFileError(f"campaign file {path} is not valid TOML: {error}") from None
    try:
        return CampaignTerms.model_validate(data.get("campaign", data))
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise CampaignFileError(f"campaign file {path}: {details}") from None

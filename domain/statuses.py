"""Statuses shown to installers, their labels, and the reason codes."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PAYMENT_PENDING = "PAYMENT_PENDING"
    DOCS_REQUIRED = "DOCS_REQUIRED"
    DOCS_UPLOADED = "DOCS_UPLOADED"
    PAID = "PAID"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    """Why a device is rejected or needs documents."""

    UNKNOWN_SERIAL = "UNKNOWN_SERIAL"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    OUTSIDE_VALIDITY_PERIOD = "OUTSIDE_VALIDITY_PERIOD"
    INSTALLED_IN_FUTURE = "INSTALLED_IN_FUTURE"
    TYPE_NOT_ELIGIBLE = "TYPE_NOT_ELIGIBLE"
    COMPANY_NOT_ENROLLED = "COMPANY_NOT_ENROLLED"
    REGISTERED_LATE = "REGISTERED_LATE"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"
    DOCS_NOT_PROVIDED = "DOCS_NOT_PROVIDED"
    DOCS_REFUSED = "DOCS_REFUSED"


LABELS: dict[str, dict[Status, str]] = {
    "fr": {
        Status.PAYMENT_PENDING: "Enregistrement réussi, paiement en attente",
        Status.DOCS_REQUIRED: "Informations supplémentaires requises : téléchargez le fichier",
        Status.DOCS_UPLOADED: "Documents reçus, vérification en cours",
        Status.PAID: "Appareil enregistré – paiement effectué",
        Status.REJECTED: (
            "Enregistrement impossible – l'appareil {type} avec le numéro de série "
            "{serial} n'est pas éligible au Cashback ou n'existe pas"
        ),
    },
    "en": {
        Status.PAYMENT_PENDING: "Registration successful, payment pending",
        Status.DOCS_REQUIRED: "Additional information required: please upload the file",
        Status.DOCS_UPLOADED: "Documents received, verification in progress",
        Status.PAID: "Device registered – payment made",
        Status.REJECTED: (
            "Registration not possible – the device {type} with serial number "
            "{serial} is not eligible for the cashback or does not exist"
        ),
    },
}

REASON_TEXTS: dict[str, dict[Reason, str]] = {
    "fr": {
        Reason.UNKNOWN_SERIAL: "numéro de série inconnu (faute de frappe ?)",
        Reason.TYPE_MISMATCH: "le numéro de série ne correspond pas au type d'appareil",
        Reason.OUTSIDE_VALIDITY_PERIOD: "installation hors de la période de validité",
        Reason.INSTALLED_IN_FUTURE: "date d'installation dans le futur (faute de frappe ?)",
        Reason.TYPE_NOT_ELIGIBLE: "type d'appareil non éligible",
        Reason.COMPANY_NOT_ENROLLED: "entreprise non inscrite à la campagne",
        Reason.REGISTERED_LATE: "enregistrement après la date limite",
        Reason.ALREADY_CLAIMED: "appareil déjà enregistré par une autre entreprise",
        Reason.DOCS_NOT_PROVIDED: "documents non fournis dans le délai",
        Reason.DOCS_REFUSED: "documents refusés lors de la vérification",
    },
    "en": {
        Reason.UNKNOWN_SERIAL: "unknown serial number (typo?)",
        Reason.TYPE_MISMATCH: "serial number and device type do not match",
        Reason.OUTSIDE_VALIDITY_PERIOD: "installed outside the validity period",
        Reason.INSTALLED_IN_FUTURE: "installation date in the future (typo?)",
        Reason.TYPE_NOT_ELIGIBLE: "device type not eligible",
        Reason.COMPANY_NOT_ENROLLED: "company not enrolled in the campaign",
        Reason.REGISTERED_LATE: "registered after the deadline",
        Reason.ALREADY_CLAIMED: "device already registered by another company",
        Reason.DOCS_NOT_PROVIDED: "documents not provided in time",
        Reason.DOCS_REFUSED: "documents refused at review",
    },
}


def label(status: Status | str, *, device_type: str, serial: str, language: str = "fr") -> str:
    """The portal label of a status, in the portal language."""
    template = LABELS[language][Status(status)]
    return template.format(type=device_type, serial=serial)


def reason_text(code: str | None, language: str = "fr") -> str:
    if not code:
        return ""
    try:
        return REASON_TEXTS[language][Reason(code)]
    except ValueError:
        return code

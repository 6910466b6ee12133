"""The texts of the document-request and reminder e-mails, in French (default) or English."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cashback.documents import document_name
from domain.terms import CampaignTerms, RuleKind

#: Documents-rule codes of the campaign files, as installers should read them.
RULE_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "SOLD_IN_OTHER_COUNTRY": "l'appareil a été vendu dans un autre pays que celui de la campagne",
        "OLD_STOCK": "l'appareil provient d'un stock ancien (fabriqué avant la date prévue par la campagne)",
        "INSTALLED_LONG_AFTER_PRODUCTION": "l'appareil a été installé longtemps après sa fabrication",
        "TYPE_NEEDS_PROOF": "ce type d'appareil demande un justificatif",
    },
    "en": {
        "SOLD_IN_OTHER_COUNTRY": "the device was sold in another country than the campaign's",
        "OLD_STOCK": "the device comes from old stock (produced before the campaign's cut-off date)",
        "INSTALLED_LONG_AFTER_PRODUCTION": "the device was installed long after it was produced",
        "TYPE_NEEDS_PROOF": "this device type needs a proof",
    },
}


def rule_text(code: str, language: str = "fr", terms: CampaignTerms | None = None) -> str:
    """Human text of a documents-rule code: the mapping, else the rule's kind in the terms, else readable."""
    texts = RULE_TEXTS.get(language, RULE_TEXTS["fr"])
    if code in texts:
        return texts[code]
    rule = next((r for r in terms.documents_rules if r.code == code), None) if terms else None
    if rule is not None:
        fr = language == "fr"
        if rule.kind is RuleKind.SOLD_IN_OTHER_COUNTRY:
            return texts["SOLD_IN_OTHER_COUNTRY"]
        if rule.kind is RuleKind.PRODUCED_BEFORE and rule.before:
            return (f"l'appareil a été fabriqué avant le {rule.before:%d/%m/%Y}" if fr
                    else f"the device was produced before {rule.before:%d/%m/%Y}")
        if rule.kind is RuleKind.INSTALLED_LONG_AFTER_PRODUCTION and rule.days:
            return (f"l'appareil a été installé plus de {rule.days} jours après sa fabrication" if fr
                    else f"the device was installed more than {rule.days} days after it was produced")
        if rule.kind is RuleKind.DEVICE_TYPE_IN:
            return texts["TYPE_NEEDS_PROOF"]
    readable = code.replace("_", " ").strip().lower()
    return (f"vérification complémentaire nécessaire ({readable})" if language == "fr"
            else f"additional check needed ({readable})")


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    body: str


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}".replace(",", " ").replace(".", ",") + " €"


def _limit(n: int, language: str) -> str:
    mib = n / (1024 * 1024)
    unit = "Mo" if language == "fr" else "MB"
    return f"{mib:g} {unit}" if mib >= 1 else f"{n // 1024} {'ko' if language == 'fr' else 'kB'}"


def _city(tz: str) -> str:
    return tz.rsplit("/", 1)[-1].replace("_", " ")


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)


def render(
    *,
    reminder: bool,
    language: str,
    terms: CampaignTerms,
    company: str,
    device_type: str,
    serial: str,
    documents: Sequence[str],
    reasons: Sequence[str],
    deadline: date,
    amount_cents: int,
    upload_url: str,
    max_upload_bytes: int = 10 * 1024 * 1024,
) -> MailText:
    """Subject and plain-text body of a document request (or its reminder)."""
    docs = [document_name(d, language) for d in documents]
    why = [rule_text(code, language, terms) for code in reasons]
    day = f"{deadline:%d/%m/%Y}"
    city = _city(terms.timezone)
    values: dict[str, Any] = {
        "company": company, "type": device_type, "serial": serial, "campaign": terms.name, "day": day,
        "city": city, "docs": _bullets(docs), "why": _bullets(why), "url": upload_url,
        "amount": _money(amount_cents), "limit": _limit(max_upload_bytes, language),
    }
    if language == "en":
        subject = (f"Reminder: documents needed by {day} for device {device_type} {serial}" if reminder
                   else f"Cashback: documents needed for device {device_type}, serial {serial}")
        intro = ("This is a reminder: we have not yet received the documents for your device "
                 if reminder else "You registered the device ")
        body = (
            "Hello {company},\n\n"
            + intro + "{type} with serial number {serial} in the campaign \"{campaign}\".\n\n"
            "To confirm the cashback of {amount}, please send us:\n{docs}\n\n"
            "Why:\n{why}\n\n"
            "Upload them by {day} at the latest (documents are accepted until 23:59 {city} time on that day) at:\n"
            "  {url}\n"
            "Accepted formats: PDF, JPEG or PNG, {limit} at most per file.\n\n"
            "Without these documents by that date the registration will be rejected.\n\n"
            "Kind regards,\nThe cashback team\n"
        )
    else:
        subject = (f"Rappel : documents à fournir avant le {day} pour l'appareil {device_type} n° {serial}"
                   if reminder else f"Cashback : documents requis pour l'appareil {device_type} n° {serial}")
        intro = ("Nous n'avons pas encore reçu les documents de votre appareil "
                 if reminder else "Vous avez enregistré l'appareil ")
        body = (
            "Bonjour {company},\n\n"
            + intro + "{type} avec le numéro de série {serial} dans la campagne « {campaign} ».\n\n"
            "Pour valider le Cashback de {amount}, merci de nous transmettre :\n{docs}\n\n"
            "Motif :\n{why}\n\n"
            "Téléchargez-les au plus tard le {day} (documents acceptés jusqu'à 23h59, heure de {city}) sur :\n"
            "  {url}\n"
            "Formats acceptés : PDF, JPEG ou PNG, {limit} au maximum par fichier.\n\n"
            "Sans ces documents à cette date, l'enregistrement sera refusé.\n\n"
            "Cordialement,\nL'équipe Cashback\n"
        )
    return MailText(subject=subject, body=body.format(**values))

"""The texts of the privacy page (``collector.privacy.page``), in English and French.

Every language has the same keys. A text is plain and short; ``{name}`` fields are filled by the
page. ``SAME_IN_BOTH`` lists the few keys whose text is the same word in both languages, so a test
can tell a text left untranslated from one that needs no translation.
"""

from __future__ import annotations

import re

from collector.privacy.rights import PURPOSES, RECIPIENTS

DEFAULT_LANGUAGE = "en"
MAX_LANGUAGE_RANGES = 20
NBSP = "\u00a0"  # French puts a non-breaking space before : ; ? !


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _french(texts: dict[str, str]) -> dict[str, str]:
    """French typography: a non-breaking space before : ; ? ! (written as a plain one here)."""
    return {key: re.sub(r" ([:;?!])", NBSP + r"\1", text) for key, text in texts.items()}


ENGLISH: dict[str, str] = {
    "page_title": "Your audience measurement data",
    "switch_language": "Lire en français",
    "intro": "This page shows what this site's audience measurement holds about this browser.",
    "intro_actions": "You can export it, erase it, or opt out.",
    "done_erased": (
        "Your data has been erased, and this browser no longer holds a measurement cookie."
    ),
    "done_optout": (
        "You have opted out: the measurement cookie of this browser has been deleted. If "
        "consent is still given in the site's consent banner, your next visit starts a new, "
        "unrelated identifier; withdraw consent there to stop the measurement."
    ),
    "h_contact": "Contact",
    "contact_is": (
        "To exercise your rights by letter or e-mail, write to the data-protection contact:"
    ),
    "h_identifier": "Your identifier",
    "identifier_is": "The identifier of this browser is",
    "identifier_help": (
        "Quote it when you write to the site's data-protection contact: it is how they find "
        "your data, which is not linked to your name."
    ),
    "cookie_dates": (
        "The measurement cookie of this browser was created on {created} and expires on "
        "{expires}, {months} after its creation. Visits never extend it."
    ),
    "h_events": "Your events",
    "events_one": "1 event is linked to this browser.",
    "events_other": "{count} events are linked to this browser.",
    "events_none": "No event is stored for this identifier.",
    "events_limited": (
        "Only the newest {shown} are shown here; the export below holds all {total}."
    ),
    "caption": "Events of this browser, newest first",
    "col_time": "Date and time (UTC)",
    "col_site": "Site",
    "col_page": "Page",
    "col_type": "Type",
    "col_city": "City",
    "col_operator": "Network operator",
    "col_browser": "Browser",
    "col_device": "Device",
    "col_engaged": "Engaged time",
    "type_pageview": "page view",
    "type_engagement": "time on page",
    "device_desktop": "computer",
    "device_mobile": "phone",
    "device_tablet": "tablet",
    "device_other": "other",
    "h_actions": "Export, erase or opt out",
    "h_export": "Export my data",
    "export_help": "Download every event linked to this browser.",
    "export_json": "Export (JSON)",
    "export_csv": "Export (CSV)",
    "h_erase": "Erase my data",
    "erase_help": (
        "Erasure deletes every event linked to this browser, at once and for good, and "
        "deletes the measurement cookie. It cannot be undone."
    ),
    "erase_confirm": "I understand that my data will be erased for good",
    "erase_button": "Erase my data",
    "h_optout": "Opt out",
    "optout_help": (
        "Consent itself is managed in the site's consent banner. Opting out here deletes the "
        "measurement cookie of this browser; the events already measured are kept unless you "
        "also erase them."
    ),
    "optout_erase": "Also erase my data",
    "optout_button": "Opt out",
    "h_no_data": "No measurement data is linked to this browser",
    "no_data_why": "This browser holds no valid measurement cookie. This happens when:",
    "why_no_consent": "you have not consented to audience measurement on the site;",
    "why_expired": "the cookie has expired, or was erased or deleted;",
    "why_other_site": (
        "the site measures its audience through a service at another address: then use the "
        "privacy controls on the site itself (see its privacy policy)."
    ),
    "h_purposes": "What is measured and why",
    "purposes": _sentence(PURPOSES),
    "no_identity": (
        "No name, e-mail address, IP address or full User-Agent is stored: the IP address "
        "gives the city and the network operator, then is forgotten."
    ),
    "h_retention": "How long it is kept",
    "retention_events": "Events are kept {months}, then deleted.",
    "retention_cookie": (
        "The measurement cookie lasts {months} from its creation and is never extended."
    ),
    "months_one": "{count} month",
    "months_other": "{count} months",
    "h_recipients": "Who receives it",
    "recipients": _sentence(RECIPIENTS),
    "h_error": "This page cannot be shown right now",
    "error_busy": "Too many requests came from this browser. Try again in a minute.",
    "error_store": "Your data cannot be read right now. Try again in a few minutes.",
    "error_other": "Something went wrong. Try again later.",
    "retry": "Try again",
}
FRENCH: dict[str, str] = _french(
    {
        "page_title": "Vos données de mesure d'audience",
        "switch_language": "Read in English",
        "intro": (
            "Cette page montre ce que la mesure d'audience de ce site détient sur ce navigateur."
        ),
        "intro_actions": "Vous pouvez l'exporter, l'effacer ou vous opposer à la mesure.",
        "done_erased": (
            "Vos données ont été effacées, et ce navigateur n'a plus de cookie de mesure."
        ),
        "done_optout": (
            "Votre opposition est enregistrée : le cookie de mesure de ce navigateur a "
            "été supprimé. Si votre consentement est toujours donné dans le bandeau de "
            "consentement du site, votre prochaine visite créera un nouvel identifiant, sans lien "
            "avec l'ancien ; retirez-y votre consentement pour arrêter la mesure."
        ),
        "h_contact": "Contact",
        "contact_is": (
            "Pour exercer vos droits par courrier ou par e-mail, écrivez au contact protection "
            "des données :"
        ),
        "h_identifier": "Votre identifiant",
        "identifier_is": "L'identifiant de ce navigateur est",
        "identifier_help": (
            "Indiquez-le si vous écrivez au contact protection des données du site : c'est "
            "ainsi qu'il retrouve vos données, qui ne sont pas liées à votre nom."
        ),
        "cookie_dates": (
            "Le cookie de mesure de ce navigateur a été créé le {created} et expire le "
            "{expires}, {months} après sa création. Vos visites ne le prolongent jamais."
        ),
        "h_events": "Vos événements",
        "events_one": "1 événement est lié à ce navigateur.",
        "events_other": "{count} événements sont liés à ce navigateur.",
        "events_none": "Aucun événement n'est enregistré pour cet identifiant.",
        "events_limited": (
            "Seuls les {shown} plus récents sont affichés ici ; l'export ci-dessous les "
            "contient tous les {total}."
        ),
        "caption": "Événements de ce navigateur, du plus récent au plus ancien",
        "col_time": "Date et heure (UTC)",
        "col_site": "Site",
        "col_page": "Page",
        "col_type": "Type",
        "col_city": "Ville",
        "col_operator": "Opérateur réseau",
        "col_browser": "Navigateur",
        "col_device": "Appareil",
        "col_engaged": "Temps actif",
        "type_pageview": "page vue",
        "type_engagement": "temps sur la page",
        "device_desktop": "ordinateur",
        "device_mobile": "téléphone",
        "device_tablet": "tablette",
        "device_other": "autre",
        "h_actions": "Exporter, effacer ou vous opposer",
        "h_export": "Exporter mes données",
        "export_help": "Téléchargez tous les événements liés à ce navigateur.",
        "export_json": "Exporter (JSON)",
        "export_csv": "Exporter (CSV)",
        "h_erase": "Effacer mes données",
        "erase_help": (
            "L'effacement supprime tous les événements liés à ce navigateur, immédiatement et "
            "définitivement, ainsi que le cookie de mesure. Il est irréversible."
        ),
        "erase_confirm": "Je comprends que mes données seront définitivement effacées",
        "erase_button": "Effacer mes données",
        "h_optout": "M'opposer à la mesure",
        "optout_help": (
            "Le consentement lui-même se gère dans le bandeau de consentement du site. Vous "
            "opposer ici supprime le cookie de mesure de ce navigateur ; les événements déjà "
            "mesurés sont conservés, sauf si vous demandez aussi leur effacement."
        ),
        "optout_erase": "Effacer aussi mes données",
        "optout_button": "M'opposer à la mesure",
        "h_no_data": "Aucune donnée de mesure n'est liée à ce navigateur",
        "no_data_why": "Ce navigateur n'a pas de cookie de mesure valide. C'est le cas si :",
        "why_no_consent": "vous n'avez pas consenti à la mesure d'audience sur le site ;",
        "why_expired": "le cookie a expiré, ou a été effacé ou supprimé ;",
        "why_other_site": (
            "le site mesure son audience par un service situé à une autre adresse : "
            "utilisez alors les réglages de confidentialité du site lui-même (voir sa politique "
            "de confidentialité)."
        ),
        "h_purposes": "Ce qui est mesuré, et pourquoi",
        "purposes": (
            "Mesure d'audience : pages visitées, ville de l'adresse IP, fréquence et "
            "récurrence des visites, durée des visites, navigateur, opérateur et type d'appareil, "
            "comptés pour les statistiques du site."
        ),
        "no_identity": (
            "Aucun nom, adresse e-mail, adresse IP ni User-Agent complet n'est enregistré : "
            "l'adresse IP donne la ville et l'opérateur réseau, puis elle est oubliée."
        ),
        "h_retention": "Combien de temps",
        "retention_events": "Les événements sont conservés {months}, puis supprimés.",
        "retention_cookie": (
            "Le cookie de mesure dure {months} à partir de sa création et n'est jamais prolongé."
        ),
        "months_one": "{count} mois",
        "months_other": "{count} mois",
        "h_recipients": "Qui y a accès",
        "recipients": (
            "L'équipe marketing du site, au travers de statistiques dont aucune ligne ne décrit "
            "moins de quelques visiteurs ; aucun tiers."
        ),
        "h_error": "Cette page ne peut pas être affichée pour le moment",
        "error_busy": "Trop de demandes venant de ce navigateur. Réessayez dans une minute.",
        "error_store": (
            "Vos données ne peuvent pas être lues pour le moment. Réessayez dans quelques minutes."
        ),
        "error_other": "Une erreur s'est produite. Réessayez plus tard.",
        "retry": "Réessayer",
    }
)
TEXTS: dict[str, dict[str, str]] = {"en": ENGLISH, "fr": FRENCH}
SAME_IN_BOTH = frozenset({"col_site", "col_page", "col_type", "h_contact"})
LANGUAGES = tuple(TEXTS)


def choose_language(asked: str | None, accept_language: str) -> str:
    """``?lang=`` when it is one of ours, else the best of ``Accept-Language``, else English."""
    if asked in TEXTS:
        return asked
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for item in accept_language.split(",")[:MAX_LANGUAGE_RANGES]:
        tag, _, parameters = item.partition(";")
        language = tag.strip().lower().split("-", 1)[0]
        quality = _quality(parameters)
        if language in TEXTS and quality > best_quality:
            best, best_quality = language, quality
    return best


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0

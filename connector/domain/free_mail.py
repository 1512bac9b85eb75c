"""Free e-mail providers: their domains say nothing about which company a customer is.

Matching a billing customer to a CRM company by e-mail domain (PRODUCT.md §3) must skip these,
or every gmail.com customer would "match" whichever company happens to carry gmail.com. Small
practices (the seed customers are dental practices) often bill to free mailboxes.
"""

from __future__ import annotations

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # global
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "icloud.com", "me.com",
        "mac.com", "proton.me", "protonmail.com", "pm.me", "zoho.com", "zohomail.com", "mail.com",
        "gmx.com", "gmx.net", "yandex.com", "fastmail.com", "fastmail.fm", "hey.com", "tutanota.com",
        "tuta.io", "hushmail.com", "inbox.com", "email.com", "usa.com",
        # North America ISPs
        "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net",
        "charter.net", "earthlink.net", "optonline.net", "frontier.com", "shaw.ca", "rogers.com",
        "sympatico.ca", "videotron.ca", "telus.net",
        # Europe
        "gmx.de", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de", "posteo.de",
        "mailbox.org", "arcor.de", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
        "libero.it", "virgilio.it", "tiscali.it", "alice.it", "btinternet.com", "sky.com",
        "virginmedia.com", "talktalk.net", "ntlworld.com", "blueyonder.co.uk", "seznam.cz",
        "wp.pl", "o2.pl", "interia.pl", "onet.pl", "telenet.be", "skynet.be", "ziggo.nl",
        "kpnmail.nl", "planet.nl", "bluewin.ch", "mail.ru", "bk.ru", "inbox.ru", "list.ru",
        "yandex.ru", "ukr.net", "abv.bg",
        # Asia-Pacific, Latin America
        "qq.com", "163.com", "126.com", "sina.com", "sohu.com", "yeah.net", "naver.com",
        "daum.net", "hanmail.net", "rediffmail.com", "bigpond.com", "bigpond.net.au",
        "optusnet.com.au", "xtra.co.nz", "uol.com.br", "bol.com.br", "terra.com.br",
    }
)

# Providers that run the same free service under many country domains (yahoo.co.uk, hotmail.fr,
# gmx.es, …): matched on the first label when the rest looks like a (country) suffix.
_FREE_MAIL_FAMILIES: frozenset[str] = frozenset(
    {"yahoo", "hotmail", "outlook", "live", "windowslive", "gmx", "aol", "yandex", "libero"}
)


def normalize_domain(value: str | None) -> str | None:
    """A bare, lower-case domain from a domain, e-mail address or URL; None when there is none."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    if "." not in text or " " in text:
        return None
    return text


def is_free_mail(domain: str | None) -> bool:
    """True for a free mail provider's domain (or an unusable one: nothing to match on)."""
    normalized = normalize_domain(domain)
    if normalized is None:
        return True
    if normalized in FREE_MAIL_DOMAINS:
        return True
    first, _, rest = normalized.partition(".")
    return first in _FREE_MAIL_FAMILIES and all(len(label) <= 3 for label in rest.split("."))

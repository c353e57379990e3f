"""Storefront aliases: the name in /s/<alias>. Lowercase letters, digits and hyphens, 3 to 30 characters, not
starting or ending with a hyphen, not a reserved word, and unique across every storefront that exists (a closed
storefront keeps its alias until the purge job deletes it). The database's unique constraint decides between two
checkouts racing for the same alias; `check_alias` is what a buyer is told first."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from portal.errors import RuleError
from portal.extensions import db
from portal.storefronts.models import ALIAS_LENGTH, Storefront

MIN_LENGTH = 3
FIELD = "storefront_alias"
PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# Words a storefront may not be named: paths of the portal, and names a customer could mistake for the vendor's.
RESERVED = frozenset({
    "about", "account", "accounts", "admin", "administrator", "api", "app", "assets", "auth", "billing", "blog",
    "cart", "checkout", "contact", "dashboard", "devices", "docs", "download", "downloads", "email", "ftp", "help",
    "home", "images", "invoice", "invoices", "legal", "licenses", "login", "logout", "mail", "new", "news",
    "null", "orders", "partner", "partners", "password", "payments", "portal", "pricing", "privacy", "register",
    "reset", "root", "s", "security", "settings", "shop", "signin", "signout", "signup", "static", "status",
    "store", "storefront", "storefronts", "subscriptions", "support", "system", "terms", "test", "transfers",
    "undefined", "vendor", "www",
})
SUGGESTIONS = 3


@dataclass(frozen=True)
class AliasVerdict:
    """What the alias field says about a typed alias: `ok`, or the problem and some free variants."""

    alias: str
    problem: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


def normalized(text: str | None) -> str:
    """The alias as it is checked: trimmed, lowercase (the buyer may type capitals)."""
    return (text or "").strip().lower()


def shape_problem(alias: str) -> str | None:
    """Why `alias` cannot be an alias whoever holds it, or None."""
    if not alias:
        return "Choose a storefront alias: your storefront's address is /s/<alias>."
    if len(alias) < MIN_LENGTH or len(alias) > ALIAS_LENGTH:
        return f"An alias has {MIN_LENGTH} to {ALIAS_LENGTH} characters; this one has {len(alias)}."
    if not PATTERN.fullmatch(alias):
        return ("Use lowercase letters, digits and hyphens only, starting and ending with a letter or a digit.")
    if alias in RESERVED:
        return f"“{alias}” is reserved: choose another alias."
    return None


def taken(aliases: list[str]) -> set[str]:
    """Which of these aliases a storefront holds (open, or closed and not yet purged); one statement."""
    if not aliases:
        return set()
    return set(db.session.scalars(select(Storefront.alias).where(Storefront.alias.in_(aliases))))


def suggestions(alias: str, count: int = SUGGESTIONS) -> tuple[str, ...]:
    """Free variants of an alias that is taken or reserved: `<alias>-2`, `<alias>-store`… (the base cut to fit)."""
    base = re.sub(r"[^a-z0-9-]+", "-", alias).strip("-")[:ALIAS_LENGTH - 6].strip("-") or "store"
    if len(base) < MIN_LENGTH:
        base = f"{base}-shop"
    candidates = [f"{base}-{suffix}" for suffix in ("store", "shop", "online", *map(str, range(2, 10)))]
    candidates = [c for c in candidates if shape_problem(c) is None]
    used = taken(candidates)
    return tuple(c for c in candidates if c not in used)[:count]


def verdict(text: str | None, own_storefront_id: int | None = None) -> AliasVerdict:
    """The verdict on a typed alias (the htmx check and the checkout): well formed, not reserved, free (an
    alias the chain's own kept storefront holds counts as free for it)."""
    alias = normalized(text)
    problem = shape_problem(alias)
    if problem is not None:
        return AliasVerdict(alias, problem, suggestions(alias) if alias and PATTERN.fullmatch(alias) else ())
    holder = db.session.scalar(select(Storefront.id).where(Storefront.alias == alias))
    if holder is not None and holder != own_storefront_id:
        return AliasVerdict(alias, f"The alias “{alias}” is taken.", suggestions(alias))
    return AliasVerdict(alias)


def taken_error(alias: str) -> RuleError:
    """The message a checkout that lost the race for an alias shows beside the field."""
    variants = ", ".join(suggestions(alias))
    more = f" Free alternatives: {variants}." if variants else ""
    return RuleError(f"The alias “{alias}” was just taken by another reseller; nothing was charged.{more}",
                     field=FIELD)


def check_alias(text: str | None, own_storefront_id: int | None = None) -> str:
    """The alias, normalized, if a storefront may take it; RuleError beside the alias field otherwise."""
    found = verdict(text, own_storefront_id)
    if not found.ok:
        more = f" Free alternatives: {', '.join(found.suggestions)}." if found.suggestions else ""
        raise RuleError(found.problem + more, field=FIELD)
    return found.alias

#!/usr/bin/env python3
"""A partner's shop, in miniature: list the portal's catalog at your prices, buy a license for a customer and
assign it to them at once, then print the license key(s) and the invoice number.

Standard library only: copy it and start from here. Create an API key at Account → API keys (/account/api-keys)
with the scopes catalog:read, orders:write and licenses:write, then:

    PORTAL_API_KEY=ppk_… python3 examples/partner_shop.py --base-url https://portal.example.com \\
        --customer-email it@customer.example --product mailsuite --edition Professional --quantity 10

Every error of the API is an RFC 9457 problem (application/problem+json); this script prints its `detail` and
exits with status 1. The order is sent with an Idempotency-Key: if the connection drops, sending the same request
with the same key again returns the same order instead of buying twice (--idempotency-key reuses one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

TIMEOUT = 30  # seconds; placing an order issues its invoice, which takes a moment


class ApiError(Exception):
    """The API answered an error (a problem), or could not be reached."""


def call(base_url: str, api_key: str, method: str, path: str, body: dict | None = None,
         headers: dict | None = None) -> dict:
    """One API call; the JSON answer, or ApiError with the problem's detail."""
    request = urllib.request.Request(  # noqa: S310 - main() accepts only http(s) base URLs
        base_url.rstrip("/") + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                 **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - see above
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise ApiError(describe_problem(error.code, error.read())) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ApiError(f"cannot reach {base_url}: {getattr(error, 'reason', error)}") from None


def describe_problem(status: int, raw: bytes) -> str:
    """A problem as one line: its detail, and the field at fault when the API names one."""
    try:
        problem = json.loads(raw)
    except ValueError:
        return f"HTTP {status}"
    if not isinstance(problem, dict):
        return f"HTTP {status}"
    detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
    field = problem.get("field")
    return f"{detail} (field: {field})" if field else str(detail)


def price(money: dict | None) -> str:
    if not money:
        return "-"
    return f"{money['amount_minor'] / 100:,.2f} {money['currency']}"  # display only; keep minor units in code


def print_catalog(products: list[dict]) -> None:
    print("Catalog (your prices):")
    for product in products:
        if product["kind"] == "license":
            for edition in product["editions"]:
                cheapest = edition["prices"][0] if edition["prices"] else None
                offer = (f"from {price(cheapest['your_price'])} for {cheapest['quantity']} {product['unit']}"
                         if cheapest else "")
                print(f"  {product['slug']:<20} {edition['name']:<16} {offer}")
        else:
            print(f"  {product['slug']:<20} {product['kind']:<16} {price(product.get('your_unit_price'))} "
                  f"per {product.get('basis') or 'unit'}")


def choose_item(products: list[dict], slug: str | None, edition: str | None, quantity: int | None) -> dict:
    """The license to buy: the product, edition and quantity asked for, or the catalog's first license."""
    licenses = [p for p in products if p["kind"] == "license" and p["editions"]]
    product = next((p for p in licenses if p["slug"] == slug), None) if slug else (licenses or [None])[0]
    if product is None:
        raise ApiError(f"no license product {slug!r} in the catalog" if slug else "the catalog has no license")
    chosen = edition or product["editions"][0]["name"]
    amount = quantity or (product["quantities"] or [1])[0]
    return {"product": product["slug"], "edition": chosen, "quantity": amount}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=os.environ.get("PORTAL_URL", "http://127.0.0.1:5000"),
                        help="the portal's address (env PORTAL_URL; default %(default)s)")
    parser.add_argument("--api-key", default=os.environ.get("PORTAL_API_KEY"),
                        help="an API key from /account/api-keys (env PORTAL_API_KEY)")
    parser.add_argument("--customer-email", required=True, help="assign the new license(s) to this customer")
    parser.add_argument("--product", help="the product's slug (default: the catalog's first license)")
    parser.add_argument("--edition", help="the edition's name (default: the product's first)")
    parser.add_argument("--quantity", type=int, help="units of the product (default: the smallest offered)")
    parser.add_argument("--copies", type=int, default=1, help="how many licenses (default 1)")
    parser.add_argument("--payment", default="invoice", choices=["invoice", "saved_card", "wire", "ach", "check"],
                        help="how your account pays (default: invoice)")
    parser.add_argument("--idempotency-key", default=None,
                        help="resend a previous order's key to get that order back (default: a new uuid4)")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is needed: --api-key or PORTAL_API_KEY")
    if not args.base_url.startswith(("https://", "http://")):
        parser.error("--base-url must start with https:// (or http:// for a portal on your own machine)")

    try:
        products = call(args.base_url, args.api_key, "GET", "/api/v1/catalog/products")["data"]
        print_catalog(products)
        item = {**choose_item(products, args.product, args.edition, args.quantity), "copies": args.copies}
        key = args.idempotency_key or str(uuid.uuid4())
        print(f"\nBuying {item['copies']} × {item['product']} {item['edition']} ({item['quantity']}) for "
              f"{args.customer_email} (Idempotency-Key: {key})")
        order = call(args.base_url, args.api_key, "POST", "/api/v1/orders",
                     {"items": [item], "payment": {"method": args.payment}, "assign_to": args.customer_email},
                     headers={"Idempotency-Key": key})
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    print(f"Order {order['number']}: {price(order['total'])}")
    for line in order["lines"]:
        for found in line["licenses"]:
            print(f"License {found['key']} assigned to {found['assigned_to'] or '(nobody yet)'}")
    print(f"Invoice {order['invoice_number'] or '(on your next monthly summary)'}")
    if order.get("assignment_problem"):  # the order stands; the licenses wait to be assigned
        print(f"error: the order was placed but not assigned: {order['assignment_problem']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

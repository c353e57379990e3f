"""Security headers on every response, and the error pages."""

from __future__ import annotations

from flask import Flask, current_app, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.extensions import db
from portal.payments.processor import BrowserSide
from portal.text_guard import NUL_MESSAGE, holds_nul_characters


def content_security_policy(side: BrowserSide | None = None) -> str:
    """The portal's policy: its own origin only, plus what the card processor's side needs in the buyer's
    browser (its script, frames, API and the pages a payment form's answer redirects to), and nothing else."""
    side = side or BrowserSide("", "", (), ())

    def sources(*extra: str) -> str:
        return " ".join(("'self'", *extra))

    return "; ".join([
        "default-src 'self'",
        f"script-src {sources(*side.script_origins)}",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src {sources(*side.connect_origins)}",
        f"frame-src {sources(*side.frame_origins)}",
        f"form-action {sources(*side.form_origins)}",
        "base-uri 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ])


CSP = content_security_policy()  # the policy without a processor's extras (its own pages, error pages)


def _policy() -> str:
    """The app's policy, with its processor's needs (computed once per app)."""
    policy = current_app.extensions.get("content_security_policy")
    if policy is None:
        from portal.payments.gateway import processor

        side = processor().browser_side()
        policy = current_app.extensions["content_security_policy"] = content_security_policy(side)
    return policy


def _set_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if current_app.config["HSTS_MAX_AGE"]:
        headers.setdefault("Strict-Transport-Security", f"max-age={current_app.config['HSTS_MAX_AGE']}; "
                                                        "includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    # What a signed-in user downloads (invoice and receipt PDFs, CSV exports) and every API answer is theirs
    # alone: no browser or proxy cache keeps it. Static files stay cacheable (they are the same for everyone).
    if request.endpoint != "static" and (request.path.startswith("/api/") or current_user.is_authenticated):
        headers["Cache-Control"] = "no-store"
    return response




def per_worker_limits_warning(workers: int, storage_uri: str) -> str | None:
    """What to tell an operator whose workers each keep their own rate limits (memory storage), if they do."""
    if workers > 1 and storage_uri.startswith("memory://"):
        return (f"Rate limits are per worker: {workers} workers each count sign-in and API attempts in their own "
                f"memory (RATELIMIT_STORAGE_URI={storage_uri}), so a client gets up to {workers} times each limit. "
                "Set RATELIMIT_STORAGE_URI=redis://… to share them.")
    return None


def _refuse_nul_characters():
    """No text the portal stores may hold a NUL character (PostgreSQL refuses it): a request with one in a query
    parameter, a form field or an uploaded file's name is refused here (400), once for every form, before any view
    reads it. The API's JSON fields are checked by its own validators (printable text, license key syntax); the
    automation API checks its key first (portal/api/blueprints.py), so that a request without one is a 401."""
    if getattr(current_app.blueprints.get(request.blueprint or ""), "key_authenticated", False):
        return None
    if holds_nul_characters():
        from portal.api import is_api_request
        from portal.api.problems import problem_response

        if is_api_request():
            return problem_response(400, NUL_MESSAGE, error=NUL_MESSAGE)
        return render_template("errors/error.html", status=400, title="Invalid character",
                               message=NUL_MESSAGE), 400
    return None


def _error_page(status: int, title: str, message: str):
    from portal.api import is_api_request
    from portal.api.problems import problem_response

    if is_api_request():  # the API answers every error as a problem, routing errors (404, 405) and 429 included
        return problem_response(status, None, error=message)
    return render_template("errors/error.html", status=status, title=title, message=message), status


def _unknown_for_every_method(error) -> bool:
    """Werkzeug checks an id's bounds (portal/routing.py) only for rules of the request's method, so a number too
    large for an id is a 405 where another method's rule has the same shape: it is an unknown address (404)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in getattr(error, "valid_methods", None) or []:
        try:
            adapter.match(request.path, method=method)
            return False
        except HTTPException as other:
            if other.code not in (404, 405):  # a redirect: the address exists
                return False
    return bool(getattr(error, "valid_methods", None))


def init_security(app: Flask) -> None:
    if app.config["PROXY_COUNT"]:  # the client's address, as the configured number of proxies saw it
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)
    app.before_request(_refuse_nul_characters)
    app.after_request(_set_headers)

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return _error_page(400, "Your form expired",
                           "The page was open too long or was sent from elsewhere. Go back, reload it and try again.")

    @app.errorhandler(400)
    def bad_request(error):
        return _error_page(400, "Bad request", "The request could not be understood.")

    @app.errorhandler(403)
    def forbidden(error):
        return _error_page(403, "Not allowed",
                           "Your role in this organization does not include this page. "
                           "A Chain & User Manager of your organization can change your role.")

    @app.errorhandler(404)
    def not_found(error):
        return _error_page(404, "Page not found", "There is nothing here, or you do not have access to it.")

    @app.errorhandler(405)
    def method_not_allowed(error):
        if _unknown_for_every_method(error):
            return not_found(error)
        return _error_page(405, "Not allowed", "This address does not accept that kind of request.")

    @app.errorhandler(413)
    def too_large(error):
        return _error_page(413, "File too large", "The upload is larger than the portal accepts.")

    @app.errorhandler(429)
    def too_many(error):
        # Each limit says what it limits (its error_message, Flask-Limiter's description); a limit without one
        # gets a sentence that names nothing in particular rather than the wrong thing.
        limit = getattr(error, "limit", None)
        message = error.description if getattr(limit, "error_message", None) else (
            "Too many requests were made in a short time. Wait a minute before trying again.")
        return _error_page(429, "Too many attempts", message)

    @app.errorhandler(500)
    def server_error(error):
        # A failed statement leaves PostgreSQL's transaction aborted; the page (its navigation reads the signed-in
        # user's organizations and cart) needs a usable one, and what the request wrote is abandoned anyway.
        db.session.rollback()
        return _error_page(500, "Something went wrong",
                           "Nothing was changed. Try again in a moment; if it keeps happening, contact support.")

"""Security headers on every response, and the error pages."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
])


def _set_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response


def _error_page(status: int, title: str, message: str):
    from portal.api.views import error, is_api_request

    if is_api_request():  # the API answers every error in JSON, routing errors (404, 405) and 429 included
        return error(status)
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_security(app: Flask) -> None:
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
        return _error_page(500, "Something went wrong",
                           "Nothing was changed. Try again in a moment; if it keeps happening, contact support.")

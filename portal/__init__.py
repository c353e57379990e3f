"""The partner portal: create_app builds the Flask application."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from portal import config as config_module
from portal import observability, routing
from portal.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
from portal.json_output import OrjsonProvider

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, security headers, error pages, CLI."""
    # Tests give each run its own instance folder (stored invoice PDFs live there).
    instance = (config or {}).get("INSTANCE_PATH") or config_module.INSTANCE
    app = Flask(__name__, instance_path=str(instance))
    app.json = OrjsonProvider(app)
    app.config.update(config_module.DEFAULTS)
    if config is None:
        app.config.update(config_module.Settings.from_environ().as_flask_config())
    else:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    routing.init_app(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app)  # English only until issue 19 adds the French catalog
    limiter.init_app(app)
    login_manager.init_app(app)

    from portal import models  # noqa: F401 - registers every model on the metadata
    from portal.accounts import context
    from portal.accounts.views import bp as accounts_bp
    from portal.admin.views import bp as admin_bp
    from portal.api_keys.views import bp as api_keys_bp
    from portal.billing.views import bp as invoices_bp
    from portal.branding import bp as branding_bp
    from portal.cart.views import bp as cart_bp
    from portal.catalog.models import singular_unit
    from portal.catalog.views import bp as shop_bp
    from portal.cli import register_cli
    from portal.core.views import bp as core_bp
    from portal.customers.views import bp as customers_bp
    from portal.devices.views import bp as devices_bp
    from portal.diagnostics import forbid_lazy_loads
    from portal.hardware.install_views import bp as hardware_install_bp
    from portal.hardware.views import bp as hardware_bp
    from portal.licenses import activation_views, modify_views  # noqa: F401 - their routes register on licenses.bp
    from portal.licenses.views import bp as licenses_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.orders.views import bp as orders_bp
    from portal.outbox import worker
    from portal.partners.views import bp as partners_bp
    from portal.payments.views import bp as payments_bp
    from portal.payments.webhook import bp as payment_webhooks_bp
    from portal.receipts.views import bp as receipts_bp
    from portal.renewals.views import bp as renewals_bp
    from portal.reseller_plans.plan_views import bp as reseller_plans_bp
    from portal.sandbox_processor.views import bp as sandbox_processor_bp
    from portal.security import init_security
    from portal.signin import views as signin
    from portal.storefront_sales import sales_views  # noqa: F401 - its routes register on both storefront blueprints
    from portal.storefront_sales.views import bp as storefront_sales_bp
    from portal.storefronts.views import bp as storefronts_bp
    from portal.subscriptions.views import bp as subscriptions_bp
    from portal.transfers.views import bp as transfers_bp

    context.init_app(app)
    init_security(app)
    signin.init_app(app)  # the second step of signing in, /account/security, and the two-step setup guard
    worker.init_app(app)
    from portal.sqlite import configure_sqlite

    with app.app_context():
        configure_sqlite(db.engine)
    if app.config["FORBID_LAZY_LOADS"]:
        from flask_sqlalchemy.session import Session

        forbid_lazy_loads(Session)

    for bp in (core_bp, accounts_bp, shop_bp, cart_bp, orders_bp, payments_bp, receipts_bp, licenses_bp, invoices_bp,
               subscriptions_bp, devices_bp, transfers_bp, partners_bp, admin_bp, reseller_plans_bp, storefronts_bp,
               storefront_sales_bp):
        app.register_blueprint(bp)
    app.register_blueprint(customers_bp)  # /customers/<id>; the list at /customers is licenses.customers
    app.register_blueprint(notifications_bp)
    app.register_blueprint(renewals_bp)
    app.register_blueprint(hardware_bp)  # shipments, staff's /admin/shipments, return requests (issue 20)
    app.register_blueprint(hardware_install_bp)  # installing delivered hardware (issue 20)
    app.register_blueprint(branding_bp)  # the favicon and logo (/branding/…) and staff's /admin/branding
    app.register_blueprint(sandbox_processor_bp)  # the embedded card processor's side (/sandbox-processor, issue 21)
    app.register_blueprint(payment_webhooks_bp)  # the card processor's signed events (/payments/webhook, issue 21)
    from portal.webhooks import delivery as webhook_delivery
    from portal.webhooks.views import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)  # a main chain's webhook endpoints (/account/webhooks, issue 16)
    webhook_delivery.register_cli(app)  # `flask webhooks deliver`
    app.register_blueprint(api_keys_bp)  # a main chain's API keys (/account/api-keys, issue 16)
    from portal import api

    api.init_app(app)  # /api/v1: the activation API and the automation API, one OpenAPI document (issue 16)
    from portal.api_docs.views import bp as api_docs_bp

    app.register_blueprint(api_docs_bp)  # /api/docs: the OpenAPI document for humans, the problem types (issue 16)

    from portal import money

    money.init_app(app)
    app.jinja_env.filters["singular"] = singular_unit  # "per mailbox", not "per mailboxe"
    from portal import words

    words.init_app(app)  # plural() and units(): "1 site", "2 sites", "1 mailbox"
    from portal import templating

    templating.init_app(app)  # column_labels: tables whose cells name their column on phones
    register_cli(app)
    observability.init_app(app)  # last: /readyz, /metrics, ids, every command
    return app

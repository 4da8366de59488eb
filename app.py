"""wxmember: every entry point of the system on one screen."""

from chalice import Chalice

from chalicelib.api import admin, docs, member, pos
from chalicelib.observability import http_middleware

# Powertools' Logger owns logging; Chalice's own handler would print every line twice.
app = Chalice(app_name="wxmember", configure_logs=False)
app.api.binary_types = []

app.register_middleware(http_middleware, "http")
app.register_blueprint(member.bp)
app.register_blueprint(pos.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(docs.bp)

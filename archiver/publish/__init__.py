"""The published face: the Datasette plugin (registered as this package, so that Datasette serves the
templates/ and static/ folders beside it however it is started) and how `archiver serve` starts it."""

from archiver.publish.facets import register_facet_classes
from archiver.publish.plugin import (
    asgi_wrapper,
    extra_css_urls,
    extra_template_vars,
    get_metadata,
    menu_links,
    permission_allowed,
    prepare_connection,
    prepare_jinja2_environment,
    register_routes,
    render_cell,
    startup,
)

__all__ = ["asgi_wrapper", "extra_css_urls", "extra_template_vars", "get_metadata", "menu_links", "permission_allowed",
           "prepare_connection", "prepare_jinja2_environment", "register_facet_classes", "register_routes",
           "render_cell", "startup"]

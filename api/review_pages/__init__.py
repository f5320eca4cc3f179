"""Review pages for people: a personal link from the review mail shows the case on one page and
takes the decision with one click; `/inbox` lists what waits, for holders of a reviewer's key.

Server-rendered (Jinja2, no JavaScript), readable on a phone. `routes` holds the pages,
`session` all of their security (one module to audit), `forms` the parsing of what is posted,
`render` the HTML.
"""

from api.review_pages.routes import router

__all__ = ["router"]

"""The web UI's pages, one module per area; :func:`famsim.entrypoints.web.app.install`
adds their routers to the API's app."""

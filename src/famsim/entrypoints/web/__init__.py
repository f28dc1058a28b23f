"""The web UI: server-rendered pages for families and the operator, on the API's app."""

"""One router per resource of the spec's "API Endpoints"."""

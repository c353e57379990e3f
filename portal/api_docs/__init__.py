"""The API's documentation for humans: /api/docs renders the OpenAPI document (swagger-ui-dist from npm, under the
portal's CSP) and /api/docs/problems lists every problem type the API answers."""

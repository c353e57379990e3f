"""The error services raise when a rule refuses a change; views show it beside the named form field."""


class RuleError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
